// swim_core.h — the sans-I/O SWIM + Lifeguard membership state machine (internal).
//
// Contract: SwimCore never reads a clock, opens a socket, or draws system randomness. The
// driver feeds it datagrams (on_datagram), wakes it at next_deadline() (on_timer), and after
// every input drains poll_datagram() (already sealed, each <= max_packet_bytes) and
// poll_event(). Untrusted bytes never assert: bad packets are dropped and counted in
// MembershipCounters. All randomness comes from the PRNG seeded by `rng_seed` (mixed with the
// node id); the driver must seed it from a real entropy source, because nonces come from it.
//
// Example (one step of a driver loop):
//   core.on_datagram(from, bytes, clock.now());
//   while (auto d = core.poll_datagram()) socket.send_to(d->bytes, d->to);
//   while (auto e = core.poll_event()) hub.publish(*e);
//   timer.expires_at(core.next_deadline());
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rpcnet/address.h"
#include "rpcnet/cluster/cluster_config.h"
#include "rpcnet/cluster/events.h"
#include "rpcnet/cluster/key_ring.h"
#include "rpcnet/cluster/member.h"
#include "rpcnet/cluster/membership_counters.h"

namespace rpcnet::cluster {

struct OutgoingDatagram {
  SocketAddress to;
  std::vector<std::byte> bytes;  // already sealed
};

class SwimCore {
 public:
  // rng_seed seeds the core's own PRNG; all randomness comes from it. `now` is the injected time.
  SwimCore(ClusterConfig config, KeyRing keys, std::uint64_t rng_seed, Time now);
  ~SwimCore();
  SwimCore(SwimCore&&) noexcept;
  SwimCore& operator=(SwimCore&&) noexcept;

  void join(std::span<const SocketAddress> seeds, Time now);      // retries with backoff until contact
  void leave(Time now);                                             // graceful: gossip kLeft, then quiet
  Status update_tag(std::string key, std::string value, Time now);  // kResourceExhausted over the cap
  Status remove_tag(std::string_view key, Time now);
  void on_datagram(const SocketAddress& from, std::span<const std::byte> bytes, Time now);
  void on_timer(Time now);  // call when now >= next_deadline()
  Time next_deadline() const;
  std::optional<OutgoingDatagram> poll_datagram();  // drain after every input
  std::optional<ClusterEvent> poll_event();         // drain after every input
  std::vector<Member> members() const;              // includes self; sorted by id
  const Member& self() const;
  const MembershipCounters& counters() const;
  KeyRing& key_ring();

  // Additions (diagnostics and tests).
  int health_score() const;          // Lifeguard awareness score, 0..awareness_max_multiplier-1
  bool joined() const;               // a seed (or any member) answered the join
  std::size_t pending_broadcasts() const;
  const ClusterConfig& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rpcnet::cluster
