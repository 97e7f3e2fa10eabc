// Many deadlines, one timer: call deadlines of a connection (client) or a loop (server).
//
// A timer per call costs a timer-queue insertion and removal under the reactor's lock, a
// cancellation handler posted at every call's end, and a timerfd update whenever the call's
// deadline happens to be the loop's earliest. Here entries live in an intrusive list sorted by
// time: calls with the same timeout arrive in deadline order, so insertion is O(1) in practice,
// removal is O(1), nothing is allocated, and the one asio timer moves only when the earliest
// deadline does.
//
// Loop-local: use from the owning loop only. An entry must be removed (or have fired) before it
// is destroyed; the queue must outlive its entries.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>
#include <memory>

#include "runtime/clock.h"

namespace rpcnet::runtime {

class DeadlineQueue;

class DeadlineEntry {
 public:
  DeadlineEntry() = default;
  DeadlineEntry(const DeadlineEntry&) = delete;
  DeadlineEntry& operator=(const DeadlineEntry&) = delete;
  bool armed() const noexcept { return queue_ != nullptr; }

 protected:
  virtual ~DeadlineEntry() = default;
  // Runs on the loop, from the queue's timer handler (never inside another callback).
  virtual void on_deadline() = 0;

 private:
  friend class DeadlineQueue;
  SteadyTime at_{};
  DeadlineEntry* prev_ = nullptr;
  DeadlineEntry* next_ = nullptr;
  DeadlineQueue* queue_ = nullptr;
};

class DeadlineQueue {
 public:
  explicit DeadlineQueue(asio::any_io_executor executor)
      : timer_(std::move(executor)), alive_(std::make_shared<bool>(true)) {}
  ~DeadlineQueue() {
    while (head_ != nullptr) remove(*head_);
  }
  DeadlineQueue(const DeadlineQueue&) = delete;
  DeadlineQueue& operator=(const DeadlineQueue&) = delete;

  void add(DeadlineEntry& entry, SteadyTime at) {
    remove(entry);
    entry.at_ = at;
    entry.queue_ = this;
    // Walk back from the tail: deadlines mostly arrive in order.
    DeadlineEntry* after = tail_;
    while (after != nullptr && after->at_ > at) after = after->prev_;
    entry.prev_ = after;
    entry.next_ = after != nullptr ? after->next_ : head_;
    (entry.next_ != nullptr ? entry.next_->prev_ : tail_) = &entry;
    (after != nullptr ? after->next_ : head_) = &entry;
    if (head_ == &entry) arm();
  }

  void remove(DeadlineEntry& entry) {
    if (entry.queue_ != this) return;
    (entry.prev_ != nullptr ? entry.prev_->next_ : head_) = entry.next_;
    (entry.next_ != nullptr ? entry.next_->prev_ : tail_) = entry.prev_;
    entry.prev_ = entry.next_ = nullptr;
    entry.queue_ = nullptr;
    // The timer is left as it is: firing early with nothing due just re-arms.
  }

 private:
  void arm() {
    if (armed_ && armed_at_ <= head_->at_) return;
    armed_ = true;
    armed_at_ = head_->at_;
    timer_.expires_at(armed_at_);
    timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](const asio::error_code& error) {
      if (error || alive.expired()) return;
      armed_ = false;
      fire();
    });
  }

  void fire() {
    const SteadyTime now = steady_now();
    while (head_ != nullptr && head_->at_ <= now) {
      DeadlineEntry& due = *head_;
      remove(due);
      due.on_deadline();  // may add or remove other entries
    }
    if (head_ != nullptr) arm();
  }

  asio::steady_timer timer_;
  std::shared_ptr<bool> alive_;  // handlers check it: the queue may be gone when they run
  DeadlineEntry* head_ = nullptr;
  DeadlineEntry* tail_ = nullptr;
  bool armed_ = false;
  SteadyTime armed_at_{};
};

}  // namespace rpcnet::runtime
