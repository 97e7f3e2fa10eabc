#include "quic/verified_chain_cache.h"

#include <algorithm>

namespace rpcnet::quic {

VerifiedChainCache::VerifiedChainCache(std::size_t capacity, Clock::duration ttl)
    : capacity_(std::max<std::size_t>(capacity, 1)), ttl_(ttl) {}

std::string VerifiedChainCache::key_of(const std::vector<std::string_view>& certificates_der) {
  std::size_t total = 0;
  for (const std::string_view der : certificates_der) total += 4 + der.size();
  std::string key;
  key.reserve(total);
  for (const std::string_view der : certificates_der) {
    const auto length = static_cast<std::uint32_t>(der.size());
    for (int shift = 24; shift >= 0; shift -= 8) key.push_back(static_cast<char>((length >> shift) & 0xff));
    key.append(der);
  }
  return key;
}

bool VerifiedChainCache::contains(std::string_view chain, Clock::time_point now) {
  MutexLock lock(mutex_);
  const auto found = std::find_if(entries_.begin(), entries_.end(),
                                  [&](const Entry& entry) { return entry.chain == chain; });
  if (found == entries_.end()) return false;
  if (now < found->expires) return true;
  entries_.erase(found);
  return false;
}

void VerifiedChainCache::remember(std::string chain, Clock::time_point not_after, Clock::time_point now) {
  const Clock::time_point expires = std::min(not_after, now + ttl_);
  if (expires <= now || chain.size() > kMaxChainBytes) return;
  MutexLock lock(mutex_);
  const auto same = std::find_if(entries_.begin(), entries_.end(),
                                 [&](const Entry& entry) { return entry.chain == chain; });
  if (same != entries_.end()) {
    same->expires = expires;
    return;
  }
  std::erase_if(entries_, [&](const Entry& entry) { return entry.expires <= now; });
  if (entries_.size() >= capacity_) {
    entries_.erase(std::min_element(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
      return a.expires < b.expires;
    }));
  }
  entries_.push_back(Entry{std::move(chain), expires});
}

std::size_t VerifiedChainCache::size() const {
  MutexLock lock(mutex_);
  return entries_.size();
}

}  // namespace rpcnet::quic
