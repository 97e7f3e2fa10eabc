// What a server endpoint did, for ServerStats and the hostile-peer tests. Written by the
// endpoint's loop (and its connections), readable from any thread (relaxed atomics).
#pragma once

#include <atomic>
#include <cstdint>

namespace rpcnet::quic {

struct EndpointCounters {
  std::atomic<std::uint64_t> datagrams_received{0};
  std::atomic<std::uint64_t> datagrams_dropped{0};  // undecodable, unknown connection, refused
  std::atomic<std::uint64_t> datagrams_forwarded{0};
  std::atomic<std::uint64_t> forwards_dropped{0};    // the owning loop's forward queue was full
  std::atomic<std::uint64_t> connections_accepted{0};
  std::atomic<std::uint64_t> version_negotiations{0};
  // Admission (see admission.h): Initials answered with Retry, refused with CONNECTION_REFUSED
  // for each reason, and Initials whose token failed validation (dropped).
  std::atomic<std::uint64_t> retries_sent{0};
  std::atomic<std::uint64_t> refused_connection_limit{0};
  std::atomic<std::uint64_t> refused_handshake_limit{0};
  std::atomic<std::uint64_t> refused_source_rate{0};
  std::atomic<std::uint64_t> invalid_tokens{0};
  std::atomic<std::uint64_t> stateless_resets_sent{0};
  std::atomic<std::uint64_t> stateless_resets_suppressed{0};  // over the rate limit
  // CONNECTION_CLOSE re-sent to packets of closing connections, and answers withheld by the
  // decaying rate or the 3x amplification limit.
  std::atomic<std::uint64_t> close_packets_sent{0};
  std::atomic<std::uint64_t> close_packets_suppressed{0};
  // Streams reset because they needed more than their connection's memory budget.
  std::atomic<std::uint64_t> memory_budget_resets{0};
};

}  // namespace rpcnet::quic
