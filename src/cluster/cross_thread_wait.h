// A coroutine on any event loop waits for a condition another thread makes true.
//
// Why not a condition_variable: the waiter is a coroutine, and blocking its loop thread would
// stall every other coroutine there. Each waiter parks on a timer of its own loop (expiring at
// its deadline); wake_all() marks the waiters and posts the timers' cancellation to their loops,
// so a timer is only ever touched on its own thread. The condition and the waiter list share
// the owner's mutex, so a wake-up between "condition false" and "parked" cannot be lost.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

namespace rpcnet::cluster::detail {

enum class WaitEnd : unsigned char { kReady, kTimedOut, kCancelled };

// Guarded by the owner's mutex (the one that guards the condition).
class CrossThreadWaiters {
 public:
  struct Waiter {
    std::shared_ptr<asio::steady_timer> timer;
    bool woken = false;
  };

  // Owner's mutex held.
  void wake_all() {
    for (const auto& waiter : waiters_) {
      waiter->woken = true;
      asio::post(waiter->timer->get_executor(), [timer = waiter->timer] { timer->cancel(); });
    }
    waiters_.clear();
  }

  // Waits until `ready()` holds (kReady), `deadline` passes (kTimedOut) or the awaiting operation
  // is cancelled through Asio per-operation cancellation (kCancelled). `ready` runs with `mutex`
  // held; `mutex` must be the one held around wake_all().
  template <class Ready>
  asio::awaitable<WaitEnd> wait(std::mutex& mutex, Ready ready, std::chrono::steady_clock::time_point deadline) {
    const asio::any_io_executor executor = co_await asio::this_coro::executor;
    for (;;) {
      auto waiter = std::make_shared<Waiter>();
      waiter->timer = std::make_shared<asio::steady_timer>(executor, deadline);
      {
        std::lock_guard lock(mutex);
        if (ready()) co_return WaitEnd::kReady;
        if (std::chrono::steady_clock::now() >= deadline) co_return WaitEnd::kTimedOut;
        waiters_.push_back(waiter);
      }
      std::error_code error;
      co_await waiter->timer->async_wait(asio::redirect_error(asio::use_awaitable, error));
      std::lock_guard lock(mutex);
      std::erase(waiters_, waiter);
      if (ready()) co_return WaitEnd::kReady;
      if (!error) co_return WaitEnd::kTimedOut;
      if (!waiter->woken) co_return WaitEnd::kCancelled;  // aborted, but nobody woke us
    }
  }

 private:
  std::vector<std::shared_ptr<Waiter>> waiters_;
};

}  // namespace rpcnet::cluster::detail
