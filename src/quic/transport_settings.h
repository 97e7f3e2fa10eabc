// Transport knobs, derived from RpcConfig by the RPC layer. Defaults follow
// research/quic-ngtcp2.md §6 (measured on this machine kind) and doc/architecture.md ("Limits").
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>

#include <sys/socket.h>

#include "runtime/clock.h"

namespace rpcnet::quic {

struct TransportSettings {
  // Where connections and endpoints read the time and set their timers (real, or virtual).
  runtime::Clock clock;
  // Receive windows we grant the peer. Credit is returned only as the application consumes data.
  std::uint64_t stream_window = 1u << 20;           // bytes, per stream, initially
  std::uint64_t connection_window = 16u << 20;      // bytes, whole connection, initially
  // Stream windows grow only while the reader empties them within two minimum RTTs
  // (StreamReceiveWindow); the connection window is tuned by ngtcp2.
  std::uint64_t max_stream_window = 16u << 20;      // bytes, growth ceiling per stream
  std::uint64_t max_connection_window = 32u << 20;  // bytes, auto-tuning ceiling per connection
  // Bidirectional streams (= concurrent calls) the peer may have open at once.
  std::uint64_t max_streams_bidi = 1024;
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds handshake_timeout{10'000};
  // PING interval keeping an idle connection alive; nullopt disables keep-alive.
  std::optional<std::chrono::milliseconds> keep_alive;
  // Advertised max_ack_delay: a small value keeps loss recovery (PTO) fast in a datacenter.
  std::chrono::microseconds max_ack_delay{1'000};
  // Unsent bytes a stream may queue before write() waits (per-stream send backpressure).
  std::size_t stream_send_buffer = 1u << 20;
  // Largest UDP payload sent (RpcConfig::with_max_udp_payload); 0 = automatic: the MTU of the
  // route to the peer, up to kAutomaticUdpPayloadCeiling (udp_payload.h).
  std::size_t max_udp_payload = 0;
  // The MTU of the route to a peer (runtime::cached_route_mtu over kernel sockets). Unset: what a
  // network without routes has, 65536 on loopback addresses and unknown elsewhere, so the
  // sans-I/O tests see the same sizes on every machine.
  std::function<std::optional<std::size_t>(const sockaddr*)> route_mtu;

  // What one connection may make us hold (transport/memory_budget.h), and how many streams reset for
  // exceeding it a connection gets before it is closed.
  std::size_t connection_memory = 64u << 20;
  std::uint32_t budget_resets_before_close = 8;
  // Application error codes (the RPC layer's) for a stream reset because it exceeded the budget,
  // and for closing a connection that keeps exceeding it.
  std::uint64_t budget_reset_code = 0;
  std::uint64_t budget_close_code = 0;

  // The connection receive window never grows past half the memory budget, so what ngtcp2
  // buffers for the peer stays bounded by the budget too.
  std::uint64_t receive_window_ceiling() const noexcept {
    return std::max<std::uint64_t>(std::min<std::uint64_t>(max_connection_window,
                                                           connection_memory / 2),
                                   64u << 10);
  }
};

// Server admission (admission.h): connections and handshakes a server accepts, and when it makes
// clients prove their address first. Shared by every event loop of one server.
struct AdmissionLimits {
  std::size_t max_connections = 10'000;    // open at once, per server
  std::size_t max_handshakes = 1'000;      // in progress at once, per server
  // Handshakes in progress at which Initials without a valid Retry token are answered with a
  // Retry (stateless address validation). 0: always.
  std::size_t retry_threshold = 100;
  // Handshakes per second one source address (IPv4, or IPv6 /64) may start, `burst` at once,
  // while the server is under handshake pressure (at or past retry_threshold).
  double handshakes_per_source_per_second = 100;
  double handshake_burst_per_source = 100;
  std::size_t tracked_sources = 4'096;     // source addresses remembered by the rate limit
  // Stateless resets sent per second per loop (each answers a packet for an unknown connection).
  double stateless_resets_per_second = 1'000;
  // Datagrams waiting to be forwarded to one loop (a client whose address changed lands on
  // another loop's socket); more are dropped.
  std::size_t max_forward_queue = 1'024;
};

}  // namespace rpcnet::quic
