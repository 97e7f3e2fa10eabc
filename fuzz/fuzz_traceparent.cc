// libFuzzer target: rpcnet::parse_traceparent, the W3C traceparent metadata value a peer sends.
//
// Input: any bytes, as the value. Oracle: a value that parses has non-zero ids, formats to a
// 55-character version-00 value that parses to the same trace, and was 55 characters itself
// when its version was 00; child_span keeps the trace id and flags and never yields a zero id.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "rpcnet/trace_context.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view value(reinterpret_cast<const char*>(data), size);
  const auto parsed = rpcnet::parse_traceparent(value);
  if (!parsed) return 0;
  const auto zero = [](std::uint8_t b) { return b == 0; };
  if (std::all_of(parsed->trace_id.begin(), parsed->trace_id.end(), zero)) __builtin_trap();
  if (std::all_of(parsed->parent_id.begin(), parsed->parent_id.end(), zero)) __builtin_trap();
  if (value.substr(0, 2) == "00" && size != 55) __builtin_trap();
  const std::string formatted = rpcnet::format_traceparent(*parsed);
  if (formatted.size() != 55 || formatted.substr(3, 52) != value.substr(3, 52)) __builtin_trap();
  const auto again = rpcnet::parse_traceparent(formatted);
  if (!again || !(*again == *parsed)) __builtin_trap();
  const rpcnet::TraceContext child = rpcnet::child_span(*parsed);
  if (child.trace_id != parsed->trace_id || child.flags != parsed->flags) __builtin_trap();
  if (std::all_of(child.parent_id.begin(), child.parent_id.end(), zero)) __builtin_trap();
  return 0;
}
