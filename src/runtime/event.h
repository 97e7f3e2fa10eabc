// runtime::Event — a one-shot signal that coroutines on any event loop can await, and any thread
// can set. It replaces the old idiom of a steady_timer set to time_point::max() and cancelled to
// signal (a cancel() that comes before the wait was lost, a timer is bound to one loop and is not
// thread-safe, and the wake-up looked like an error).
//
// Contract:
//   - set() latches the event, from any thread, any number of times (later calls do nothing).
//     Waits pending at that moment complete with success, and so does every wait started later:
//     a set() before the wait is never lost. There is no reset; a new occurrence is a new Event.
//   - A completion always runs on the waiter's own executor (posted, never run inside set()), so
//     set() is safe inside callbacks and on other threads. All waiters of one executor travel in
//     one post, and set() touches nothing of that executor afterwards: a waiter that, once
//     resumed, destroys its loop or the Event itself is safe.
//   - A pending wait counts as work on its executor (as a timer wait does): the loop's run() does
//     not return under it.
//   - Waits honour Asio per-operation cancellation (terminal, partial or total): the cancelled
//     wait completes with asio::error::operation_aborted and the event is unaffected. Destroying
//     the Event completes the waits still pending with operation_aborted, so no coroutine leaks.
//   - It is a signal, not a timer: it reads no clock. To bound a wait, race it with a timer from
//     whatever clock applies: `co_await (event.wait() || timer.async_wait(asio::use_awaitable))`.
//   - Start a wait on the thread of the executor it completes on (a coroutine's own loop).
//
// Example:
//   rpcnet::runtime::Event done;
//   asio::post(other_loop, [&done] { do_work(); done.set(); });
//   co_await done.wait();  // resumes here, on this coroutine's loop, once do_work() has run
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/error.hpp>
#include <asio/execution/outstanding_work.hpp>
#include <asio/post.hpp>
#include <asio/prefer.hpp>
#include <asio/use_awaitable.hpp>
#include <algorithm>
#include <cstdint>
#include <iterator>
#include <memory>
#include <system_error>
#include <utility>
#include <vector>

#include "rpcnet/thread_annotations.h"

namespace rpcnet::runtime {

namespace detail {

// One suspended wait: its handler, type-erased, and the executor it completes on.
class EventWaiter {
 public:
  EventWaiter(std::uint64_t id, asio::any_io_executor executor)
      : id_(id),
        executor_(std::move(executor)),
        work_(asio::prefer(executor_, asio::execution::outstanding_work.tracked)) {}
  virtual ~EventWaiter() = default;
  EventWaiter(const EventWaiter&) = delete;
  EventWaiter& operator=(const EventWaiter&) = delete;

  std::uint64_t id() const noexcept { return id_; }
  const asio::any_io_executor& executor() const noexcept { return executor_; }
  // Runs the handler; call on executor() only, at most once.
  virtual void complete(std::error_code error) = 0;

 private:
  std::uint64_t id_;
  asio::any_io_executor executor_;  // identifies the waiter's loop
  asio::any_io_executor work_;      // keeps that loop running while the wait is pending
};

template <class Handler>
class EventWaiterImpl final : public EventWaiter {
 public:
  EventWaiterImpl(std::uint64_t id, asio::any_io_executor executor, Handler handler)
      : EventWaiter(id, std::move(executor)), handler_(std::move(handler)) {}

  void complete(std::error_code error) override {
    auto slot = asio::get_associated_cancellation_slot(handler_);
    if (slot.is_connected()) slot.clear();
    std::move(handler_)(error);
  }

 private:
  Handler handler_;
};

struct EventState {
  Mutex mutex;
  bool set RPCNET_GUARDED_BY(mutex) = false;
  std::uint64_t next_id RPCNET_GUARDED_BY(mutex) = 0;
  std::vector<std::unique_ptr<EventWaiter>> waiters RPCNET_GUARDED_BY(mutex);
};

// Posts the completions, one post per executor; nothing of an executor is touched after its post.
inline void complete_waiters(std::vector<std::unique_ptr<EventWaiter>> waiters, std::error_code error) {
  while (!waiters.empty()) {
    const asio::any_io_executor executor = waiters.front()->executor();
    auto same = std::stable_partition(waiters.begin(), waiters.end(),
                                      [&](const auto& waiter) { return waiter->executor() != executor; });
    std::vector<std::unique_ptr<EventWaiter>> batch(std::make_move_iterator(same),
                                                    std::make_move_iterator(waiters.end()));
    waiters.erase(same, waiters.end());
    asio::post(executor, [batch = std::move(batch), error] {
      for (const auto& waiter : batch) waiter->complete(error);
    });
  }
}

}  // namespace detail

class Event {
 public:
  Event() = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event() {
    std::vector<std::unique_ptr<detail::EventWaiter>> waiters;
    {
      MutexLock lock(state_->mutex);
      waiters = std::move(state_->waiters);
      state_->waiters.clear();
    }
    detail::complete_waiters(std::move(waiters), asio::error::operation_aborted);
  }

  void set() {
    std::vector<std::unique_ptr<detail::EventWaiter>> waiters;
    {
      MutexLock lock(state_->mutex);
      if (state_->set) return;
      state_->set = true;
      waiters = std::move(state_->waiters);
      state_->waiters.clear();
    }
    detail::complete_waiters(std::move(waiters), {});
  }

  bool is_set() const {
    MutexLock lock(state_->mutex);
    return state_->set;
  }

  // Completes with void(std::error_code): success once set, operation_aborted when cancelled.
  template <class Token>
  auto async_wait(Token&& token) {
    return asio::async_initiate<Token, void(std::error_code)>(
        [state = state_](auto handler) {
          using Waiter = detail::EventWaiterImpl<decltype(handler)>;
          const asio::any_io_executor executor = asio::get_associated_executor(handler);
          auto slot = asio::get_associated_cancellation_slot(handler);
          std::vector<std::unique_ptr<detail::EventWaiter>> ready;
          {
            MutexLock lock(state->mutex);
            const std::uint64_t id = state->next_id++;
            auto waiter = std::make_unique<Waiter>(id, executor, std::move(handler));
            if (!state->set) {
              if (slot.is_connected()) {
                // Holds the state, not the Event: a cancellation may come after the Event is gone.
                slot.assign([state, id](asio::cancellation_type type) {
                  if (type != asio::cancellation_type::none) cancel_wait(state, id);
                });
              }
              state->waiters.push_back(std::move(waiter));
              return;
            }
            ready.push_back(std::move(waiter));
          }
          detail::complete_waiters(std::move(ready), {});
        },
        token);
  }

  // Completes once set; throws asio's operation_aborted when the wait is cancelled.
  asio::awaitable<void> wait() { co_await async_wait(asio::use_awaitable); }

 private:
  static void cancel_wait(const std::shared_ptr<detail::EventState>& state, std::uint64_t id) {
    std::vector<std::unique_ptr<detail::EventWaiter>> cancelled;
    {
      MutexLock lock(state->mutex);
      auto it = std::find_if(state->waiters.begin(), state->waiters.end(),
                             [id](const auto& waiter) { return waiter->id() == id; });
      if (it == state->waiters.end()) return;  // set() has already taken it
      cancelled.push_back(std::move(*it));
      state->waiters.erase(it);
    }
    detail::complete_waiters(std::move(cancelled), asio::error::operation_aborted);
  }

  // Shared with the cancellation handlers of pending waits.
  std::shared_ptr<detail::EventState> state_ = std::make_shared<detail::EventState>();
};

}  // namespace rpcnet::runtime
