// rpcnet/cluster/event_hub.h — fan-out of membership events to independent subscribers.
//
// Contract: publish() copies each event into every live subscriber's queue. A queue holds at
// most `capacity` events; when it is full the OLDEST event is dropped and that subscriber's
// missed() grows by one, so a slow reader learns how much it lost (and can resync from
// members()) while a fast one loses nothing. A subscription ends when its last shared_ptr is
// released. Thread-safe: publish and poll may run on different threads.
//
// Waiting: `co_await sub->next(timeout)` suspends only the awaiting coroutine (on whatever loop
// it runs) until an event is queued. It ends with DEADLINE_EXCEEDED when `timeout` passes (the default
// waits for ever), and with CANCELLED when the hub is closed (ClusterMembership closes it when it
// stops; queued events are still delivered first) or when the awaiting operation is cancelled
// through Asio's per-operation cancellation, e.g. by racing it against a stop signal with
// asio::experimental::awaitable_operators `||`. next_blocking() is the same for a plain thread
// (never call it on an event loop: it blocks the thread, and with it every coroutine there).
//
// Example:
//   #include <iostream>
//
//   void relay(rpcnet::cluster::EventHub& hub, const rpcnet::cluster::ClusterEvent& event) {
//     auto sub = hub.subscribe();
//     hub.publish(event);
//     while (auto e = sub->poll()) std::cout << rpcnet::cluster::event_kind_name(e->kind) << "\n";
//     if (sub->missed() > 0) std::cout << "events were dropped: re-read the member list\n";
//   }
//
//   asio::awaitable<void> print_events(std::shared_ptr<rpcnet::cluster::EventHub::Subscription> sub) {
//     for (;;) {
//       auto e = co_await sub->next(std::chrono::seconds(5));
//       if (!e && e.error().code() == rpcnet::StatusCode::kDeadlineExceeded) continue;  // quiet
//       if (!e) break;                                                                   // closed
//       std::cout << e->member.id << "\n";
//     }
//   }
#pragma once

#include <asio/awaitable.hpp>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "rpcnet/cluster/events.h"
#include "rpcnet/result.h"
#include "rpcnet/thread_annotations.h"

namespace rpcnet::runtime {
class Event;
}

namespace rpcnet::cluster {

class EventHub {
 public:
  // "No timeout" for next() and next_blocking().
  static constexpr std::chrono::milliseconds kForever = std::chrono::milliseconds::max();

  class Subscription : public std::enable_shared_from_this<Subscription> {
   public:
    explicit Subscription(std::size_t capacity);
    ~Subscription();
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

    // The oldest queued event, without waiting.
    std::optional<ClusterEvent> poll();
    // The next event, waiting without blocking the thread. Errors: DEADLINE_EXCEEDED once `timeout`
    // passed; CANCELLED when the hub closed and the queue is empty, or when the awaiting
    // operation was cancelled (Asio per-operation cancellation). Keeps the subscription alive
    // while it waits.
    asio::awaitable<Result<ClusterEvent>> next(std::chrono::milliseconds timeout = kForever);
    // The same, blocking the calling thread: a convenience for plain threads and main(). Never
    // call it on an event loop.
    Result<ClusterEvent> next_blocking(std::chrono::milliseconds timeout);
    // Events dropped from this queue because it was full (cumulative).
    std::uint64_t missed() const;
    std::size_t pending() const;
    // True once the hub closed: nothing more will be queued.
    bool closed() const;

   private:
    friend class EventHub;
    void push(const ClusterEvent& event);
    void close();
    // mutex_ held: the event that ends a wait (or the error once closed); nullopt to keep waiting.
    std::optional<Result<ClusterEvent>> take_locked() RPCNET_REQUIRES(mutex_);

    mutable Mutex mutex_;
    std::condition_variable_any pushed_;  // next_blocking() waits on it with mutex_
    // Set (and dropped) by the next push or close; made by the first next() that has to wait, so
    // a push costs no allocation while no coroutine waits.
    std::shared_ptr<runtime::Event> wake_ RPCNET_GUARDED_BY(mutex_);
    const std::size_t capacity_;
    std::deque<ClusterEvent> queue_ RPCNET_GUARDED_BY(mutex_);
    std::uint64_t missed_ RPCNET_GUARDED_BY(mutex_) = 0;
    bool closed_ RPCNET_GUARDED_BY(mutex_) = false;
  };

  explicit EventHub(std::size_t capacity) : capacity_(capacity) {}

  std::shared_ptr<Subscription> subscribe();
  void publish(const ClusterEvent& event);
  // Ends every subscription (present and future): waiters get kCancelled once the queue is
  // drained. Idempotent.
  void close();
  std::size_t subscribers() const;

 private:
  mutable Mutex mutex_;
  std::size_t capacity_;
  bool closed_ RPCNET_GUARDED_BY(mutex_) = false;
  std::vector<std::weak_ptr<Subscription>> subscribers_ RPCNET_GUARDED_BY(mutex_);
};

}  // namespace rpcnet::cluster
