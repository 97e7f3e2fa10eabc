#include "quic/stream.h"

#include <ngtcp2/ngtcp2.h>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include "base/logging.h"
#include "quic/connection.h"

namespace rpcnet::quic {

namespace {
RpcError write_after_shutdown() {
  return RpcError::stream("the peer stopped reading this stream", StatusCode::kCancelled);
}

RpcError over_budget(std::size_t limit) {
  return RpcError::status(StatusCode::kResourceExhausted,
                          "the connection's memory budget of " + std::to_string(limit) +
                              " bytes is exhausted");
}
}  // namespace

asio::awaitable<StreamChunk> Stream::read(asio::cancellation_slot cancel) {
  bool waited = false;
  for (;;) {
    if (rx_reset_) {
      StreamChunk chunk;
      chunk.status = StreamChunk::Status::kReset;
      chunk.reset_code = *rx_reset_;
      co_return chunk;
    }
    if (!rx_chunks_.empty()) {
      StreamChunk chunk;
      chunk.data = std::move(rx_chunks_.front());
      rx_chunks_.pop_front();
      rx_bytes_ -= chunk.data.size();
      rx_last_capacity_ = chunk.data.capacity();
      release_rx_charge(chunk.data.capacity());
      if (connection_ != nullptr) {
        // Credit goes back only now, as the reader takes the bytes: this is the backpressure.
        if (closed_) {
          connection_->return_connection_credit(chunk.data.size());
        } else {
          connection_->extend_credit(*this, chunk.data.size());
        }
      }
      chunk.fin = rx_fin_ && rx_chunks_.empty();
      if (waited) {
        read_share_.restart();
      } else if (read_share_.charge(chunk.data.size())) {
        co_await runtime::yield_to_loop();  // a bulk reader lets the loop's other work run
      }
      co_return chunk;
    }
    if (rx_stopped_) {
      // We reset the stream or stopped reading, which dropped whatever was unread: a FIN that
      // arrived before must not pass for a clean end (the reader would take the missing bytes
      // for a peer that sent none, e.g. a call without its status).
      StreamChunk chunk;
      chunk.status = StreamChunk::Status::kCancelled;
      co_return chunk;
    }
    if (rx_fin_) {
      StreamChunk chunk;
      chunk.fin = true;
      co_return chunk;
    }
    if (connection_ == nullptr) {
      StreamChunk chunk;
      chunk.status = StreamChunk::Status::kConnectionClosed;
      co_return chunk;
    }
    if (rx_stopped_ || closed_) {
      StreamChunk chunk;
      chunk.status = StreamChunk::Status::kCancelled;
      co_return chunk;
    }
    const auto reason = co_await runtime::wait_with(reader_, cancel);
    waited = true;
    if (reason == runtime::WakeReason::kCancelled) {
      StreamChunk chunk;
      chunk.status = StreamChunk::Status::kCancelled;
      co_return chunk;
    }
  }
}

asio::awaitable<Result<void>> Stream::write(Bytes head, Bytes body, bool fin,
                                            asio::cancellation_slot cancel) {
  if (connection_ == nullptr) co_return RpcError::connection("connection closed");
  if (tx_shut_) co_return write_after_shutdown();
  if (tx_fin_queued_) co_return RpcError::stream("write after the stream was finished", StatusCode::kFailedPrecondition);
  const std::size_t queued = head.size() + body.size();
  if (queued > 0) {
    if (!connection_->budget_.try_charge(queued)) {
      const std::size_t limit = connection_->budget_.limit();
      reset_for_budget();
      co_return over_budget(limit);
    }
    tx_charged_ += queued;
  }
  for (Bytes* part : {&head, &body}) {
    if (part->empty()) continue;
    tx_unsent_bytes_ += part->size();
    tx_buffers_.push_back(std::move(*part));
  }
  if (fin) tx_fin_queued_ = true;
  connection_->enqueue_send(this);
  while (connection_ != nullptr && !tx_shut_ &&
         tx_unsent_bytes_ > connection_->settings_.stream_send_buffer) {
    const auto reason = co_await runtime::wait_with(writer_, cancel);
    if (reason == runtime::WakeReason::kCancelled) co_return RpcError::cancelled();
  }
  if (connection_ == nullptr) co_return RpcError::connection("connection closed");
  if (tx_shut_ && !tx_fin_sent_) co_return write_after_shutdown();
  co_return ok();
}

Stream::~Stream() {
  release_rx_charge(rx_charged_);
  release_tx_charge(tx_charged_);
}

void Stream::reset(std::uint64_t code) {
  if (connection_ == nullptr || closed_) return;
  const bool read = !rx_stopped_ && !rx_fin_ && !rx_reset_;
  const bool write = !tx_shut_ && !tx_fin_sent_;
  tx_shut_ = true;
  drop_unsent();
  drop_received();
  rx_stopped_ = true;
  log_reset("stream reset", code);
  connection_->shutdown_stream(id_, code, read, write);
  reader_.notify();
  writer_.notify();
}

void Stream::stop_reading(std::uint64_t code) {
  if (connection_ == nullptr || closed_ || rx_stopped_) return;
  const bool read = !rx_fin_ && !rx_reset_;
  drop_received();
  rx_stopped_ = true;
  if (read) connection_->shutdown_stream(id_, code, true, false);
  reader_.notify();
}

void Stream::recycle(Bytes buffer) {
  const std::size_t capacity = buffer.capacity();
  if (connection_ == nullptr || closed_ || rx_stopped_ || capacity != kReceiveChunkBytes ||
      rx_spare_.size() >= kSpareReceiveBuffers || !connection_->budget_.try_charge(capacity)) {
    return;
  }
  rx_charged_ += capacity;
  buffer.clear();
  rx_spare_.push_back(std::move(buffer));
}

void Stream::drop_received() {
  if (connection_ != nullptr && rx_bytes_ > 0) connection_->return_connection_credit(rx_bytes_);
  rx_chunks_.clear();
  rx_spare_.clear();
  rx_bytes_ = 0;
  release_rx_charge(rx_charged_);
}

void Stream::drop_spares() {
  std::size_t charged = 0;
  for (const Bytes& spare : rx_spare_) charged += spare.capacity();
  rx_spare_.clear();
  release_rx_charge(charged);
}

void Stream::release_rx_charge(std::size_t bytes) {
  const std::size_t released = std::min(bytes, rx_charged_);
  rx_charged_ -= released;
  if (connection_ != nullptr) connection_->budget_.release(released);
}

void Stream::release_tx_charge(std::uint64_t bytes) {
  const std::uint64_t released = std::min(bytes, tx_charged_);
  tx_charged_ -= released;
  if (connection_ != nullptr) connection_->budget_.release(static_cast<std::size_t>(released));
}

void Stream::reset_for_budget() {
  if (budget_reset_ || connection_ == nullptr) return;
  budget_reset_ = true;
  drop_received();
  rx_stopped_ = true;
  reader_.notify();
  // Inside an ngtcp2 callback the stream cannot be shut down yet: do it on the next turn.
  asio::post(connection_->executor(), [self = shared_from_this()] {
    if (self->connection_ == nullptr) return;
    Connection* connection = self->connection_;
    self->reset(connection->settings_.budget_reset_code);
    self->notify_abort(connection->settings_.budget_reset_code);
    connection->note_budget_reset();
  });
}

void Stream::on_data(const std::uint8_t* data, std::size_t len, bool fin) {
  if (rx_stopped_) {
    if (connection_ != nullptr && len > 0) connection_->return_connection_credit(len);
    return;
  }
  if (len > 0 && !append_received(data, len)) {
    if (connection_ != nullptr) connection_->return_connection_credit(len);
    reset_for_budget();  // credit for what is held goes back there
    return;
  }
  if (fin) rx_fin_ = true;
  reader_.notify();
}

bool Stream::append_received(const std::uint8_t* data, std::size_t len) {
  if (connection_ == nullptr) return false;
  // Whatever the frame sizes, bytes join the last buffer while it stays within the chunk size:
  // a peer sending one-byte frames costs bytes, not an allocation each.
  const bool joins_tail = !rx_chunks_.empty() && rx_chunks_.back().size() + len <= kReceiveChunkBytes;
  if (!joins_tail) {
    if (!rx_spare_.empty() && len <= kReceiveChunkBytes) {
      // A recycled buffer, already charged (rx_charged_ counts the spares).
      rx_chunks_.push_back(std::move(rx_spare_.back()));
      rx_spare_.pop_back();
    } else {
      rx_chunks_.emplace_back();
    }
  }
  Bytes& tail = rx_chunks_.back();
  const std::size_t before = tail.capacity();
  const std::size_t needed = tail.size() + len;
  if (needed > before) {
    // A new buffer starts at the size the last one handed out reached (a bulk stream's buffers
    // are full chunks from the start, one small message's buffer is that message) and doubles
    // up to the chunk size. A size that could not double again within the chunk size becomes
    // the chunk size: doubling from a packet's length otherwise ends short of it (at 65,368
    // bytes in a test), and only full-size buffers can be recycled.
    const std::size_t proposed = before == 0 ? rx_last_capacity_ : 2 * before;
    const std::size_t grown = proposed > kReceiveChunkBytes / 2 ? kReceiveChunkBytes : proposed;
    tail.reserve(std::max(needed, grown));
  }
  const std::size_t more = tail.capacity() - before;
  if (more > 0 && !connection_->charge_received(more)) {
    if (tail.empty()) rx_chunks_.pop_back();
    return false;
  }
  rx_charged_ += more;
  tail.insert(tail.end(), data, data + len);
  rx_bytes_ += len;
  return true;
}

// Code 0 is how a finished call stops the peer's sending (not news); any other code ended a
// call early and is worth an operator's look.
void Stream::log_reset(const char* what, std::uint64_t code) const {
  if (code == 0) {
    RPCNET_LOG(kQuic, kDebug, what,
               connection_->log_fields({{"stream", std::to_string(id_)}, {"code", "0"}}));
  } else {
    RPCNET_LOG_LIMITED(kQuic, kInfo, what,
               connection_->log_fields({{"stream", std::to_string(id_)}, {"code", std::to_string(code)}}));
  }
}

void Stream::on_peer_reset(std::uint64_t code) {
  if (rx_reset_) return;
  rx_reset_ = code;
  if (connection_ != nullptr) log_reset("stream reset by peer", code);
  drop_received();
  reader_.notify();
  notify_abort(code);
}

void Stream::on_acked(std::uint64_t len) {
  while (len > 0 && !tx_buffers_.empty()) {
    const std::uint64_t remaining = tx_buffers_.front().size() - tx_acked_in_front_;
    if (len < remaining) {
      tx_acked_in_front_ += len;
      return;
    }
    len -= remaining;
    tx_buffers_.pop_front();
    tx_acked_in_front_ = 0;
    if (tx_unsent_index_ > 0) {
      --tx_unsent_index_;
    } else {
      tx_unsent_pos_ = 0;
    }
  }
}

void Stream::drop_unsent() {
  // Bytes ngtcp2 never saw can go now; the sent ones stay until acknowledged or closed, since
  // ngtcp2 may still read them.
  const std::size_t keep = tx_unsent_index_ + (tx_unsent_pos_ > 0 ? 1 : 0);
  if (keep < tx_buffers_.size()) {
    tx_buffers_.erase(tx_buffers_.begin() + static_cast<std::ptrdiff_t>(keep), tx_buffers_.end());
  }
  tx_unsent_bytes_ = 0;
  release_tx_charge(tx_charged_);
}

void Stream::on_write_shut() {
  if (tx_shut_) return;
  tx_shut_ = true;
  drop_unsent();
  writer_.notify();
  notify_abort(0);
}

void Stream::on_closed(std::optional<std::uint64_t> app_error_code) {
  // ngtcp2 1.11 has no callback for a received STOP_SENDING (recv_stop_sending came in 1.24;
  // doc/architecture.md): the stream closing with an error
  // code (once our answering RESET_STREAM is acknowledged) is where a peer that stopped reading
  // shows up, e.g. a client cancelling a unary call whose request was already complete.
  if (app_error_code) notify_abort(*app_error_code);
  closed_ = true;
  tx_shut_ = true;
  tx_buffers_.clear();
  release_tx_charge(tx_charged_);
  tx_unsent_bytes_ = 0;
  tx_unsent_index_ = 0;
  tx_unsent_pos_ = 0;
  tx_acked_in_front_ = 0;
  reader_.notify();
  writer_.notify();
}

void Stream::detach() {
  notify_abort(kAbortConnectionClosed);
  release_rx_charge(rx_charged_);
  release_tx_charge(tx_charged_);
  connection_ = nullptr;
  tx_shut_ = true;
  tx_buffers_.clear();
  tx_unsent_bytes_ = 0;
  reader_.notify();
  writer_.notify();
}

void Stream::notify_abort(std::uint64_t code) {
  if (abort_notified_ || !abort_handler_ || connection_ == nullptr) return;
  abort_notified_ = true;
  asio::post(connection_->executor(), [handler = abort_handler_, code] { handler(code); });
}

std::size_t Stream::unsent_vectors(void* vecs, std::size_t max, std::size_t& total) const {
  auto* out = static_cast<ngtcp2_vec*>(vecs);
  std::size_t n = 0;
  total = 0;
  std::size_t pos = tx_unsent_pos_;
  for (std::size_t i = tx_unsent_index_; i < tx_buffers_.size() && n < max; ++i) {
    const Bytes& buffer = tx_buffers_[i];
    out[n].base = const_cast<std::uint8_t*>(buffer.data() + pos);
    out[n].len = buffer.size() - pos;
    total += out[n].len;
    ++n;
    pos = 0;
  }
  return n;
}

void Stream::consume_sent(std::size_t len, bool fin_written) {
  tx_unsent_bytes_ -= len;
  release_tx_charge(len);
  while (len > 0) {
    const std::size_t available = tx_buffers_[tx_unsent_index_].size() - tx_unsent_pos_;
    if (len < available) {
      tx_unsent_pos_ += len;
      break;
    }
    len -= available;
    ++tx_unsent_index_;
    tx_unsent_pos_ = 0;
  }
  if (fin_written) tx_fin_sent_ = true;
  if (connection_ != nullptr && writer_.has_waiter() &&
      tx_unsent_bytes_ <= connection_->settings_.stream_send_buffer) {
    writer_.notify();
  }
}

}  // namespace rpcnet::quic
