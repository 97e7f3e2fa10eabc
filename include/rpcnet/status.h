// rpcnet/status.h — canonical status codes.
//
// One code set for the whole library and the wire: the numbering is gRPC's canonical one
// (google.rpc.Code), so the values below are also what travels in a status trailer.
// WIRE ENUM — APPEND ONLY: never renumber or reuse a value (pinned by status_test.cc).
//
// What a caller should do with each code:
//   kOk                  success.
//   kCancelled           the caller (or its peer) cancelled; do not retry unless you still want it.
//   kUnknown             an error with no better code; treat as not retryable.
//   kInvalidArgument     the request is bad; fix it, do not retry.
//   kDeadlineExceeded    the deadline passed; the operation may or may not have happened. Retry
//                        only idempotent calls, with a fresh deadline.
//   kNotFound            no such method or entity; do not retry.
//   kAlreadyExists       do not retry.
//   kPermissionDenied    do not retry with the same credentials.
//   kResourceExhausted   a limit was hit (message size, quota); retry later or send less.
//   kFailedPrecondition  the system is not in a state to do this; do not retry until it is.
//   kAborted             a concurrency conflict; retry the whole read-modify-write sequence.
//   kOutOfRange          do not retry.
//   kUnimplemented       the server does not implement this; do not retry.
//   kInternal            a bug or invariant failure on the peer (a handler threw); do not retry.
//   kUnavailable         transient: the call never ran or the connection broke; retry, with
//                        backoff.
//   kDataLoss            unrecoverable data loss; do not retry.
//   kUnauthenticated     credentials missing or invalid; fix them, then retry.
//
// Example:
//   bool safe_to_retry_elsewhere(const rpcnet::RpcError& err) {
//     return err.code() == rpcnet::StatusCode::kUnavailable;
//   }
#pragma once

#include <cstdint>
#include <string_view>

namespace rpcnet {

enum class StatusCode : std::uint32_t {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

// Largest value defined above; a received code above it decodes as kUnknown.
inline constexpr std::uint32_t kMaxStatusCode = 16;

// "OK", "CANCELLED", ... as in gRPC; "UNKNOWN" for values outside the enum.
std::string_view status_code_name(StatusCode code) noexcept;

// Maps a wire value to a code; unknown values become kUnknown (never undefined behaviour).
StatusCode status_code_from_wire(std::uint64_t value) noexcept;

}  // namespace rpcnet
