// How much flow-control credit one stream grants its peer: a window that starts at the
// transport parameter's size and doubles only while the reader empties it within two minimum
// round trips, i.e. while the window, not the path or the reader, limits the transfer.
//
// Credit goes back as the application reads (stream.h), so the window is also the most data
// that can wait unread for this stream, much of it in the kernel's socket buffer when the
// reader is the bottleneck. ngtcp2's own auto-tuning judged the window by the smoothed RTT,
// which a full socket buffer inflates: a client receiving a bulk stream faster than it could
// decrypt it grew its window to the 16 MiB ceiling, kept that much queued in its socket buffer,
// and every reply on the connection waited behind it (17 ms p99 for small calls beside a bulk
// stream on a 1500-byte veth link; doc/performance.md). The minimum RTT is the path without the
// queue: a window the reader empties in under two of them is what throttles the sender (a long
// path, a fast reader), so it doubles; a reader slower than the path empties it more slowly and
// the window stays, so what waits stays bounded by it. Windows never shrink.
//
// Sans-I/O: the caller passes the time and the path's minimum RTT.
//
// Example:
//   StreamReceiveWindow window(1 << 20, 16 << 20);
//   // the reader took `n` bytes:
//   ngtcp2_conn_extend_max_stream_offset(conn, id, window.on_consumed(n, now_ns, min_rtt_ns));
#pragma once

#include <cstdint>

namespace rpcnet::quic {

class StreamReceiveWindow {
 public:
  // A window the reader empties within kGrowthRoundTrips minimum RTTs doubles.
  static constexpr std::uint64_t kGrowthRoundTrips = 2;

  StreamReceiveWindow() = default;
  // `initial`: the window the peer was granted by the transport parameters; `ceiling`: the most
  // it may grow to (a ceiling below `initial` keeps it at `initial`).
  StreamReceiveWindow(std::uint64_t initial, std::uint64_t ceiling) noexcept
      : window_(initial), ceiling_(ceiling) {}

  // The reader consumed `len` bytes at `now_ns`; `min_rtt_ns` is the path's minimum RTT (0 or
  // UINT64_MAX while unknown: no growth). Returns the credit to grant: `len`, plus the growth
  // when the window has just doubled.
  std::uint64_t on_consumed(std::uint64_t len, std::uint64_t now_ns, std::uint64_t min_rtt_ns) noexcept;

  std::uint64_t window() const noexcept { return window_; }

 private:
  std::uint64_t window_ = 0;
  std::uint64_t ceiling_ = 0;
  // The current measurement: when the reader started on this window's worth, and how much of
  // it it has consumed since.
  std::uint64_t epoch_start_ns_ = 0;
  std::uint64_t epoch_consumed_ = 0;
  bool in_epoch_ = false;
};

}  // namespace rpcnet::quic
