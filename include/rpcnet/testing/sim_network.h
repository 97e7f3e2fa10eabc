// rpcnet/testing/sim_network.h — a deterministic, discrete-event simulated UDP network.
//
// Contract:
// - Virtual time. Nothing here reads a clock, sleeps or spawns a thread; time moves only inside
//   step()/run_until()/run_for(), from one queued event to the next.
// - Deterministic. Events run in (time, sequence-number) order, every random draw comes from one
//   SeededRng seeded by SimNetworkOptions::seed, and no container is iterated in an
//   address-dependent order. The same seed, nodes and calls give the same run, which
//   transcript_hash() (FNV-1a over every delivery and drop: time, from, to, size) lets a test
//   assert; a different seed gives a different transcript.
// - Nodes are addressed by rpcnet::SocketAddress and implement SimNode. A node sends by calling
//   SimNetwork::send() — from inside its callbacks, or from a driver right after it was called.
//   After every callback the network asks the node for next_deadline() and (re)arms its timer;
//   after driving a node from outside (e.g. calling join() on it), call reschedule(address).
// - Link model, per directed pair (default, overridable per link): a packet is lost with
//   probability `loss`, otherwise it arrives after `delay` plus a jitter uniform in [0, jitter]
//   (so packets on one link may be reordered when jitter > 0). Oversize packets are dropped.
// - Faults: partition(groups) drops every packet between different groups (checked when the
//   packet is sent; nodes in no group form one more group together) until heal(); crash(a)
//   stops a node's timers and drops every packet that reaches it, restart(a) brings it back
//   (optionally as a new SimNode object: a restarted process); set_slow(a, inbound, timers)
//   delays the node's packet processing and its timers, modelling an overloaded host (with
//   inbound > timers it misses its own deadlines).
// - Bounded: run_until() processes at most SimNetworkOptions::max_events_per_run events and
//   fails with RESOURCE_EXHAUSTED if that budget ran out before the target time (a runaway node).
// - Failures are Results: adding a registered address (ALREADY_EXISTS), naming an unknown one
//   (NOT_FOUND), crashing a crashed node or restarting a running one (FAILED_PRECONDITION), a
//   negative slowdown (INVALID_ARGUMENT). Queries (has_node, is_up, step) return bool.
// - Nodes are not owned and must outlive their registration (or be removed / replaced).
//
// Example (fragment; tests/sim/sim_network_test.cc has a complete ping/pong node):
//   rpcnet::testing::SimNetwork net({.seed = 7});
//   net.set_loss(0.01);
//   ASSERT_TRUE(net.add_node(a_addr, a));  ASSERT_TRUE(net.add_node(b_addr, b));
//   net.send(a_addr, b_addr, bytes);            // arrives after the link's delay
//   ASSERT_TRUE(net.run_for(std::chrono::seconds(10)));
//   EXPECT_EQ(net.counters(b_addr).packets_received, 1u);
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <utility>
#include <vector>

#include "rpcnet/address.h"
#include "rpcnet/result.h"
#include "rpcnet/testing/manual_clock.h"
#include "rpcnet/testing/seeded_rng.h"

namespace rpcnet::testing {

using SimTime = std::chrono::steady_clock::time_point;
using SimDuration = std::chrono::nanoseconds;

// What a simulated host runs: typically an adapter around a sans-I/O core that forwards the
// core's outgoing datagrams to SimNetwork::send().
class SimNode {
 public:
  virtual ~SimNode() = default;
  virtual void on_datagram(const SocketAddress& from, std::span<const std::byte> bytes,
                           SimTime now) = 0;
  virtual void on_timer(SimTime now) = 0;
  // SimTime::max() means "no timer armed".
  virtual SimTime next_deadline() const = 0;
};

struct LinkConfig {
  double loss = 0.0;          // probability that one packet is dropped, 0..1
  SimDuration delay{0};       // base one-way delay
  SimDuration jitter{0};      // extra delay, uniform in [0, jitter]
};

// Per node. "sent" counts what the node offered to the network; the drop counters say what
// became of its packets; "received" counts what was handed to the node.
struct SimCounters {
  std::uint64_t packets_sent = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t packets_received = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t dropped_loss = 0;
  std::uint64_t dropped_partition = 0;
  std::uint64_t dropped_unreachable = 0;  // destination crashed or not registered on arrival
  std::uint64_t dropped_oversize = 0;
  std::uint64_t timers_fired = 0;
};

struct SimNetworkOptions {
  std::uint64_t seed = 1;
  SimTime start = ManualClock::kDefaultStart;
  LinkConfig link{};                              // default for every directed pair
  std::size_t max_datagram_bytes = 65507;         // larger packets are dropped (dropped_oversize)
  std::uint64_t max_events_per_run = 100'000'000; // bound per run_until()/run_for() call
};

class SimNetwork {
 public:
  explicit SimNetwork(SimNetworkOptions options = {});
  SimNetwork(const SimNetwork&) = delete;
  SimNetwork& operator=(const SimNetwork&) = delete;

  SimTime now() const { return now_; }

  // ---- nodes -----------------------------------------------------------------------------
  // Registers a running node; fails if the address is already registered.
  Result<void> add_node(const SocketAddress& address, SimNode& node);
  // Forgets the node (its counters too); packets to it are then dropped as unreachable.
  Result<void> remove_node(const SocketAddress& address);
  [[nodiscard]] bool has_node(const SocketAddress& address) const;
  [[nodiscard]] bool is_up(const SocketAddress& address) const;
  // Re-reads the node's next_deadline(); call after driving the node from outside a callback.
  void reschedule(const SocketAddress& address);

  // Queues `bytes` from `from` to `to` at now(). A sender that is registered but crashed
  // sends nothing. Unregistered senders are allowed (useful for injecting forged packets).
  void send(const SocketAddress& from, const SocketAddress& to, std::span<const std::byte> bytes);

  // Runs `action` at virtual time `at` (or now(), if `at` is in the past), in order with the
  // network's own events: the way to script faults in the middle of a run.
  void schedule(SimTime at, std::function<void()> action);

  // ---- faults ----------------------------------------------------------------------------
  void set_default_link(const LinkConfig& link) { options_.link = link; }
  void set_loss(double loss) { options_.link.loss = loss; }
  // Overrides the default for the directed link from -> to.
  void set_link(const SocketAddress& from, const SocketAddress& to, const LinkConfig& link);
  void clear_link(const SocketAddress& from, const SocketAddress& to);
  void partition(const std::vector<std::vector<SocketAddress>>& groups);
  void heal();
  Result<void> crash(const SocketAddress& address);
  // Brings a crashed node back, as `replacement` when given (a new process on the same address).
  Result<void> restart(const SocketAddress& address, SimNode* replacement = nullptr);
  // Delays the node's inbound processing and its timers by `extra` (zero: back to normal). The
  // node's own sense of order is kept: a reply still beats the timeout that guards it.
  Result<void> set_slow(const SocketAddress& address, SimDuration extra) {
    return set_slow(address, extra, extra);
  }
  // Delays inbound processing by `inbound` and timers by `timers`. With inbound > timers the
  // node misses its own deadlines — replies are handled after the timeouts guarding them fire,
  // like a host whose receive path is starved (Lifeguard's message-processing delay).
  Result<void> set_slow(const SocketAddress& address, SimDuration inbound, SimDuration timers);

  // ---- running ---------------------------------------------------------------------------
  // Runs the earliest pending event; false if none is pending.
  [[nodiscard]] bool step();
  // Runs every event due at or before `t`, then sets now() to `t`. Fails if the event budget
  // ran out first (now() is then the time of the last event run).
  Result<void> run_until(SimTime t);
  Result<void> run_for(SimDuration d) { return run_until(now_ + d); }

  // ---- observation -----------------------------------------------------------------------
  // Zeroes for an unregistered address.
  const SimCounters& counters(const SocketAddress& address) const;
  SimCounters totals() const;
  std::uint64_t transcript_hash() const { return transcript_; }
  std::uint64_t events_processed() const { return events_processed_; }
  std::size_t pending_events() const { return queue_.size(); }

 private:
  enum class EventKind : std::uint8_t { kArrive, kProcess, kTimer, kAction };
  struct Event {
    SimTime at;
    std::uint64_t seq;
    EventKind kind;
    SocketAddress from;
    SocketAddress to;  // the node, for kArrive/kProcess/kTimer
    std::uint64_t generation = 0;
    std::vector<std::byte> bytes;
    std::function<void()> action;
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.at != b.at ? a.at > b.at : a.seq > b.seq;
    }
  };
  struct NodeEntry {
    SimNode* node = nullptr;
    bool up = true;
    SimDuration slow_inbound{0};
    SimDuration slow_timers{0};
    int group = 0;
    std::uint64_t timer_generation = 0;
    SimTime timer_at = SimTime::max();
    SimCounters counters;
  };

  void push(Event event);
  void run_event(Event& event);
  void deliver(Event& event);
  void arm_timer(NodeEntry& entry, const SocketAddress& address);
  const LinkConfig& link_for(const SocketAddress& from, const SocketAddress& to) const;
  void record(std::uint8_t tag, const SocketAddress& from, const SocketAddress& to,
              std::size_t size);

  SimNetworkOptions options_;
  SimTime now_;
  SeededRng rng_;
  std::uint64_t next_seq_ = 0;
  std::uint64_t events_processed_ = 0;
  std::uint64_t transcript_ = 0xcbf29ce484222325ULL;
  std::vector<Event> queue_;  // a binary heap ordered by Later
  std::map<SocketAddress, NodeEntry> nodes_;
  std::map<std::pair<SocketAddress, SocketAddress>, LinkConfig> links_;
};

}  // namespace rpcnet::testing
