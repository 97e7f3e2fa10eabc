#include "rpcnet/trace_context.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <span>
#include <thread>

#include "rpcnet/random.h"

namespace rpcnet {

namespace {

constexpr std::size_t kVersion00Size = 55;  // 2 + 1 + 32 + 1 + 16 + 1 + 2
constexpr char kHexDigits[] = "0123456789abcdef";

// W3C allows lower-case hex only.
int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Decodes 2 * out.size() hex digits; false on any non-hex digit.
bool decode_hex(std::string_view text, std::span<std::uint8_t> out) noexcept {
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int high = hex_value(text[2 * i]);
    const int low = hex_value(text[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    out[i] = static_cast<std::uint8_t>(high * 16 + low);
  }
  return true;
}

void append_hex(std::string& out, std::span<const std::uint8_t> bytes) {
  for (const std::uint8_t byte : bytes) {
    out.push_back(kHexDigits[byte >> 4]);
    out.push_back(kHexDigits[byte & 0x0f]);
  }
}

template <std::size_t N>
bool all_zero(const std::array<std::uint8_t, N>& bytes) noexcept {
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

Xoshiro256& span_id_engine() {
  thread_local Xoshiro256 engine([] {
    std::random_device device;
    const std::uint64_t entropy = (std::uint64_t{device()} << 32) ^ device();
    const auto now = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    return entropy ^ mix64(now) ^ mix64(std::hash<std::thread::id>{}(std::this_thread::get_id()));
  }());
  return engine;
}

}  // namespace

std::optional<TraceContext> parse_traceparent(std::string_view value) noexcept {
  if (value.size() < kVersion00Size) return std::nullopt;
  std::uint8_t version = 0;
  if (!decode_hex(value.substr(0, 2), std::span(&version, 1)) || version == 0xff) return std::nullopt;
  // Version 00 is exactly 55 characters; a later version may append fields after a '-'.
  if (version == 0 && value.size() != kVersion00Size) return std::nullopt;
  if (value.size() > kVersion00Size && value[kVersion00Size] != '-') return std::nullopt;
  if (value[2] != '-' || value[35] != '-' || value[52] != '-') return std::nullopt;
  TraceContext trace;
  if (!decode_hex(value.substr(3, 32), trace.trace_id) || !decode_hex(value.substr(36, 16), trace.parent_id) ||
      !decode_hex(value.substr(53, 2), std::span(&trace.flags, 1))) {
    return std::nullopt;
  }
  if (all_zero(trace.trace_id) || all_zero(trace.parent_id)) return std::nullopt;
  return trace;
}

std::string TraceContext::trace_id_hex() const {
  std::string out;
  append_hex(out, trace_id);
  return out;
}

std::string TraceContext::parent_id_hex() const {
  std::string out;
  append_hex(out, parent_id);
  return out;
}

std::string format_traceparent(const TraceContext& trace) {
  std::string out;
  out.reserve(kVersion00Size);
  out += "00-";
  append_hex(out, trace.trace_id);
  out += '-';
  append_hex(out, trace.parent_id);
  out += '-';
  append_hex(out, std::span(&trace.flags, 1));
  return out;
}

TraceContext child_span(const TraceContext& parent) {
  TraceContext child = parent;
  std::uint64_t id = 0;
  while (id == 0) id = span_id_engine().next();
  for (auto& byte : child.parent_id) {
    byte = static_cast<std::uint8_t>(id >> 56);
    id <<= 8;
  }
  return child;
}

}  // namespace rpcnet
