// replay_guard.h — drops authenticated packets that were already received (replays).
//
// Every sealed plaintext carries (sender id, boot id, sequence number). A boot id is the
// sender's start time in microseconds (SwimCore), so boots are ordered: per sender we keep the
// newest boot id seen with a 64-packet sliding window over its sequence numbers (the IPsec
// scheme). A packet from an older boot is dropped — however many restarts ago it was captured,
// it can neither be replayed nor displace the current boot — and a newer boot id replaces the
// current one (the sender restarted). Packets older than the window are dropped too (a
// reordering of more than 64 packets from one sender is not worth accepting for gossip).
// Boot ids from the future are the core's business (it drops those beyond max_clock_skew before
// asking here), since only a key holder can forge one.
// Bounds: at most `max_senders` senders are tracked; the least recently heard one is forgotten
// first, and a forgotten sender's old packets could be replayed once each — packets are bound to
// their recipient, so only to us, and only until the sender's next packet re-establishes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "rpcnet/cluster/member.h"

namespace rpcnet::cluster {

class ReplayGuard {
 public:
  static constexpr std::size_t kWindow = 64;

  explicit ReplayGuard(std::size_t max_senders) : max_senders_(max_senders == 0 ? 1 : max_senders) {}

  // True if the packet is new (and records it); false for a replay or a too-old packet.
  bool accept(std::string_view sender, std::uint64_t boot_id, std::uint64_t seq, Time now);
  std::size_t senders() const { return senders_.size(); }

 private:
  struct Window {
    std::uint64_t boot_id = 0;
    std::uint64_t highest = 0;
    std::uint64_t seen = 0;  // bit i: highest - i was received
    Time last_heard{};
  };
  std::size_t max_senders_;
  // Hashed, with string_view lookup: asked once per received packet (an ordered map's string
  // compares were a tenth of a 1000-member simulation).
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, Window, Hash, std::equal_to<>> senders_;
};

}  // namespace rpcnet::cluster
