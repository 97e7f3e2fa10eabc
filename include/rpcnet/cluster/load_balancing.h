// rpcnet/cluster/load_balancing.h — choosing a worker for the next call.
//
// Contract: WorkerSet is the sans-I/O heart of worker selection. It holds the candidate workers
// (id, RPC address, tags, health class) and per-worker load — calls in flight and a peak-EWMA
// latency estimate — and answers select(filter, now). It never reads a clock (every time is an
// argument) and draws randomness only from the RNG it was given, so a seed replays exactly.
// It is single-threaded: a driver that shares it between threads wraps it in a mutex.
//
// Selection rules, in order:
//   1. only workers whose tags match the TagFilter, and whose id is not in `exclude` (a retry
//      passes the ids it already tried so it lands on another worker);
//   2. healthy workers only; suspect ones are used only when no healthy worker is left;
//   3. among those, the strategy picks one (see LoadBalancingStrategy).
// An empty result means "no worker": the caller fails the call with kUnavailable.
//
// Latency estimate (peak EWMA, as Finagle's and Linkerd's balancers): for a sample s arriving
// Δ after the previous one, with w = exp(-Δ / tau):
//     estimate = s                          if s > estimate    (react at once to a slowdown)
//     estimate = w·estimate + (1-w)·s       otherwise          (forget it with time constant tau)
// The first sample replaces the configured initial guess. Between samples the value read for
// scoring is estimate·w (it decays toward zero), so a worker that was slow and then left idle
// is eventually tried again; its next sample restores the truth. A failed call counts as a
// sample of max(latency, failure_penalty), so a worker that fails fast does not attract traffic.
//
// Example (fragment):
//   WorkerSet workers({.strategy = LoadBalancingStrategy::kPowerOfTwoChoices}, /*seed=*/42);
//   workers.upsert({.id = "w1", .address = addr1, .tags = {{"role", "worker"}}});
//   auto filter = TagFilter::parse("role=worker");
//   if (auto w = workers.select(*filter, now)) {
//     workers.on_call_started(w->id);
//     ... call w->address ...
//     workers.on_call_finished(w->id, latency, now, /*failed=*/false);
//   }
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "rpcnet/address.h"
#include "rpcnet/cluster/member.h"
#include "rpcnet/cluster/tag_filter.h"

namespace rpcnet::cluster {

enum class LoadBalancingStrategy : std::uint8_t {
  // Exact rotation over the eligible workers in id order; a join or leave does not restart it.
  kRoundRobin,
  // Uniformly random eligible worker; stateless.
  kRandom,
  // Fewest calls in flight; ties broken uniformly at random. Blind to latency.
  kLeastConnections,
  // RECOMMENDED DEFAULT. Two distinct random eligible workers; the lower
  // (in_flight + 1) × peak-EWMA latency wins. Avoids slow and overloaded workers at O(1) cost
  // without herding every client onto the single least-loaded one.
  kPowerOfTwoChoices,
};

// "round_robin", "random", "least_connections", "p2c".
std::string_view load_balancing_strategy_name(LoadBalancingStrategy strategy) noexcept;
// Accepts the names above (and "power_of_two_choices").
// Errors: RpcError::config naming the text.
Result<LoadBalancingStrategy> parse_load_balancing_strategy(std::string_view text);

enum class WorkerHealth : std::uint8_t { kHealthy, kSuspect };

// How a membership snapshot maps onto selection: alive and locally healthy -> kHealthy; SWIM
// suspect, or alive but above the phi threshold -> kSuspect; dead or left -> nullopt (remove it).
std::optional<WorkerHealth> worker_health(const Member& member) noexcept;

struct WorkerInfo {
  std::string id;
  SocketAddress address;  // where its RPC server listens
  std::map<std::string, std::string> tags;
  WorkerHealth health = WorkerHealth::kHealthy;
  // The member's incarnation when this was read; its boot-time bits (incarnation_boot_seconds,
  // member.h) tell a restarted worker from one that only refuted a suspicion or changed tags.
  std::uint64_t incarnation = 0;
  friend bool operator==(const WorkerInfo&, const WorkerInfo&) = default;
};

struct WorkerLoad {
  std::uint32_t in_flight = 0;
  // The estimate as stored at the last sample (not decayed to `now`).
  std::chrono::nanoseconds latency_estimate{0};
  bool sampled = false;  // false: latency_estimate is still the configured initial guess
  std::uint64_t calls = 0;
  std::uint64_t failures = 0;
};

struct LoadBalancerConfig {
  LoadBalancingStrategy strategy = LoadBalancingStrategy::kPowerOfTwoChoices;
  // Peak-EWMA time constant: how long a latency spike keeps weighing on a worker.
  std::chrono::nanoseconds ewma_tau = std::chrono::seconds(10);
  // Latency assumed for a worker before its first reply. Low on purpose: a new worker gets
  // probed quickly, and its first (higher) sample replaces the guess at once.
  std::chrono::nanoseconds initial_latency = std::chrono::milliseconds(1);
  // Minimum latency a failed call counts as; zero counts failures at their real latency.
  std::chrono::nanoseconds failure_penalty = std::chrono::milliseconds(100);
};

class WorkerSet {
 public:
  // Returns 64 uniformly random bits per call.
  using Rng = std::function<std::uint64_t()>;

  // The WorkerSet's own deterministic PRNG, seeded with `seed`.
  WorkerSet(LoadBalancerConfig config, std::uint64_t seed);
  WorkerSet(LoadBalancerConfig config, Rng rng);

  // Adds a worker or updates its address, tags, health and incarnation. Load stats survive an
  // update.
  void upsert(WorkerInfo worker);
  // Forgets the worker and its stats. Returns false if it was unknown.
  bool remove(std::string_view id);
  // Returns false if the worker is unknown.
  bool set_suspect(std::string_view id, bool suspect);

  // The chosen worker (a copy), or nullopt when no healthy or suspect worker matches.
  std::optional<WorkerInfo> select(const TagFilter& filter, Time now,
                                   const std::set<std::string>& exclude = {});

  // Bracket every call to a selected worker. Unknown ids are ignored (the worker may have been
  // removed meanwhile); in_flight never goes below zero.
  void on_call_started(std::string_view id);
  void on_call_finished(std::string_view id, std::chrono::nanoseconds latency, Time now, bool failed);

  std::optional<WorkerLoad> load(std::string_view id) const;
  // The latency a strategy would use for this worker at `now` (decayed estimate).
  std::optional<std::chrono::nanoseconds> latency_estimate(std::string_view id, Time now) const;
  std::optional<WorkerInfo> find(std::string_view id) const;
  std::vector<WorkerInfo> workers() const;  // sorted by id
  std::size_t size() const noexcept { return workers_.size(); }
  const LoadBalancerConfig& config() const noexcept { return config_; }

 private:
  struct Entry {
    WorkerInfo info;
    std::uint32_t in_flight = 0;
    double estimate_ns = 0;
    std::optional<Time> sampled_at;
    std::uint64_t calls = 0;
    std::uint64_t failures = 0;
  };
  using Map = std::map<std::string, Entry, std::less<>>;

  double score_ns(const Entry& e, Time now) const;
  std::uint64_t below(std::uint64_t bound);
  const Entry* pick(const std::vector<const Entry*>& candidates, const TagFilter& filter, Time now);

  LoadBalancerConfig config_;
  Rng rng_;
  Map workers_;
  // Round robin: last id served, per filter (to_string()), so two filters do not starve each
  // other. Bounded: cleared when it would exceed kMaxCursors.
  std::map<std::string, std::string, std::less<>> cursors_;
  static constexpr std::size_t kMaxCursors = 256;
};

}  // namespace rpcnet::cluster
