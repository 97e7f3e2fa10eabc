// rpcnet/cluster/member.h — what one node knows about another cluster member.
//
// Contract: a Member is a snapshot (a value), never a live view. The membership core hands out
// copies sorted by id; `incarnation` only ever grows, and only the member itself raises it (to
// refute a suspicion or to publish new tags; a restart starts from its boot time, below). `state` is the SWIM view shared by the cluster;
// `phi` and `healthy` are this node's local phi-accrual opinion, which other nodes never see.
//
// Example:
//   #include "rpcnet/cluster/membership.h"
//
//   std::vector<rpcnet::SocketAddress> routable(const rpcnet::cluster::ClusterMembership& cluster) {
//     std::vector<rpcnet::SocketAddress> out;
//     for (const rpcnet::cluster::Member& m : cluster.members()) {
//       if (m.state == rpcnet::cluster::MemberState::kAlive && m.healthy) out.push_back(m.address);
//     }
//     return out;
//   }
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "rpcnet/address.h"
#include "rpcnet/result.h"

namespace rpcnet::cluster {

// Injected time: the cores never read a clock, the caller passes "now".
using Time = std::chrono::steady_clock::time_point;
using Duration = std::chrono::nanoseconds;

// The cluster API's fallible-without-value return type.
using Status = Result<void>;

// WIRE ENUM (push-pull state) — APPEND ONLY.
enum class MemberState : std::uint8_t { kAlive = 0, kSuspect = 1, kDead = 2, kLeft = 3 };

inline constexpr std::size_t kMaxMemberIdBytes = 128;

struct Member {
  std::string id;  // unique node id, 1..kMaxMemberIdBytes bytes
  SocketAddress address;  // advertised gossip address
  std::map<std::string, std::string> tags;
  std::uint64_t incarnation = 0;
  MemberState state = MemberState::kAlive;
  double phi = 0.0;      // local phi-accrual suspicion level (0 if no samples)
  bool healthy = true;   // HealthChecker view (phi below threshold, not dead/left)

  friend bool operator==(const Member&, const Member&) = default;
};

// An incarnation is two numbers in one: its high bits are the member's boot time (Unix seconds
// when its process started) and its low kIncarnationCounterBits count the refutations and tag
// changes of that boot. So a restarted member outranks everything said about its previous run
// without having to learn it first, and a receiver can tell a restart from a refutation.
inline constexpr int kIncarnationCounterBits = 24;
constexpr std::uint64_t incarnation_boot_seconds(std::uint64_t incarnation) noexcept {
  return incarnation >> kIncarnationCounterBits;
}
constexpr std::uint64_t first_incarnation(std::uint64_t boot_unix_seconds) noexcept {
  return boot_unix_seconds << kIncarnationCounterBits;
}

// "alive", "suspect", "dead", "left".
std::string_view member_state_name(MemberState state) noexcept;

}  // namespace rpcnet::cluster
