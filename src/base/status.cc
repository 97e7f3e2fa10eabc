#include "rpcnet/status.h"

#include <array>

namespace rpcnet {

namespace {
constexpr std::array<std::string_view, kMaxStatusCode + 1> kNames = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};
}  // namespace

std::string_view status_code_name(StatusCode code) noexcept {
  const auto index = static_cast<std::uint32_t>(code);
  return index <= kMaxStatusCode ? kNames[index] : std::string_view("UNKNOWN");
}

StatusCode status_code_from_wire(std::uint64_t value) noexcept {
  return value <= kMaxStatusCode ? static_cast<StatusCode>(value) : StatusCode::kUnknown;
}

}  // namespace rpcnet
