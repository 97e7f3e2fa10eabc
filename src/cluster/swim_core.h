// swim_core.h — the sans-I/O SWIM + Lifeguard membership state machine (internal).
//
// Contract: SwimCore never reads a clock, opens a socket, or draws system randomness. The
// driver feeds it datagrams (on_datagram), wakes it at next_deadline() (on_timer), and after
// every input drains poll_datagram() (already sealed, each <= max_packet_bytes) and
// poll_event(). Untrusted bytes never assert: bad packets are dropped and counted in
// MembershipCounters. Protocol choices come from the PRNG seeded by `rng_seed` (mixed with the
// node id), and AEAD nonces from a NonceSequence over the secret in CoreStart; the driver fills
// CoreStart from the system (gnutls_rnd, the wall clock), tests and simulations choose it.
//
// Example (one step of a driver loop):
//   core.on_datagram(from, bytes, clock.now());
//   while (auto d = core.poll_datagram()) socket.send_to(d->bytes, d->to);
//   while (auto e = core.poll_event()) hub.publish(*e);
//   timer.expires_at(core.next_deadline());
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/packet_seal.h"
#include "rpcnet/address.h"
#include "rpcnet/cluster/cluster_config.h"
#include "rpcnet/cluster/events.h"
#include "rpcnet/cluster/key_ring.h"
#include "rpcnet/cluster/member.h"
#include "rpcnet/cluster/membership_counters.h"

namespace rpcnet::cluster {

// What the core takes from the outside world when it starts, besides its config and keys.
struct CoreStart {
  std::uint64_t rng_seed = 0;  // protocol choices (probe order, gossip targets): any value
  // Seeds the AEAD nonces (packet_seal.h): must be secret and fresh for every process.
  NonceSequence::Secret nonce_secret{};
  // The wall clock at the `now` the core is constructed with. Orders this node's boots (the
  // boot id is its microseconds) and starts its incarnation (first_incarnation of its seconds),
  // and bounds what others may claim (ClusterConfig::max_clock_skew).
  std::chrono::system_clock::time_point wall_clock{};

  // Deterministic, for tests and simulations: the nonce secret is derived from `seed`, and the
  // wall clock reads 2026-01-01T00:00:00Z plus `now`'s time since the steady clock's epoch, so a
  // node restarted later in virtual time boots later.
  static CoreStart simulated(std::uint64_t seed, Time now);
};

struct OutgoingDatagram {
  SocketAddress to;
  std::vector<std::byte> bytes;  // already sealed
};

class SwimCore {
 public:
  // `now` is the injected time; `start.wall_clock` is the wall clock at that instant.
  SwimCore(ClusterConfig config, KeyRing keys, const CoreStart& start, Time now);
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

  // Called with every phi heartbeat this core records (an ack to its probe of `member`, direct or
  // relayed), with the time and the expected interval its own detector was fed: what a second,
  // independently tuned detector (HealthChecker) needs. Runs inside the input call that caused it.
  using HeartbeatObserver = std::function<void(const Member& member, Time now, Duration expected)>;
  void set_heartbeat_observer(HeartbeatObserver observer);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rpcnet::cluster
