#include "cluster/broadcast_queue.h"

namespace rpcnet::cluster {

void BroadcastQueue::enqueue(const std::string& subject, Buffer framed_message) {
  if (const auto it = by_subject_.find(subject); it != by_subject_.end()) {
    items_.erase(it->second);
    by_subject_.erase(it);
  }
  const Key key{0, next_order_++};
  items_.emplace(key, Item{subject, std::move(framed_message), 0, std::get<1>(key)});
  by_subject_.emplace(subject, key);
}

std::vector<BroadcastQueue::Buffer> BroadcastQueue::take(std::size_t budget, std::size_t max_count,
                                                         std::size_t limit) {
  std::vector<Buffer> out;
  std::vector<Item> sent;
  std::size_t skipped = 0;
  for (auto it = items_.begin(); it != items_.end() && out.size() < max_count && skipped < kMaxSkips;) {
    if (it->second.bytes.size() > budget) {
      ++skipped;
      ++it;
      continue;
    }
    budget -= it->second.bytes.size();
    out.push_back(it->second.bytes);
    sent.push_back(std::move(it->second));
    by_subject_.erase(sent.back().subject);
    it = items_.erase(it);
  }
  for (auto& item : sent) {
    if (++item.transmits >= limit) continue;  // retired
    const Key key{item.transmits, item.order};
    by_subject_.emplace(item.subject, key);
    items_.emplace(key, std::move(item));
  }
  return out;
}

void BroadcastQueue::clear() {
  items_.clear();
  by_subject_.clear();
}

}  // namespace rpcnet::cluster
