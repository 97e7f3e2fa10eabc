// cluster_sim.h — N SwimCore instances wired into one SimNetwork, with every node's view of
// every other node tracked from its events (membench's and tests/sim's harness).
//
// Each node is a SwimNode: a SimNode adapter that feeds the core and, after every input,
// drains poll_datagram() into SimNetwork::send and poll_event() into ClusterSim::record. From
// the events, ClusterSim keeps a view matrix view(observer, subject) ∈ {unknown, alive, failed,
// left}: kNodeJoined/kNodeRecovered => alive, kNodeFailed => failed (SWIM dead or phi, whichever
// came first — what an application sees), kNodeLeft => left. Self is always alive.
// `converged()` is true when every running node sees exactly the running nodes alive; the count
// of pairs still wrong is kept incrementally, so checking it is O(1) and the instant it becomes
// zero is recorded exactly.
//
// Everything is deterministic: node i's core is seeded with fork(i) of the cluster seed, the
// network with fork(kNetworkStream).
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster/swim_core.h"
#include "rpcnet/cluster/cluster_config.h"
#include "rpcnet/testing/sim_network.h"

namespace rpcnet::membench {

using testing::SimDuration;
using testing::SimTime;

// A simulated-network step that cannot fail in a correct scenario (a registered node, an event
// budget no run reaches): a failure is a bug in the bench, so it stops the run loudly.
inline void must(const Result<void>& done) {
  if (done) return;
  std::fprintf(stderr, "membench: %s\n", done.error().to_string().c_str());
  std::abort();
}

enum class View : std::uint8_t { kUnknown, kAlive, kFailed, kLeft };

struct NodeEvent {
  SimTime at;
  std::size_t observer;
  std::size_t subject;  // == size() for partition events
  const cluster::ClusterEvent& event;
};

// The LAN link of the scenarios: 0.8 ms + U[0, 0.4 ms] one way (netem "1ms 200us"-like).
testing::LinkConfig lan_link(double loss = 0.0);

struct ClusterSimOptions {
  std::size_t n = 3;
  std::uint64_t seed = 1;
  cluster::ClusterConfig config = cluster::ClusterConfig::Lan();  // node_id/bind are per node
  testing::LinkConfig link = lan_link();
  std::size_t max_datagram_bytes = 1400;
};

class ClusterSim;

class SwimNode : public testing::SimNode {
 public:
  SwimNode(ClusterSim& owner, std::size_t index, cluster::SwimCore core);
  void on_datagram(const SocketAddress& from, std::span<const std::byte> bytes,
                   SimTime now) override;
  void on_timer(SimTime now) override;
  SimTime next_deadline() const override;
  // Drains outputs after the harness drove the core directly (join, update_tag, ...).
  void drain(SimTime now);

  cluster::SwimCore& core() { return core_; }

 private:
  ClusterSim& owner_;
  std::size_t index_;
  cluster::SwimCore core_;
};

class ClusterSim {
 public:
  explicit ClusterSim(ClusterSimOptions options);
  ~ClusterSim();

  std::size_t size() const { return nodes_.size(); }
  testing::SimNetwork& net() { return net_; }
  SimTime now() const { return net_.now(); }
  const SocketAddress& address(std::size_t i) const { return addresses_[i]; }
  const std::string& id(std::size_t i) const { return ids_[i]; }
  SwimNode& node(std::size_t i) { return *nodes_[i]; }
  bool up(std::size_t i) const { return up_[i]; }
  std::size_t up_count() const { return up_count_; }

  // Node 0 starts alone; every other node calls join({node 0}) at a time drawn uniformly from
  // [now, now + stagger).
  void start_join(SimDuration stagger = SimDuration::zero());
  // Runs until converged() or `timeout` elapses; returns the convergence instant if reached.
  std::optional<SimTime> run_until_converged(SimDuration timeout);
  bool converged() const { return wrong_pairs_ == 0; }
  // The last instant `wrong_pairs` went to zero (valid while converged()).
  SimTime converged_at() const { return converged_at_; }
  std::size_t wrong_pairs() const { return wrong_pairs_; }

  View view(std::size_t observer, std::size_t subject) const {
    return views_[observer * size() + subject];
  }

  void crash(std::size_t i);
  // A fresh process with the same id and address (new core, empty view), joining via `seed`.
  void restart(std::size_t i, std::size_t seed_node);
  // Calls `fn` on node i's core at now(), then drains and re-arms it.
  void drive(std::size_t i, const std::function<void(cluster::SwimCore&, SimTime)>& fn);

  // Observer of every event, after the view matrix was updated.
  std::function<void(const NodeEvent&)> on_event;
  std::uint64_t events_seen() const { return events_seen_; }

  // Bytes every node offered to the network since the start (SimNetwork counters).
  std::uint64_t bytes_sent(std::size_t i) const { return net_.counters(addresses_[i]).bytes_sent; }

  // Internal: SwimNode forwards its events here.
  void record(std::size_t observer, SimTime at, const cluster::ClusterEvent& event);

 private:
  std::unique_ptr<SwimNode> make_node(std::size_t i, std::uint64_t incarnation_salt);
  void set_view(std::size_t observer, std::size_t subject, View v);
  bool pair_wrong(std::size_t observer, std::size_t subject) const;
  void recount();

  ClusterSimOptions options_;
  testing::SimNetwork net_;
  std::vector<SocketAddress> addresses_;
  std::vector<std::string> ids_;
  std::vector<std::unique_ptr<SwimNode>> nodes_;
  std::vector<std::unique_ptr<SwimNode>> retired_;  // crashed processes, kept until the end
  std::vector<bool> up_;
  std::size_t up_count_ = 0;
  std::vector<View> views_;
  std::size_t wrong_pairs_ = 0;
  SimTime converged_at_{};
  std::uint64_t events_seen_ = 0;
  std::uint64_t restarts_ = 0;
};

// Parses "node-000123" back to 123 (ids are made by ClusterSim); nullopt otherwise.
std::optional<std::size_t> index_of(const std::string& id);

}  // namespace rpcnet::membench
