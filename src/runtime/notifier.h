// Wake-up primitives for coroutines that live on one event loop.
//
// Notifier wakes a single waiting coroutine; WaitQueue wakes waiters in FIFO order. Both are
// edge-triggered: a waiter re-checks its condition after every wake-up, and since everything runs
// on one loop thread there is no gap between checking the condition and starting to wait.
//
// Completions are always *posted*, never run inline, so notify() is safe to call from inside
// ngtcp2 callbacks (which must not be re-entered). Waits honour Asio per-operation cancellation:
// a cancelled wait completes with WakeReason::kCancelled.
//
// Not thread-safe: use only from the owning loop.
#pragma once

#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/async_result.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <cstddef>
#include <list>
#include <new>
#include <memory>
#include <utility>

namespace rpcnet::runtime {

enum class WakeReason : unsigned char { kNotified, kCancelled };

namespace detail {

// A suspended operation's completion handler, type-erased.
class PendingWait {
 public:
  virtual ~PendingWait() = default;
  // Posts the completion to the handler's executor. Call at most once.
  virtual void complete(WakeReason reason) = 0;
};

template <class Handler>
class PendingWaitImpl final : public PendingWait {
 public:
  explicit PendingWaitImpl(Handler&& handler) : handler_(std::move(handler)) {}

  asio::cancellation_slot slot() { return asio::get_associated_cancellation_slot(handler_); }

  void complete(WakeReason reason) override {
    auto slot = asio::get_associated_cancellation_slot(handler_);
    if (slot.is_connected()) slot.clear();
    auto executor = asio::get_associated_executor(handler_);
    asio::post(executor, [handler = std::move(handler_), reason]() mutable {
      std::move(handler)(reason);
    });
  }

 private:
  Handler handler_;
};

}  // namespace detail

class Notifier {
 public:
  Notifier() = default;
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;
  // A waiter still suspended here is woken with kCancelled, so no coroutine is leaked.
  ~Notifier() { wake(WakeReason::kCancelled); }

  // Completes with void(WakeReason). At most one waiter at a time: a second one replaces (and
  // cancels) the first.
  template <class Token>
  auto async_wait(Token&& token) {
    return asio::async_initiate<Token, void(WakeReason)>(
        [this](auto handler) {
          using Impl = detail::PendingWaitImpl<decltype(handler)>;
          wake(WakeReason::kCancelled);
          // Waiting is on every call's hot path: keep the handler inline when it fits.
          if constexpr (sizeof(Impl) <= sizeof(storage_) &&
                        alignof(Impl) <= alignof(std::max_align_t)) {
            waiter_ = new (storage_) Impl(std::move(handler));
            inline_ = true;
          } else {
            waiter_ = new Impl(std::move(handler));
            inline_ = false;
          }
          auto slot = static_cast<Impl*>(waiter_)->slot();
          if (slot.is_connected()) {
            slot.assign([this](asio::cancellation_type type) {
              if (type != asio::cancellation_type::none) wake(WakeReason::kCancelled);
            });
          }
        },
        token);
  }

  void notify() { wake(WakeReason::kNotified); }
  bool has_waiter() const noexcept { return waiter_ != nullptr; }

 private:
  void wake(WakeReason reason) {
    if (waiter_ == nullptr) return;
    detail::PendingWait* waiter = std::exchange(waiter_, nullptr);
    waiter->complete(reason);  // moves the handler out and posts it
    if (inline_) {
      waiter->~PendingWait();
    } else {
      delete waiter;
    }
  }

  alignas(std::max_align_t) unsigned char storage_[64];
  detail::PendingWait* waiter_ = nullptr;
  bool inline_ = false;
};

class WaitQueue {
 public:
  WaitQueue() = default;
  WaitQueue(const WaitQueue&) = delete;
  WaitQueue& operator=(const WaitQueue&) = delete;
  ~WaitQueue() { notify_all(WakeReason::kCancelled); }

  template <class Token>
  auto async_wait(Token&& token) {
    return asio::async_initiate<Token, void(WakeReason)>(
        [this](auto handler) {
          using H = decltype(handler);
          auto pending = std::make_unique<detail::PendingWaitImpl<H>>(std::move(handler));
          auto slot = pending->slot();
          waiters_.push_back(std::move(pending));
          auto it = std::prev(waiters_.end());
          if (slot.is_connected()) {
            slot.assign([this, it](asio::cancellation_type type) {
              if (type == asio::cancellation_type::none) return;
              auto waiter = std::move(*it);
              waiters_.erase(it);
              waiter->complete(WakeReason::kCancelled);
            });
          }
        },
        token);
  }

  // Wakes the oldest waiter. Returns false when nobody waits.
  bool notify_one() {
    if (waiters_.empty()) return false;
    auto waiter = std::move(waiters_.front());
    waiters_.pop_front();
    waiter->complete(WakeReason::kNotified);
    return true;
  }
  void notify_all(WakeReason reason = WakeReason::kNotified) {
    auto waiters = std::move(waiters_);
    waiters_.clear();
    for (auto& waiter : waiters) waiter->complete(reason);
  }
  bool empty() const noexcept { return waiters_.empty(); }
  std::size_t size() const noexcept { return waiters_.size(); }

 private:
  std::list<std::unique_ptr<detail::PendingWait>> waiters_;
};

// Waits on a Notifier or WaitQueue. `cancel`, when connected, is the slot that cancels the
// wait; otherwise the awaiting coroutine's own cancellation applies.
template <class Waitable>
asio::awaitable<WakeReason> wait_with(Waitable& waitable, asio::cancellation_slot cancel) {
  if (cancel.is_connected()) {
    co_return co_await waitable.async_wait(asio::bind_cancellation_slot(cancel, asio::use_awaitable));
  }
  co_return co_await waitable.async_wait(asio::use_awaitable);
}

}  // namespace rpcnet::runtime
