// One QUIC bidirectional stream, as the RPC layer sees it: read chunks in order, write buffers,
// finish, reset. Owned jointly by its connection (until QUIC closes it) and by whoever uses it
// (an RPC call); all methods must run on the connection's loop.
//
// Backpressure: read() returns flow-control credit to the peer only for the bytes it hands out,
// so a slow reader stalls its writer; write() waits while more than
// TransportSettings::stream_send_buffer bytes are still unsent.
//
// Memory: received bytes wait in a queue of buffers of at most kReceiveChunkBytes each (however
// small the peer's STREAM frames, no per-frame allocation; a backlog is many bounded buffers, never
// one that keeps doubling), and both those buffers and unsent bytes are charged to the
// connection's MemoryBudget. What does not fit resets the stream with the transport's
// budget_reset_code (the RPC layer's RESOURCE_EXHAUSTED).
#pragma once

#include <asio/awaitable.hpp>
#include <asio/cancellation_signal.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "rpcnet/bytes.h"
#include "quic/receive_window.h"
#include "rpcnet/result.h"
#include "runtime/fair_share.h"
#include "runtime/notifier.h"
#include "transport/call_stream.h"

namespace rpcnet::quic {

class Connection;

using transport::kAbortConnectionClosed;
using transport::StreamChunk;

// The most one read() hands out (unless a single STREAM frame was larger). Bounds the work one
// reader does per chunk, and keeps receive buffers below glibc's mmap threshold, so they are
// reused rather than faulted in afresh.
inline constexpr std::size_t kReceiveChunkBytes = 64u << 10;

// What read() hands out without suspending before it yields to the loop (runtime::FairShare):
// a reader whose data is already there would otherwise hold its loop while other calls' replies
// and timers wait. A quarter MiB is a few hundred microseconds of decoding, and at least four
// full chunks per yield.
inline constexpr std::size_t kReadFairShareBytes = 256u << 10;

// Receive buffers a stream keeps for reuse (Stream::recycle): a 1 MiB window's worth.
inline constexpr std::size_t kSpareReceiveBuffers = 16;

class Stream final : public transport::CallStream, public std::enable_shared_from_this<Stream> {
 public:
  Stream(Connection* connection, std::int64_t id) : connection_(connection), id_(id) {}
  // Returns what the stream still has charged to its connection's budget. Whoever holds a
  // stream also holds its connection (the RPC call co-owns both), so the connection outlives it.
  ~Stream() override;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  std::int64_t id() const noexcept { return id_; }

  // Next chunk of the peer's data (at most kReceiveChunkBytes unless one frame was larger), in
  // order. After fin, further reads return fin again. Yields to the loop after every
  // kReadFairShareBytes handed out without suspending.
  // `cancel` (when connected) cancels the wait instead of the coroutine's own slot.
  asio::awaitable<StreamChunk> read(asio::cancellation_slot cancel = {}) override;

  // Queues `head` then `body` (either may be empty; two parts spare a copy of large payloads)
  // and the FIN when `fin`. Completes once the stream has room for more.
  // Errors: kStream when the peer stopped reading (STOP_SENDING) or the stream was reset,
  // kConnection when the connection closed, kCancelled when the wait was cancelled, kStatus
  // RESOURCE_EXHAUSTED when the bytes do not fit the connection's memory budget (the stream is
  // then reset).
  asio::awaitable<Result<void>> write(Bytes head, Bytes body, bool fin,
                                      asio::cancellation_slot cancel = {}) override;

  // RESET_STREAM + STOP_SENDING with `code`: abandons both directions.
  void reset(std::uint64_t code) override;
  // STOP_SENDING with `code`: we will not read the rest.
  void stop_reading(std::uint64_t code) override;

  // Called (posted to the loop) once when the peer aborts the stream: a RESET_STREAM, or a
  // STOP_SENDING discovered while writing. Lets a call cancel work nobody waits for.
  void set_abort_handler(std::function<void(std::uint64_t code)> handler) override {
    abort_handler_ = std::move(handler);
  }

  // A full-size receive buffer (kReceiveChunkBytes) comes back for the next data, up to
  // kSpareReceiveBuffers of them, still charged to the connection's budget. Why: a reader that
  // keeps up frees every buffer soon after it was filled, so its thread's heap empties and
  // glibc returns the memory to the kernel (a per-thread arena trims on every free of 64 KiB or
  // more), and the next buffers are faulted in afresh: a stream of 64 KiB messages ran at a
  // quarter of its speed, most of the client's time in madvise and page faults. They are a
  // cache: data arriving for any stream of the connection when the budget is short frees every
  // stream's spares before it is refused (Connection::charge_received).
  void recycle(Bytes buffer) override;

  bool write_closed() const noexcept { return tx_shut_ || tx_fin_queued_; }
  bool detached() const noexcept override { return connection_ == nullptr; }
  // A read() would complete at once (data, FIN or reset waiting, or the connection gone).
  bool readable() const noexcept override {
    return !rx_chunks_.empty() || rx_fin_ || rx_reset_.has_value() || connection_ == nullptr;
  }

 private:
  friend class Connection;

  // ---- called by Connection (inside ngtcp2 callbacks: must not re-enter ngtcp2) ----
  void on_data(const std::uint8_t* data, std::size_t len, bool fin);
  // Appends to rx_chunks_, charging new capacity to the budget; false when it does not fit.
  bool append_received(const std::uint8_t* data, std::size_t len);
  void on_peer_reset(std::uint64_t code);
  // One record for a reset either way; connection_ must be attached.
  void log_reset(const char* what, std::uint64_t code) const;
  void on_acked(std::uint64_t len);
  void on_write_shut();  // the peer sent STOP_SENDING (found by the write loop)
  // QUIC closed the stream; `app_error_code` is set when it ended by a reset or STOP_SENDING.
  void on_closed(std::optional<std::uint64_t> app_error_code);
  void detach();         // the connection is gone
  void notify_abort(std::uint64_t code);
  void drop_received();  // discards unread data, returning its connection credit
  void drop_spares();    // frees the recycled buffers kept for reuse, and their charge
  // Over budget: drop what is held and reset the stream (posted: we may be inside a callback).
  void reset_for_budget();
  void release_rx_charge(std::size_t bytes);
  void release_tx_charge(std::uint64_t bytes);
  void drop_unsent();  // our send side is shut: free what was never handed to ngtcp2

  // ---- send-side bookkeeping for Connection's write loop ----
  bool has_pending_send() const noexcept {
    return !tx_shut_ && (tx_unsent_bytes_ > 0 || (tx_fin_queued_ && !tx_fin_sent_));
  }
  // Fills up to `max` vectors with unsent data; returns how many, and the byte total.
  std::size_t unsent_vectors(void* vecs, std::size_t max, std::size_t& total) const;
  void consume_sent(std::size_t len, bool fin_written);

  Connection* connection_;  // null once detached
  std::int64_t id_;

  // Receive side.
  std::deque<Bytes> rx_chunks_;      // delivered by QUIC, not yet handed to the reader
  std::vector<Bytes> rx_spare_;      // empty full-size buffers handed back (recycle), charged
  std::size_t rx_bytes_ = 0;         // their total size
  std::size_t rx_charged_ = 0;       // their capacity, as charged to the budget
  std::size_t rx_last_capacity_ = 0; // the capacity the last chunk handed out reached
  bool rx_fin_ = false;
  bool rx_stopped_ = false;
  std::optional<std::uint64_t> rx_reset_;
  runtime::Notifier reader_;
  runtime::FairShare read_share_{kReadFairShareBytes};
  StreamReceiveWindow rx_window_;  // set by the connection when it creates the stream

  // Send side: buffers stay alive until acknowledged (ngtcp2 retransmits from them).
  std::deque<Bytes> tx_buffers_;
  std::uint64_t tx_acked_in_front_ = 0;  // acked bytes of tx_buffers_.front()
  std::size_t tx_unsent_index_ = 0;      // first buffer with unsent bytes
  std::size_t tx_unsent_pos_ = 0;        // offset of the first unsent byte in it
  std::uint64_t tx_unsent_bytes_ = 0;
  std::uint64_t tx_charged_ = 0;         // unsent bytes charged to the budget
  bool tx_fin_queued_ = false;
  bool tx_fin_sent_ = false;
  bool tx_shut_ = false;  // reset by us, or STOP_SENDING from the peer
  bool in_send_queue_ = false;
  bool blocked_ = false;  // stream-level flow control; cleared by extend_max_stream_data
  bool closed_ = false;
  bool abort_notified_ = false;
  bool budget_reset_ = false;
  runtime::Notifier writer_;

  std::function<void(std::uint64_t)> abort_handler_;
};

}  // namespace rpcnet::quic
