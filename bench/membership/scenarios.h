// scenarios.h — the membership scenarios of issue 4 (research/membership.md §10.3), each run
// in virtual time on a ClusterSim. Every function is deterministic in its parameters (seed
// included) and bounded in virtual time; wall time scales with n × simulated seconds.
//
// Definitions (§10.2), "marks dead" meaning a kNodeFailed event (SWIM dead, or phi crossing,
// whichever that observer reported first — events.h):
//   crash_to_dead     crash instant -> the LAST live member marks the victim dead (M2, p=100)
//   first_dead        crash instant -> the FIRST live member marks it dead (M1)
//   false positives   kNodeFailed events (observer, subject) whose subject is running and not
//                     degraded (M3 at healthy subjects), over a stated number of node-hours
//   tag dissemination update_tag() at one member -> every other live member has seen that value
//   join full view    first join() call -> every member sees every member alive (M6 / S4)
//   idle bytes        bytes offered to the network per member per second in a converged cluster
//   partition heal    connectivity restored -> every member sees every member alive (M11)
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "membership/cluster_sim.h"

namespace rpcnet::membench {

struct ScenarioParams {
  std::size_t n = 3;
  std::uint64_t seed = 1;
  cluster::ClusterConfig config = cluster::ClusterConfig::Lan();
  // Bound for bootstrapping (join to a full view) before the measured part starts.
  SimDuration join_timeout = std::chrono::seconds(600);
  // Join calls spread uniformly over this window; 0: all N-1 join at the same instant (the
  // harshest join storm; S4 allows "within 10 s").
  SimDuration join_stagger = std::chrono::seconds(0);
  // Quiet time after the bootstrap converged, before anything is measured.
  SimDuration settle = std::chrono::seconds(10);
  // Quiet time after each crash trial, before the next crash.
  SimDuration crash_gap = std::chrono::seconds(5);
};

// Samples in seconds; `timeouts` counts trials that hit their bound (their samples hold the bound).
struct Samples {
  std::vector<double> values;
  std::size_t timeouts = 0;
  bool bootstrap_failed = false;
};

// Percentile of `samples` (fraction in [0, 1]), NaN for none: nearest rank, base/percentile.h.
double percentile_or_nan(const std::vector<double>& samples, double fraction);

// Progress lines on stderr (phase, n, simulated and wall seconds); off by default.
void set_verbose(bool on);

// S4. Seconds from the first join to a full alive view everywhere; nullopt on timeout.
std::optional<double> join_full_view(ClusterSim& sim, const ScenarioParams& p);

struct SteadyResult {
  std::optional<double> join_s;
  double idle_bytes_per_s_mean = 0;   // per member
  double idle_bytes_per_s_max = 0;
  std::uint64_t idle_false_positives = 0;  // kNodeFailed events in the idle window (no loss)
  double idle_node_hours = 0;
  // Updates still queued for gossip, summed over members, when the idle window opened (0 means
  // the join's dissemination had drained and the window is truly idle).
  std::uint64_t idle_pending_broadcasts = 0;
  Samples tag_dissemination;          // one sample per update
  Samples crash_to_dead;              // last observer
  Samples first_dead;                 // first observer
  std::uint64_t events = 0;
};

// S0 + S4 + S12 + S1 on one cluster: bootstrap, an idle window, `tag_trials` tag updates, then
// `crash_trials` single crashes. Crashes are sequential within one cluster (victim never the
// seed); a cluster takes at most max(1, n/4) crashes, then a fresh one (new seed) is built.
SteadyResult steady_and_crash(const ScenarioParams& p, SimDuration idle_window, int tag_trials,
                              int crash_trials, SimDuration trial_timeout);

struct FalsePositiveResult {
  bool bootstrap_failed = false;
  std::uint64_t false_positives = 0;      // kNodeFailed about healthy subjects
  std::uint64_t false_positives_all = 0;  // about any running subject (degraded ones too)
  std::uint64_t false_positives_phi = 0;  // of false_positives: the member was not SWIM-dead
                                          // (the phi detector fired first)
  double node_hours = 0;
  std::uint64_t refutations = 0;          // sum of MembershipCounters::refutations
  std::uint64_t suspicions = 0;           // sum of MembershipCounters::suspicions_raised
};

// S5. Converge, then run `duration` with uniform loss `loss` on every link.
FalsePositiveResult false_positives(const ScenarioParams& p, double loss, SimDuration duration);

// S7. Converge, then make `slow_count` members (never the seed) process every inbound packet
// `delay` late (their timers stay on time, so they miss their own probe deadlines), and run
// `duration`. Lifeguard on/off comes from p.config.lifeguard.
FalsePositiveResult slow_members(const ScenarioParams& p, std::size_t slow_count,
                                 SimDuration delay, SimDuration duration);

struct PartitionResult {
  bool bootstrap_failed = false;
  std::optional<double> far_side_dead_s;  // partition -> each side marks the other dead
  std::optional<double> heal_s;           // heal -> single full alive view
};

// S10. 50/50 (even / odd indices), held `hold`, then healed.
PartitionResult partition_heal(const ScenarioParams& p, SimDuration hold, SimDuration timeout);

}  // namespace rpcnet::membench
