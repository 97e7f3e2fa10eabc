// rpcnet/cluster/event_hub.h — fan-out of membership events to independent subscribers.
//
// Contract: publish() copies each event into every live subscriber's queue. A queue holds at
// most `capacity` events; when it is full the OLDEST event is dropped and that subscriber's
// missed() grows by one, so a slow reader learns how much it lost (and can resync from
// members()) while a fast one loses nothing. A subscription ends when its last shared_ptr is
// released. Thread-safe: publish and poll may run on different threads.
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
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "rpcnet/cluster/events.h"

namespace rpcnet::cluster {

class EventHub {
 public:
  class Subscription {
   public:
    explicit Subscription(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}
    std::optional<ClusterEvent> poll();
    // Blocks until an event is queued or `timeout` passes (nullopt). Do not call it on the
    // event loop that publishes to this hub.
    std::optional<ClusterEvent> wait_next(std::chrono::milliseconds timeout);
    // Events dropped from this queue because it was full (cumulative).
    std::uint64_t missed() const;
    std::size_t pending() const;

   private:
    friend class EventHub;
    void push(const ClusterEvent& event);

    mutable std::mutex mutex_;
    std::condition_variable pushed_;
    std::size_t capacity_;
    std::deque<ClusterEvent> queue_;
    std::uint64_t missed_ = 0;
  };

  explicit EventHub(std::size_t capacity) : capacity_(capacity) {}

  std::shared_ptr<Subscription> subscribe();
  void publish(const ClusterEvent& event);
  std::size_t subscribers() const;

 private:
  mutable std::mutex mutex_;
  std::size_t capacity_;
  std::vector<std::weak_ptr<Subscription>> subscribers_;
};

}  // namespace rpcnet::cluster
