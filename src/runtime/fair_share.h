// Fair turns on one event loop for coroutines that read what is already there.
//
// An await whose input is waiting completes without suspending, so a reader of a bulk stream
// runs on for as long as data keeps arriving, and every other handler of its loop (timers,
// other calls' replies) waits behind it. FairShare counts what a coroutine processed since it
// last suspended; past its budget the coroutine yields: it goes to the back of the loop's queue,
// behind the handlers already there.
//
//   runtime::FairShare share(256 << 10);
//   const bool waits = !stream.readable();
//   auto chunk = co_await stream.read();
//   if (waits) share.restart();
//   else if (share.charge(chunk.data.size())) co_await runtime::yield_to_loop();
//
// Not thread-safe: one per coroutine, used on its loop.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <cstddef>

namespace rpcnet::runtime {

class FairShare {
 public:
  explicit FairShare(std::size_t budget) noexcept : budget_(budget) {}

  // The coroutine suspended (its input was not ready): the loop had its turn.
  void restart() noexcept { used_ = 0; }
  // Counts `amount` processed without suspending; true when the coroutine should yield now
  // (the count then starts over).
  bool charge(std::size_t amount) noexcept {
    used_ += amount;
    if (used_ < budget_) return false;
    used_ = 0;
    return true;
  }

 private:
  std::size_t budget_;
  std::size_t used_ = 0;
};

// Resumes the calling coroutine after the handlers its loop already has queued.
inline asio::awaitable<void> yield_to_loop() {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
}

}  // namespace rpcnet::runtime
