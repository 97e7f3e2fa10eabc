// EventHub::Subscription::next(): the awaitable wait (not in the fuzz build, which has no loop).
#include "cluster/cross_thread_wait.h"
#include "cluster/wait_deadline.h"
#include "rpcnet/cluster/event_hub.h"

namespace rpcnet::cluster {

asio::awaitable<Result<ClusterEvent>> EventHub::Subscription::next(std::chrono::milliseconds timeout) {
  const auto self = shared_from_this();  // the wait outlives a caller that drops its pointer
  std::optional<Result<ClusterEvent>> taken;
  const auto ready = [&] { return (taken = take_locked()).has_value(); };
  const detail::WaitEnd end = co_await waiters_->wait(mutex_, ready, detail::wait_deadline(timeout));
  switch (end) {
    case detail::WaitEnd::kReady: co_return std::move(*taken);
    case detail::WaitEnd::kTimedOut: co_return RpcError::timeout("no cluster event within the timeout");
    case detail::WaitEnd::kCancelled: break;
  }
  co_return RpcError::cancelled("the wait for a cluster event was cancelled");
}

}  // namespace rpcnet::cluster
