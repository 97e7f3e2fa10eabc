// rpcnet/trace_context.h — W3C Trace Context: the `traceparent` entry of call metadata.
//
// Contract: a call carries its trace as one metadata entry keyed "traceparent" whose value is
// W3C's format (https://www.w3.org/TR/trace-context/#traceparent-header):
//   00-<trace-id: 32 lowercase hex>-<parent-id: 16 lowercase hex>-<flags: 2 lowercase hex>
// parse_traceparent() accepts exactly that for version 00, and for a later version (01..fe) the
// same first 55 characters followed by nothing or by '-' and more (W3C's forward compatibility).
// Everything else is rejected and yields nullopt, never an exception: version ff, upper-case or
// other non-hex digits, an all-zero trace id or parent id, wrong lengths or separators. The
// value comes from the peer, so it is untrusted input (fuzzed by fuzz/fuzz_traceparent.cc).
//
// Handlers read the caller's trace with CallContext::trace_context() (nullopt when the entry is
// missing, invalid, or present more than once). To continue the trace on an outgoing call, set
// CallOptions::trace_parent (or WorkerCallOptions::trace_parent on a ClusterClient) to it: the
// client then sends a traceparent with the same trace id and flags and a fresh parent id (the
// span of that outgoing call), replacing any traceparent entry already in the metadata.
//
// Example:
//   // The traceparent to send on a call made while serving a call that carried `incoming`.
//   std::string continue_trace(std::string_view incoming) {
//     auto trace = rpcnet::parse_traceparent(incoming);  // e.g. "00-4bf9...4736-00f0...02b7-01"
//     if (!trace) return {};                              // malformed: start no trace
//     rpcnet::TraceContext outgoing = rpcnet::child_span(*trace);  // same trace id, new span
//     return rpcnet::format_traceparent(outgoing);
//   }
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rpcnet {

// The metadata key that carries the trace.
inline constexpr std::string_view kTraceparentKey = "traceparent";

struct TraceContext {
  std::array<std::uint8_t, 16> trace_id{};   // never all zero once parsed
  std::array<std::uint8_t, 8> parent_id{};   // the span of the call that carried it; never all zero
  std::uint8_t flags = 0;                    // bit 0: sampled

  bool sampled() const noexcept { return (flags & 0x01) != 0; }
  std::string trace_id_hex() const;
  std::string parent_id_hex() const;
  friend bool operator==(const TraceContext&, const TraceContext&) = default;
};

// The trace in a traceparent value; nullopt when it is not a valid one (see the contract).
std::optional<TraceContext> parse_traceparent(std::string_view value) noexcept;

// The version-00 traceparent value of `trace` (55 characters).
std::string format_traceparent(const TraceContext& trace);

// `parent`'s trace id and flags with a fresh, random, non-zero parent id: the context to send on
// a call made while serving a call that carried `parent`. The ids are drawn from a per-thread
// generator seeded from std::random_device: unique in practice, not secret.
TraceContext child_span(const TraceContext& parent);

}  // namespace rpcnet
