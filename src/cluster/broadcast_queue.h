// broadcast_queue.h — updates waiting to be piggybacked (SWIM's dissemination component).
//
// One pending update per subject (member id): a newer update about a member replaces the older
// one, so the queue is bounded by the member table. take() prefers the least transmitted updates
// (then the newest), so fresh news spreads first, and retires an update once it has been sent
// `limit` times (retransmit_mult * ceil(log10(n + 1))).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace rpcnet::cluster {

class BroadcastQueue {
 public:
  using Buffer = std::vector<std::byte>;

  void enqueue(const std::string& subject, Buffer framed_message);
  // Removes and returns as many updates as fit in `budget` bytes (at most `max_count`). Gives up
  // after kMaxSkips updates that do not fit: a full packet must not cost a walk over a queue of
  // thousands (a join storm at N=1000 queues one update per member).
  std::vector<Buffer> take(std::size_t budget, std::size_t max_count, std::size_t limit);
  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  void clear();

 private:
  static constexpr std::size_t kMaxSkips = 32;
  struct Item {
    std::string subject;
    Buffer bytes;
    std::size_t transmits = 0;
    std::uint64_t order = 0;
  };
  // Ordered by (transmits ascending, order descending): the next to send first.
  using Key = std::tuple<std::size_t, std::uint64_t>;
  struct KeyLess {
    bool operator()(const Key& a, const Key& b) const {
      if (std::get<0>(a) != std::get<0>(b)) return std::get<0>(a) < std::get<0>(b);
      return std::get<1>(a) > std::get<1>(b);
    }
  };
  std::map<Key, Item, KeyLess> items_;
  std::map<std::string, Key> by_subject_;
  std::uint64_t next_order_ = 0;
};

}  // namespace rpcnet::cluster
