// EventHub::Subscription::next(): the awaitable wait (not in the fuzz build, which has no loop).
#include "cluster/wait_deadline.h"
#include "rpcnet/cluster/event_hub.h"
#include "runtime/event_wait.h"

namespace rpcnet::cluster {

asio::awaitable<Result<ClusterEvent>> EventHub::Subscription::next(std::chrono::milliseconds timeout) {
  const auto self = shared_from_this();  // the wait outlives a caller that drops its pointer
  const auto deadline = detail::wait_deadline(timeout);
  for (;;) {
    std::shared_ptr<runtime::Event> wake;  // co-owned: push() drops its pointer when it sets it
    {
      MutexLock lock(mutex_);
      if (auto taken = take_locked()) co_return std::move(*taken);
      if (!wake_) wake_ = std::make_shared<runtime::Event>();
      wake = wake_;
    }
    const runtime::WaitEnd end = co_await runtime::wait_until(*wake, deadline);
    if (end == runtime::WaitEnd::kSet) continue;
    MutexLock lock(mutex_);
    if (auto taken = take_locked()) co_return std::move(*taken);  // queued as the wait ended
    if (end == runtime::WaitEnd::kCancelled) co_return RpcError::cancelled("the wait for a cluster event was cancelled");
    co_return RpcError::timeout("no cluster event within the timeout");
  }
}

}  // namespace rpcnet::cluster
