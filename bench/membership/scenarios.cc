#include "membership/scenarios.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cmath>
#include <set>
#include <string>

#include "base/percentile.h"
#include "rpcnet/testing/seeded_rng.h"

namespace rpcnet::membench {
namespace {

using std::chrono::seconds;
using cluster::EventKind;

double to_s(SimDuration d) { return std::chrono::duration<double>(d).count(); }

std::atomic<bool> verbose{false};

void progress(const ClusterSim& sim, const char* what, std::size_t i = 0) {
  if (!verbose) return;
  static const auto wall_start = std::chrono::steady_clock::now();
  const double wall = to_s(std::chrono::steady_clock::now() - wall_start);
  std::fprintf(stderr, "  [%7.1f s wall] n=%zu %s %zu (sim t=%.1f s, %zu wrong pairs)\n", wall,
               sim.size(), what, i, to_s(sim.now() - testing::SimNetworkOptions{}.start),
               sim.wrong_pairs());
}

// Bootstraps p.n members; nullopt if they never reach a full view.
std::optional<double> bootstrap(ClusterSim& sim, const ScenarioParams& p) {
  return join_full_view(sim, p);
}

ClusterSimOptions sim_options(const ScenarioParams& p, std::uint64_t seed) {
  return {.n = p.n, .seed = seed, .config = p.config, .link = lan_link(),
          .max_datagram_bytes = 1400};
}

// Waits until `pending` is empty (updated by an on_event hook) or `timeout`; returns the
// seconds from `start` to the instant it emptied, or the timeout (and counts it).
void wait_for(ClusterSim& sim, const std::set<std::size_t>& pending, const SimTime& done_at,
              SimTime start, SimDuration timeout, Samples& out) {
  const SimTime end = start + timeout;
  while (!pending.empty() && sim.now() < end) {
    must(sim.net().run_until(std::min(end, sim.now() + std::chrono::milliseconds(100))));
  }
  if (pending.empty()) {
    out.values.push_back(to_s(done_at - start));
  } else {
    out.values.push_back(to_s(timeout));
    ++out.timeouts;
  }
}

}  // namespace

void set_verbose(bool on) { verbose = on; }

double percentile_or_nan(const std::vector<double>& samples, double fraction) {
  return rpcnet::percentile(samples, fraction).value_or(std::nan(""));
}

std::optional<double> join_full_view(ClusterSim& sim, const ScenarioParams& p) {
  const SimTime start = sim.now();
  sim.start_join(p.join_stagger);
  progress(sim, "join started");
  auto at = sim.run_until_converged(p.join_timeout);
  progress(sim, at ? "joined" : "join timed out");
  if (!at) return std::nullopt;
  return to_s(*at - start);
}

SteadyResult steady_and_crash(const ScenarioParams& p, SimDuration idle_window, int tag_trials,
                              int crash_trials, SimDuration trial_timeout) {
  SteadyResult result;
  const std::size_t per_cluster = std::max<std::size_t>(1, p.n / 4);
  int crashes_done = 0;
  std::uint64_t cluster_number = 0;
  while (crashes_done < crash_trials || cluster_number == 0) {
    const std::uint64_t seed = testing::SeededRng(p.seed).fork(cluster_number).seed();
    ClusterSim sim(sim_options(p, seed));
    auto joined = bootstrap(sim, p);
    if (!joined) {
      result.crash_to_dead.bootstrap_failed = true;
      if (cluster_number == 0) result.tag_dissemination.bootstrap_failed = true;
      break;
    }
    // Let the join traffic die down before measuring anything: the settle time, then until no
    // member has join updates left to gossip (bounded), so "idle" means idle.
    must(sim.net().run_for(p.settle));
    for (int extra = 0; extra < 600; ++extra) {
      std::size_t pending = 0;
      for (std::size_t i = 0; i < sim.size(); ++i) pending += sim.node(i).core().pending_broadcasts();
      if (pending == 0) break;
      must(sim.net().run_for(seconds(1)));
    }
    testing::SeededRng rng = testing::SeededRng(seed).fork(0xC0FFEE);

    if (cluster_number == 0) {
      result.join_s = joined;
      // Idle bandwidth.
      std::vector<std::uint64_t> before(sim.size());
      for (std::size_t i = 0; i < sim.size(); ++i) before[i] = sim.bytes_sent(i);
      // Nobody is crashed yet: any kNodeFailed in the idle window is a false positive.
      sim.on_event = [&](const NodeEvent& e) {
        if (e.event.kind == EventKind::kNodeFailed && e.subject < sim.size()) ++result.idle_false_positives;
      };
      for (std::size_t i = 0; i < sim.size(); ++i) {
        result.idle_pending_broadcasts += sim.node(i).core().pending_broadcasts();
      }
      progress(sim, "idle window");
      must(sim.net().run_for(idle_window));
      sim.on_event = nullptr;
      result.idle_node_hours = static_cast<double>(sim.size()) * to_s(idle_window) / 3600.0;
      double sum = 0, mx = 0;
      for (std::size_t i = 0; i < sim.size(); ++i) {
        const double rate = static_cast<double>(sim.bytes_sent(i) - before[i]) / to_s(idle_window);
        sum += rate;
        mx = std::max(mx, rate);
      }
      result.idle_bytes_per_s_mean = sum / static_cast<double>(sim.size());
      result.idle_bytes_per_s_max = mx;

      // Tag dissemination.
      for (int t = 0; t < tag_trials; ++t) {
        const std::size_t k = rng.uniform(sim.size());
        const std::string value = "v" + std::to_string(t);
        std::set<std::size_t> pending;
        for (std::size_t o = 0; o < sim.size(); ++o)
          if (o != k && sim.up(o)) pending.insert(o);
        SimTime done_at{};
        sim.on_event = [&](const NodeEvent& e) {
          if (e.subject != k || e.event.kind != EventKind::kNodeTagsUpdated) return;
          auto it = e.event.member.tags.find("rev");
          if (it == e.event.member.tags.end() || it->second != value) return;
          if (pending.erase(e.observer) && pending.empty()) done_at = e.at;
        };
        progress(sim, "tag trial", static_cast<std::size_t>(t));
        const SimTime start = sim.now();
        sim.drive(k, [&](cluster::SwimCore& core, SimTime now) {
          (void)core.update_tag("rev", value, now);
        });
        wait_for(sim, pending, done_at, start, trial_timeout, result.tag_dissemination);
        sim.on_event = nullptr;
        must(sim.net().run_for(seconds(2)));
      }
    }

    // Single crashes.
    for (std::size_t c = 0; c < per_cluster && crashes_done < crash_trials; ++c) {
      std::size_t victim = 0;
      do {
        victim = 1 + rng.uniform(sim.size() - 1);
      } while (!sim.up(victim));
      // Observers that already hold the victim failed (a phi verdict before the crash) will
      // not report it again (events.h: one kNodeFailed per transition); they count as done.
      std::set<std::size_t> pending;
      for (std::size_t o = 0; o < sim.size(); ++o)
        if (o != victim && sim.up(o) && sim.view(o, victim) == View::kAlive) pending.insert(o);
      SimTime done_at{};
      std::optional<SimTime> first;
      sim.on_event = [&](const NodeEvent& e) {
        if (e.subject != victim) return;
        if (e.event.kind != EventKind::kNodeFailed && e.event.kind != EventKind::kNodeLeft) return;
        if (!first) first = e.at;
        if (pending.erase(e.observer) && pending.empty()) done_at = e.at;
      };
      progress(sim, "crash trial", static_cast<std::size_t>(crashes_done));
      const SimTime start = sim.now();
      sim.crash(victim);
      wait_for(sim, pending, done_at, start, trial_timeout, result.crash_to_dead);
      result.first_dead.values.push_back(first ? to_s(*first - start) : to_s(trial_timeout));
      if (!first) ++result.first_dead.timeouts;
      sim.on_event = nullptr;
      ++crashes_done;
      if (c + 1 < per_cluster && crashes_done < crash_trials) must(sim.net().run_for(p.crash_gap));
    }
    result.events += sim.events_seen();
    ++cluster_number;
  }
  return result;
}

namespace {

FalsePositiveResult count_false_positives(const ScenarioParams& p, double loss,
                                          std::size_t slow_count, SimDuration delay,
                                          SimDuration duration) {
  FalsePositiveResult result;
  ClusterSim sim(sim_options(p, p.seed));
  if (!bootstrap(sim, p)) {
    result.bootstrap_failed = true;
    return result;
  }
  must(sim.net().run_for(p.settle));
  std::vector<bool> slow(sim.size(), false);
  for (std::size_t s = 0; s < slow_count && s + 1 < sim.size(); ++s) {
    // Spread over the index space, never node 0 (the seed).
    const std::size_t i = 1 + s * (sim.size() - 1) / std::max<std::size_t>(1, slow_count);
    slow[i] = true;
    // Inbound only: replies reach the slow member after its own timeouts fired (it misses its
    // deadlines), while its timers still run on time — Lifeguard's processing-delay experiment.
    must(sim.net().set_slow(sim.address(i), delay, SimDuration::zero()));
  }
  sim.net().set_loss(loss);
  sim.on_event = [&](const NodeEvent& e) {
    if (e.event.kind != EventKind::kNodeFailed || e.subject >= sim.size()) return;
    if (!sim.up(e.subject)) return;
    ++result.false_positives_all;
    if (slow[e.subject]) return;
    ++result.false_positives;
    if (e.event.member.state != cluster::MemberState::kDead) ++result.false_positives_phi;
  };
  std::uint64_t refutations = 0, suspicions = 0;
  for (std::size_t i = 0; i < sim.size(); ++i) {
    refutations += sim.node(i).core().counters().refutations;
    suspicions += sim.node(i).core().counters().suspicions_raised;
  }
  progress(sim, "steady run starts");
  must(sim.net().run_for(duration));
  progress(sim, "steady run done");
  sim.on_event = nullptr;
  for (std::size_t i = 0; i < sim.size(); ++i) {
    result.refutations += sim.node(i).core().counters().refutations;
    result.suspicions += sim.node(i).core().counters().suspicions_raised;
  }
  result.refutations -= refutations;
  result.suspicions -= suspicions;
  result.node_hours = static_cast<double>(sim.size()) * to_s(duration) / 3600.0;
  return result;
}

}  // namespace

FalsePositiveResult false_positives(const ScenarioParams& p, double loss, SimDuration duration) {
  return count_false_positives(p, loss, 0, SimDuration::zero(), duration);
}

FalsePositiveResult slow_members(const ScenarioParams& p, std::size_t slow_count,
                                 SimDuration delay, SimDuration duration) {
  return count_false_positives(p, 0.0, slow_count, delay, duration);
}

PartitionResult partition_heal(const ScenarioParams& p, SimDuration hold, SimDuration timeout) {
  PartitionResult result;
  ClusterSim sim(sim_options(p, p.seed));
  if (!bootstrap(sim, p)) {
    result.bootstrap_failed = true;
    return result;
  }
  must(sim.net().run_for(p.settle));
  const std::size_t n = sim.size();
  std::vector<std::vector<SocketAddress>> sides(2);
  for (std::size_t i = 0; i < n; ++i) sides[i % 2].push_back(sim.address(i));
  auto far_side_all_failed = [&] {
    for (std::size_t o = 0; o < n; ++o)
      for (std::size_t s = (o + 1) % 2; s < n; s += 2)
        if (sim.view(o, s) == View::kAlive || sim.view(o, s) == View::kUnknown) return false;
    return true;
  };
  const SimTime start = sim.now();
  sim.net().partition(sides);
  const SimTime heal_at = start + hold;
  while (sim.now() < heal_at) {
    must(sim.net().run_until(std::min(heal_at, sim.now() + std::chrono::milliseconds(250))));
    if (!result.far_side_dead_s && far_side_all_failed()) result.far_side_dead_s = to_s(sim.now() - start);
  }
  progress(sim, "healing");
  sim.net().heal();
  const SimTime healed = sim.now();
  if (auto at = sim.run_until_converged(timeout)) result.heal_s = std::max(0.0, to_s(*at - healed));
  return result;
}

}  // namespace rpcnet::membench
