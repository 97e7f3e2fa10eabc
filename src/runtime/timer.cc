#include "runtime/timer.h"

#include <asio/post.hpp>

namespace rpcnet::runtime {

SteadyTime virtual_now(const VirtualTimeline& timeline) noexcept { return timeline.now(); }

VirtualTimeline::Key VirtualTimeline::schedule(SteadyTime at, asio::any_io_executor executor,
                                               WaitHandler handler) {
  Key key{at, next_seq_++};
  waits_.emplace(key, Wait{std::move(executor), std::move(handler)});
  return key;
}

void VirtualTimeline::cancel(const Key& key) {
  auto it = waits_.find(key);
  if (it == waits_.end()) return;
  Wait wait = std::move(it->second);
  waits_.erase(it);
  complete(std::move(wait), asio::error::operation_aborted);
}

std::optional<SteadyTime> VirtualTimeline::next_deadline() const {
  if (waits_.empty()) return std::nullopt;
  return waits_.begin()->first.first;
}

bool VirtualTimeline::fire_next() {
  if (waits_.empty()) return false;
  move_to(waits_.begin()->first.first);
  while (!waits_.empty() && waits_.begin()->first.first <= now_) {
    Wait wait = std::move(waits_.begin()->second);
    waits_.erase(waits_.begin());
    complete(std::move(wait), asio::error_code{});
  }
  return true;
}

void VirtualTimeline::complete(Wait wait, asio::error_code error) {
  auto executor = wait.executor;
  asio::post(executor, [handler = std::move(wait.handler), error]() mutable { handler(error); });
}

}  // namespace rpcnet::runtime
