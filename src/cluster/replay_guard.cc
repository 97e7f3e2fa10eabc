#include "cluster/replay_guard.h"

#include <algorithm>

namespace rpcnet::cluster {

bool ReplayGuard::accept(std::string_view sender, std::uint64_t boot_id, std::uint64_t seq, Time now) {
  auto it = senders_.find(sender);
  if (it == senders_.end()) {
    if (senders_.size() >= max_senders_) {
      const auto oldest = std::min_element(senders_.begin(), senders_.end(), [](const auto& a, const auto& b) {
        return a.second.last_heard < b.second.last_heard;
      });
      senders_.erase(oldest);
    }
    Window w;
    w.boot_id = boot_id;
    w.highest = seq;
    w.seen = 1;
    w.last_heard = now;
    senders_.emplace(std::string(sender), w);
    return true;
  }
  Window& w = it->second;
  if (boot_id < w.boot_id) return false;  // captured before the sender's latest restart
  if (boot_id > w.boot_id) {               // the sender restarted
    w.boot_id = boot_id;
    w.highest = seq;
    w.seen = 1;
    w.last_heard = now;
    return true;
  }
  if (seq > w.highest) {
    const std::uint64_t shift = seq - w.highest;
    w.seen = shift >= kWindow ? 1 : (w.seen << shift) | 1;
    w.highest = seq;
    w.last_heard = now;
    return true;
  }
  const std::uint64_t age = w.highest - seq;
  if (age >= kWindow) return false;
  const std::uint64_t bit = std::uint64_t{1} << age;
  if ((w.seen & bit) != 0) return false;
  w.seen |= bit;
  w.last_heard = now;
  return true;
}

}  // namespace rpcnet::cluster
