// rpcnet/cluster/membership.h — a running cluster member: SWIM gossip on a UDP socket.
//
// Contract: ClusterMembership binds ClusterConfig::bind_address, runs the sans-I/O SWIM core on
// one event loop (yours, or a one-thread Runtime it owns) and is otherwise hands-off: probing,
// dissemination, anti-entropy, seed retries and partition healing happen by themselves. Every
// method is thread-safe. Gossip is sealed with the KeyRing's primary key (AES-256-GCM); packets
// that do not open with an installed key are dropped and counted, so a process without the key
// can neither join, inject or change members, nor read tags.
//
// The advertised address (what other members dial) is advertise_address when set; otherwise the
// bound address, where a wildcard IP (0.0.0.0 / ::) is replaced by the host's first non-loopback
// address of the same family (kConfig if there is none) and port 0 by the port the OS chose.
//
// A ClusterMembership is a handle: copies are cheap and share one running member, which stops
// (without announcing a leave) when the last copy is destroyed. Every handle refers to a member;
// there is no empty one.
//
// Waiting: `co_await member.await_stopped(timeout)` and `co_await events->next()` suspend only
// the awaiting coroutine; wait_stopped_blocking() and next_blocking() are conveniences for plain
// threads and main(), never for an event loop.
//
// Example:
//   #include <cstdlib>
//   #include <iostream>
//
//   rpcnet::Result<void> run_member() {
//     auto config = rpcnet::cluster::ClusterConfig::Lan();
//     config.node_id = "worker-1";
//     config.bind_address = *rpcnet::parse_socket_address("10.0.0.5:7946");
//     auto keys = rpcnet::cluster::KeyRing::from_text(std::getenv("RPCNET_CLUSTER_KEY"));
//     if (!keys) return keys.error();
//     auto member = rpcnet::cluster::ClusterMembership::start(config, std::move(*keys));
//     if (!member) return member.error();
//     if (auto joined = member->join({*rpcnet::parse_socket_address("10.0.0.1:7946")}); !joined) {
//       return joined;
//     }
//     if (auto tagged = member->update_tag("role", "worker"); !tagged) return tagged;
//     auto events = member->subscribe();
//     while (auto e = events->next_blocking(std::chrono::seconds(1))) std::cout << e->member.id << "\n";
//     member->leave(std::chrono::seconds(1));
//     return member->wait_stopped_blocking(std::chrono::seconds(2));
//   }
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rpcnet/address.h"
#include "rpcnet/cluster/cluster_config.h"
#include "rpcnet/cluster/event_hub.h"
#include "rpcnet/cluster/events.h"
#include "rpcnet/cluster/key_ring.h"
#include "rpcnet/cluster/member.h"
#include "rpcnet/cluster/membership_counters.h"
#include "rpcnet/result.h"

namespace rpcnet {
class RpcServer;
}

namespace rpcnet::cluster {

class HealthChecker;

class ClusterMembership {
 public:
  // Binds and starts serving on `executor` (one event loop, driven by one thread). Errors:
  // kConfig (invalid config, no address to advertise), kIo (bind failed).
  static Result<ClusterMembership> start(ClusterConfig config, KeyRing keys, asio::any_io_executor executor);
  // The same on an event loop of its own (one thread), stopped with the member.
  static Result<ClusterMembership> start(ClusterConfig config, KeyRing keys);

  // Copies share the member (a moved-from handle still refers to it: there is no empty handle).
  ClusterMembership(const ClusterMembership&) = default;
  ClusterMembership& operator=(const ClusterMembership&) = default;
  ~ClusterMembership() = default;

  // Contacts the seeds (retrying with backoff until one answers); the rest of the cluster is
  // learned from them. Seeds are re-contacted periodically, which also heals partitions. No
  // seeds (or only this member's own address) starts a new cluster. Errors: kConfig for a seed
  // that cannot be dialled (wildcard IP or port 0); kCancelled once the member is leaving or
  // has stopped.
  Result<void> join(std::vector<SocketAddress> seeds);

  // Publishes a tag (spreads like any membership change). kResourceExhausted when the encoded
  // tags would exceed ClusterConfig::max_tags_bytes; kInvalidArgument for an empty key.
  Result<void> update_tag(std::string key, std::string value);
  Result<void> remove_tag(std::string_view key);

  // Announces a graceful departure, keeps gossiping until the announcement has been sent its
  // retransmit count or `grace` has passed, then stops. Returns at once; await_stopped() waits.
  // Does nothing once leaving or stopped.
  void leave(std::chrono::milliseconds grace = std::chrono::seconds(1));
  // Stops at once, without announcing. Idempotent.
  void stop();
  // Completes once the member has stopped. Errors: DEADLINE_EXCEEDED when `timeout` passed first;
  // CANCELLED when the awaiting operation was cancelled (Asio per-operation cancellation).
  // Suspends only the awaiting coroutine, which may run on any loop, the member's own included.
  asio::awaitable<Result<void>> await_stopped(std::chrono::milliseconds timeout = EventHub::kForever);
  // The same, blocking the calling thread (DEADLINE_EXCEEDED when `timeout` passed). A convenience for
  // main() and plain threads: never call it on an event loop, least of all the member's own.
  Result<void> wait_stopped_blocking(std::chrono::milliseconds timeout);
  bool stopped() const;

  // Snapshot of the membership, self included, sorted by id.
  std::vector<Member> members() const;
  Member self() const;
  // The bound socket address, and the address other members use.
  SocketAddress local_address() const;
  SocketAddress advertised_address() const;
  const std::string& id() const noexcept;

  // Events from now on, in a bounded queue (ClusterConfig::event_queue_capacity; the oldest are
  // dropped when full and counted by missed()). The subscription closes when the member stops.
  std::shared_ptr<EventHub::Subscription> subscribe();

  // Key rotation, applied to the running member (see key_ring.h for the three steps).
  Result<void> add_key(std::span<const std::byte> key);
  Result<void> use_key(std::span<const std::byte> key);
  Result<void> remove_key(std::span<const std::byte> key);

  MembershipCounters stats() const;

  struct State;  // implementation, shared with the event loop's handlers
  struct Owner;  // stops the member when the last handle goes

 private:
  explicit ClusterMembership(std::shared_ptr<Owner> owner);
  State& state() const noexcept;
  static void stop_state(State& state);

  // HealthChecker's access: the phi heartbeats this member records (called on the member's
  // loop with its lock held, so a listener must not call back into the member), and the loop.
  friend class HealthChecker;
  using HeartbeatListener = std::function<void(const Member& member, std::chrono::steady_clock::time_point now,
                                               std::chrono::nanoseconds expected)>;
  std::uint64_t add_heartbeat_listener(HeartbeatListener listener);
  void remove_heartbeat_listener(std::uint64_t id);
  asio::any_io_executor executor() const;
  // enable_cluster's access: the server's health listener holds the member weakly, so it never
  // keeps a member running that every handle has let go.
  friend Result<ClusterMembership> enable_cluster(RpcServer& server, ClusterConfig config, KeyRing keys);
  std::shared_ptr<Owner> owner_;
};

}  // namespace rpcnet::cluster
