// EventHub: drop-oldest bounded queues, one per subscriber.
#include "rpcnet/cluster/event_hub.h"

#include <algorithm>
#include <utility>

#include "cluster/wait_deadline.h"
#include "runtime/event.h"

namespace rpcnet::cluster {

EventHub::Subscription::Subscription(std::size_t capacity)
    : capacity_(capacity == 0 ? 1 : capacity) {}

EventHub::Subscription::~Subscription() = default;

std::optional<ClusterEvent> EventHub::Subscription::poll() {
  MutexLock lock(mutex_);
  if (queue_.empty()) return std::nullopt;
  ClusterEvent event = std::move(queue_.front());
  queue_.pop_front();
  return event;
}

std::optional<Result<ClusterEvent>> EventHub::Subscription::take_locked() {
  if (!queue_.empty()) {
    ClusterEvent event = std::move(queue_.front());
    queue_.pop_front();
    return Result<ClusterEvent>(std::move(event));
  }
  if (closed_) return Result<ClusterEvent>(RpcError::cancelled("the event hub closed (the membership stopped)"));
  return std::nullopt;
}

Result<ClusterEvent> EventHub::Subscription::next_blocking(std::chrono::milliseconds timeout) {
  MutexLock lock(mutex_);
  std::optional<Result<ClusterEvent>> taken;
  // Runs inside wait_until with mutex_ held, which the analysis cannot see through the template.
  const auto ready = [&]() RPCNET_NO_THREAD_SAFETY_ANALYSIS { return (taken = take_locked()).has_value(); };
  if (!pushed_.wait_until(mutex_, detail::wait_deadline(timeout), ready)) {
    return RpcError::timeout("no cluster event within the timeout");
  }
  return std::move(*taken);
}

bool EventHub::Subscription::closed() const {
  MutexLock lock(mutex_);
  return closed_;
}

void EventHub::Subscription::close() {
  MutexLock lock(mutex_);
  closed_ = true;
  pushed_.notify_all();
  if (wake_) std::exchange(wake_, nullptr)->set();
}

std::uint64_t EventHub::Subscription::missed() const {
  MutexLock lock(mutex_);
  return missed_;
}

std::size_t EventHub::Subscription::pending() const {
  MutexLock lock(mutex_);
  return queue_.size();
}

void EventHub::Subscription::push(const ClusterEvent& event) {
  MutexLock lock(mutex_);
  // Drop the oldest: a reader that falls behind wants the latest state more than history.
  while (queue_.size() >= capacity_) {
    queue_.pop_front();
    ++missed_;
  }
  queue_.push_back(event);
  pushed_.notify_all();
  if (wake_) std::exchange(wake_, nullptr)->set();
}

std::shared_ptr<EventHub::Subscription> EventHub::subscribe() {
  auto sub = std::make_shared<Subscription>(capacity_);
  MutexLock lock(mutex_);
  if (closed_) {
    sub->close();
  } else {
    subscribers_.push_back(sub);
  }
  return sub;
}

void EventHub::close() {
  std::vector<std::weak_ptr<Subscription>> subscribers;
  {
    MutexLock lock(mutex_);
    closed_ = true;
    subscribers.swap(subscribers_);
  }
  for (const auto& weak : subscribers) {
    if (auto sub = weak.lock()) sub->close();
  }
}

void EventHub::publish(const ClusterEvent& event) {
  std::vector<std::shared_ptr<Subscription>> live;
  {
    MutexLock lock(mutex_);
    std::erase_if(subscribers_, [](const auto& weak) { return weak.expired(); });
    live.reserve(subscribers_.size());
    for (const auto& weak : subscribers_) {
      if (auto sub = weak.lock()) live.push_back(std::move(sub));
    }
  }
  for (const auto& sub : live) sub->push(event);
}

std::size_t EventHub::subscribers() const {
  MutexLock lock(mutex_);
  return static_cast<std::size_t>(std::count_if(subscribers_.begin(), subscribers_.end(),
                                                [](const auto& weak) { return !weak.expired(); }));
}

}  // namespace rpcnet::cluster
