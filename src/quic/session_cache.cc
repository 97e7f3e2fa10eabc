#include "quic/session_cache.h"

#include <algorithm>

namespace rpcnet::quic {

SessionCache& SessionCache::instance() {
  static SessionCache cache;
  return cache;
}

void SessionCache::store(const std::string& key, std::vector<std::uint8_t> ticket) {
  MutexLock lock(mutex_);
  if (tickets_.size() >= kMaxEntries && tickets_.find(key) == tickets_.end()) {
    auto oldest = std::min_element(tickets_.begin(), tickets_.end(), [](const auto& a, const auto& b) {
      return a.second.first < b.second.first;
    });
    tickets_.erase(oldest);
  }
  tickets_[key] = {++clock_, std::move(ticket)};
}

std::optional<std::vector<std::uint8_t>> SessionCache::find(const std::string& key) const {
  MutexLock lock(mutex_);
  auto it = tickets_.find(key);
  if (it == tickets_.end()) return std::nullopt;
  return it->second.second;
}

void SessionCache::clear() {
  MutexLock lock(mutex_);
  tickets_.clear();
}

}  // namespace rpcnet::quic
