// Transport knobs, derived from RpcConfig by the RPC layer. Defaults follow
// research/quic-ngtcp2.md §6 (measured on this machine kind).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace rpcnet::quic {

struct TransportSettings {
  // Receive windows we grant the peer. Credit is returned only as the application consumes data.
  std::uint64_t stream_window = 1u << 20;           // bytes, per stream, initially
  std::uint64_t connection_window = 16u << 20;      // bytes, whole connection, initially
  std::uint64_t max_stream_window = 16u << 20;      // bytes, auto-tuning ceiling per stream
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
  // UDP payload used on loopback paths, where the 65536-byte MTU makes large datagrams safe.
  std::size_t loopback_udp_payload = 16384;
};

}  // namespace rpcnet::quic
