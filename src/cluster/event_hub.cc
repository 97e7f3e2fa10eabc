// EventHub: drop-oldest bounded queues, one per subscriber.
#include "rpcnet/cluster/event_hub.h"

#include <algorithm>

namespace rpcnet::cluster {

std::optional<ClusterEvent> EventHub::Subscription::poll() {
  std::lock_guard lock(mutex_);
  if (queue_.empty()) return std::nullopt;
  ClusterEvent event = std::move(queue_.front());
  queue_.pop_front();
  return event;
}

std::optional<ClusterEvent> EventHub::Subscription::wait_next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  if (!pushed_.wait_for(lock, timeout, [&] { return !queue_.empty(); })) return std::nullopt;
  ClusterEvent event = std::move(queue_.front());
  queue_.pop_front();
  return event;
}

std::uint64_t EventHub::Subscription::missed() const {
  std::lock_guard lock(mutex_);
  return missed_;
}

std::size_t EventHub::Subscription::pending() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

void EventHub::Subscription::push(const ClusterEvent& event) {
  std::lock_guard lock(mutex_);
  // Drop the oldest: a reader that falls behind wants the latest state more than history.
  while (queue_.size() >= capacity_) {
    queue_.pop_front();
    ++missed_;
  }
  queue_.push_back(event);
  pushed_.notify_one();
}

std::shared_ptr<EventHub::Subscription> EventHub::subscribe() {
  auto sub = std::make_shared<Subscription>(capacity_);
  std::lock_guard lock(mutex_);
  subscribers_.push_back(sub);
  return sub;
}

void EventHub::publish(const ClusterEvent& event) {
  std::vector<std::shared_ptr<Subscription>> live;
  {
    std::lock_guard lock(mutex_);
    std::erase_if(subscribers_, [](const auto& weak) { return weak.expired(); });
    live.reserve(subscribers_.size());
    for (const auto& weak : subscribers_) {
      if (auto sub = weak.lock()) live.push_back(std::move(sub));
    }
  }
  for (const auto& sub : live) sub->push(event);
}

std::size_t EventHub::subscribers() const {
  std::lock_guard lock(mutex_);
  return static_cast<std::size_t>(std::count_if(subscribers_.begin(), subscribers_.end(),
                                                [](const auto& weak) { return !weak.expired(); }));
}

}  // namespace rpcnet::cluster
