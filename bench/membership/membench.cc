// membench — the membership benchmark (issue 4): SwimCore instances in the deterministic
// simulator (rpcnet::testing::SimNetwork), LAN preset, the scenarios of
// research/membership.md §10.3, for N = 3, 32, 256, 1000. Writes
// {"rows":[{"n":32,"metric":"crash_to_dead_all_p99_s","value":...},...], "meta":{...}}.
//
//   rpcnet_membench                       # the full plan (`make membench`)
//   rpcnet_membench --quick               # small CI plan: N=3,32, fewer trials, shorter runs
//   rpcnet_membench --sizes 32 --only crash,fp --json /tmp/m.json
//
// Independent simulations run on --jobs threads (one simulation never spans threads, so a
// result depends only on its seed, never on the scheduling).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "membership/scenarios.h"

namespace {

using namespace rpcnet::membench;
using std::chrono::minutes;
using std::chrono::seconds;

struct Row {
  std::size_t n;
  std::string metric;
  double value;
};

// What runs at each size. The simulated cost of one SwimCore step grows with n (at n=1000 the
// core spends most of its time in O(n) member scans), so the large sizes get fewer trials and
// shorter runs; every reduction is recorded in the JSON (trial counts, node-hours, sim seconds)
// and in doc/membership.md. Raise them with the override flags when there is time.
struct Plan {
  int crash_trials;
  int tag_trials;
  SimDuration idle_window;
  SimDuration settle;
  SimDuration fp_duration;
  SimDuration lifeguard_duration;
  SimDuration slow_delay;
  std::size_t slow_count;
  SimDuration partition_hold;
  SimDuration partition_timeout;
};

Plan plan_for(std::size_t n, bool quick) {
  Plan p{};
  p.crash_trials = 50;
  p.tag_trials = 20;
  p.idle_window = seconds(60);
  p.settle = seconds(10);
  p.fp_duration = minutes(60);
  p.lifeguard_duration = minutes(20);
  p.slow_delay = seconds(1);
  // The same share (1 in 16) at every size: a fixed count would make the experiment milder as the
  // cluster grows and the measured cut would say more about the dose than about Lifeguard.
  p.slow_count = std::max<std::size_t>(1, n / 16);
  p.partition_hold = seconds(60);
  p.partition_timeout = seconds(600);
  if (n >= 256) {
    p.crash_trials = 20;
    p.tag_trials = 10;
    p.lifeguard_duration = minutes(10);
    p.partition_timeout = seconds(300);
  }
  if (n >= 1000) {
    // About 0.3 s of wall time per simulated second: the hour-long false-positive runs
    // (1000 node-hours per loss level) and the 20-minute Lifeguard runs (plain SWIM yields about
    // one false positive per simulated minute here, so shorter runs cannot show a 20x cut).
    p.crash_trials = 10;
    p.tag_trials = 5;
    p.idle_window = seconds(30);
    p.settle = seconds(2);
    p.lifeguard_duration = minutes(20);
    p.partition_timeout = seconds(300);
  }
  if (quick) {
    p.crash_trials = std::min(p.crash_trials, 10);
    p.tag_trials = std::min(p.tag_trials, 5);
    p.fp_duration = std::min<SimDuration>(p.fp_duration, minutes(10));
    p.lifeguard_duration = std::min<SimDuration>(p.lifeguard_duration, minutes(5));
  }
  return p;
}

struct Job {
  std::string name;
  std::size_t n;
  double cost;  // rough, for scheduling the longest first
  std::function<std::vector<Row>()> run;
};

std::string fmt(double v) {
  if (!std::isfinite(v)) return "null";
  std::ostringstream out;
  out.precision(6);
  out << v;
  return out.str();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"membench: SWIM/Lifeguard membership in the deterministic simulator"};
  std::vector<std::size_t> sizes{3, 32, 256, 1000};
  bool quick = false;
  unsigned jobs = std::max(1u, std::thread::hardware_concurrency());
  std::string json_path = "bench/results/membership.json";
  std::uint64_t seed = 1;
  std::vector<std::string> only;
  app.add_option("--sizes", sizes, "cluster sizes")->delimiter(',');
  app.add_flag("--quick", quick, "CI plan: N=3,32 unless --sizes, fewer trials, shorter runs");
  app.add_option("--jobs", jobs, "simulations run in parallel")->check(CLI::Range(1u, 64u));
  app.add_option("--json", json_path, "output file");
  app.add_option("--seed", seed, "base seed");
  app.add_option("--only", only, "scenarios: steady,fp,partition,lifeguard")->delimiter(',');
  int crash_trials = 0, tag_trials = 0;
  double fp_minutes = 0, lifeguard_minutes = 0, slow_delay_s = 0;
  std::size_t slow_count = 0;
  app.add_option("--crash-trials", crash_trials, "override: crash trials per size");
  app.add_option("--tag-trials", tag_trials, "override: tag updates per size");
  app.add_option("--fp-minutes", fp_minutes, "override: simulated minutes per loss level");
  app.add_option("--lifeguard-minutes", lifeguard_minutes, "override: simulated minutes per Lifeguard run");
  app.add_option("--slow-delay", slow_delay_s, "override: processing delay of slow members (s)");
  app.add_option("--slow-count", slow_count, "override: number of slow members per Lifeguard run");
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "progress lines on stderr");
  CLI11_PARSE(app, argc, argv);
  set_verbose(verbose);
  if (quick && app.count("--sizes") == 0) sizes = {3, 32};
  auto wanted = [&](const std::string& s) {
    return only.empty() || std::find(only.begin(), only.end(), s) != only.end();
  };

  std::vector<Job> plan;
  for (std::size_t n : sizes) {
    Plan pl = plan_for(n, quick);
    if (crash_trials > 0) pl.crash_trials = crash_trials;
    if (tag_trials > 0) pl.tag_trials = tag_trials;
    if (fp_minutes > 0) pl.fp_duration = std::chrono::duration_cast<SimDuration>(std::chrono::duration<double, std::ratio<60>>(fp_minutes));
    if (lifeguard_minutes > 0) pl.lifeguard_duration = std::chrono::duration_cast<SimDuration>(std::chrono::duration<double, std::ratio<60>>(lifeguard_minutes));
    if (slow_count > 0) pl.slow_count = slow_count;
    if (slow_delay_s > 0) pl.slow_delay = std::chrono::duration_cast<SimDuration>(std::chrono::duration<double>(slow_delay_s));
    ScenarioParams base;
    base.n = n;
    base.seed = seed * 1'000'003 + n;
    base.join_timeout = seconds(n >= 1000 ? 900 : 600);
    base.settle = pl.settle;
    const double nn = static_cast<double>(n);
    if (wanted("steady")) {
      plan.push_back({"steady+crash", n, nn * (pl.crash_trials * 30.0 + 200), [=] {
        const SteadyResult r = steady_and_crash(base, pl.idle_window, pl.tag_trials,
                                                pl.crash_trials, seconds(120));
        std::vector<Row> rows;
        rows.push_back({n, "join_full_view_s", r.join_s ? *r.join_s : std::nan("")});
        rows.push_back({n, "idle_bytes_per_s_per_member", r.idle_bytes_per_s_mean});
        rows.push_back({n, "idle_bytes_per_s_max_member", r.idle_bytes_per_s_max});
        rows.push_back({n, "false_positives_idle_window", static_cast<double>(r.idle_false_positives)});
        rows.push_back({n, "idle_window_node_hours", r.idle_node_hours});
        rows.push_back({n, "idle_window_s", std::chrono::duration<double>(pl.idle_window).count()});
        rows.push_back({n, "idle_pending_broadcasts_at_start", static_cast<double>(r.idle_pending_broadcasts)});
        rows.push_back({n, "tag_dissemination_all_s", percentile_or_nan(r.tag_dissemination.values, 0.50)});
        rows.push_back({n, "tag_dissemination_all_max_s", percentile_or_nan(r.tag_dissemination.values, 1.00)});
        rows.push_back({n, "tag_dissemination_timeouts", static_cast<double>(r.tag_dissemination.timeouts)});
        rows.push_back({n, "crash_to_dead_all_p50_s", percentile_or_nan(r.crash_to_dead.values, 0.50)});
        rows.push_back({n, "crash_to_dead_all_p99_s", percentile_or_nan(r.crash_to_dead.values, 0.99)});
        rows.push_back({n, "crash_to_dead_all_max_s", percentile_or_nan(r.crash_to_dead.values, 1.00)});
        rows.push_back({n, "crash_to_first_dead_p50_s", percentile_or_nan(r.first_dead.values, 0.50)});
        rows.push_back({n, "crash_trials", static_cast<double>(r.crash_to_dead.values.size())});
        rows.push_back({n, "tag_trials", static_cast<double>(r.tag_dissemination.values.size())});
        rows.push_back({n, "crash_timeouts", static_cast<double>(r.crash_to_dead.timeouts)});
        return rows;
      }});
    }
    if (wanted("fp")) {
      for (int loss_pct : {0, 1, 10}) {
        plan.push_back({"fp loss " + std::to_string(loss_pct) + "%", n,
                        nn * std::chrono::duration<double>(pl.fp_duration).count() * (1 + loss_pct / 100.0),
                        [=] {
          const FalsePositiveResult r = false_positives(base, loss_pct / 100.0, pl.fp_duration);
          const std::string suffix = "_loss" + std::to_string(loss_pct);
          std::vector<Row> rows;
          rows.push_back({n, "false_positives_healthy" + suffix,
                          r.bootstrap_failed ? std::nan("") : static_cast<double>(r.false_positives)});
          rows.push_back({n, "false_positives_node_hours" + suffix, r.node_hours});
          rows.push_back({n, "false_positives_by_phi" + suffix, static_cast<double>(r.false_positives_phi)});
          rows.push_back({n, "suspicions" + suffix, static_cast<double>(r.suspicions)});
          rows.push_back({n, "refutations" + suffix, static_cast<double>(r.refutations)});
          return rows;
        }});
      }
    }
    if (wanted("partition")) {
      plan.push_back({"partition", n, nn * 250.0, [=] {
        const PartitionResult r = partition_heal(base, pl.partition_hold, pl.partition_timeout);
        std::vector<Row> rows;
        rows.push_back({n, "partition_far_side_dead_s", r.far_side_dead_s ? *r.far_side_dead_s : std::nan("")});
        rows.push_back({n, "partition_heal_single_view_s", r.heal_s ? *r.heal_s : std::nan("")});
        return rows;
      }});
    }
    if (wanted("lifeguard")) {
      // The headline delay, plus (at N=32, the calibration size) a sweep of S7's delays whose
      // rows carry a "_d<seconds>" suffix.
      std::vector<std::pair<SimDuration, std::string>> delays{{pl.slow_delay, ""}};
      if (n == 32 && !quick) {
        for (int ms : {500, 2000, 4000, 8000}) {
          delays.emplace_back(std::chrono::milliseconds(ms), "_d" + fmt(ms / 1000.0));
        }
      }
      for (const auto& [delay, tag] : delays) {
        for (bool on : {true, false}) {
          plan.push_back({std::string("lifeguard ") + (on ? "on" : "off") + tag, n,
                          nn * std::chrono::duration<double>(pl.lifeguard_duration).count(),
                          [=, delay = delay, tag = tag] {
            ScenarioParams p = base;
            p.config.lifeguard = on;
            const FalsePositiveResult r = slow_members(p, pl.slow_count, delay, pl.lifeguard_duration);
            const std::string s = (on ? "_on" : "_off") + tag;
            std::vector<Row> rows;
            rows.push_back({n, "lifeguard_fp_healthy" + s,
                            r.bootstrap_failed ? std::nan("") : static_cast<double>(r.false_positives)});
            rows.push_back({n, "lifeguard_fp_all" + s, static_cast<double>(r.false_positives_all)});
            rows.push_back({n, "lifeguard_fp_healthy_by_phi" + s, static_cast<double>(r.false_positives_phi)});
            rows.push_back({n, "lifeguard_slow_members", static_cast<double>(pl.slow_count)});
            rows.push_back({n, "lifeguard_slow_delay_s" + tag, std::chrono::duration<double>(delay).count()});
            rows.push_back({n, "lifeguard_sim_s", std::chrono::duration<double>(pl.lifeguard_duration).count()});
            return rows;
          }});
        }
      }
    }
  }
  // Longest first (cost grows about with n squared), so the big simulation never starts last.
  std::stable_sort(plan.begin(), plan.end(), [](const Job& a, const Job& b) {
    return a.cost * static_cast<double>(a.n) > b.cost * static_cast<double>(b.n);
  });

  std::mutex mu;
  std::vector<Row> rows;
  std::vector<std::pair<std::string, double>> wall;
  std::atomic<std::size_t> next{0};
  const auto started = std::chrono::steady_clock::now();
  auto worker = [&] {
    for (std::size_t j = next++; j < plan.size(); j = next++) {
      const auto t0 = std::chrono::steady_clock::now();
      std::vector<Row> got = plan[j].run();
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::lock_guard lock(mu);
      rows.insert(rows.end(), got.begin(), got.end());
      wall.emplace_back("n=" + std::to_string(plan[j].n) + " " + plan[j].name, secs);
      std::fprintf(stderr, "membench: n=%zu %-14s %7.1f s wall\n", plan[j].n, plan[j].name.c_str(), secs);
    }
  };
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < std::min<unsigned>(jobs, static_cast<unsigned>(plan.size())); ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  // Derived: the Lifeguard factor, off / max(on, 1) (a run with zero FPs on counts as one).
  {
    std::map<std::pair<std::size_t, std::string>, std::pair<double, double>> on_off;
    for (const Row& r : rows) {
      static const std::string on_prefix = "lifeguard_fp_healthy_on", off_prefix = "lifeguard_fp_healthy_off";
      const double nan = std::nan("");
      if (r.metric.rfind(on_prefix, 0) == 0) {
        on_off.try_emplace({r.n, r.metric.substr(on_prefix.size())}, nan, nan).first->second.first = r.value;
      }
      if (r.metric.rfind(off_prefix, 0) == 0) {
        on_off.try_emplace({r.n, r.metric.substr(off_prefix.size())}, nan, nan).first->second.second = r.value;
      }
    }
    for (const auto& [key, v] : on_off) {
      // No false positive either way says nothing about the factor: null.
      if (std::isfinite(v.first) && std::isfinite(v.second)) {
        rows.push_back({key.first, "lifeguard_fp_reduction_factor" + key.second,
                        v.second > 0 ? v.second / std::max(v.first, 1.0) : std::nan("")});
      }
    }
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return a.n != b.n ? a.n < b.n : a.metric < b.metric;
  });
  rows.erase(std::unique(rows.begin(), rows.end(),
                         [](const Row& a, const Row& b) { return a.n == b.n && a.metric == b.metric; }),
             rows.end());

  // One row per line, as the committed results file has always been laid out (diffs stay small).
  const auto number = [](double v) -> nlohmann::ordered_json {
    if (!std::isfinite(v)) return nullptr;
    return std::strtod(fmt(v).c_str(), nullptr);  // the 6 significant digits the table shows
  };
  nlohmann::ordered_json meta = {{"tool", "rpcnet_membench"},
                                 {"plan", quick ? "quick" : "full"},
                                 {"seed", seed},
                                 {"backend", "SimNetwork (virtual time)"},
                                 {"config", "ClusterConfig::Lan()"},
                                 {"link", "0.8 ms + U[0,0.4 ms] one way"},
                                 {"dead_means", "kNodeFailed event (SWIM dead or phi, first)"},
                                 {"lifeguard_factor", "off / max(on, 1)"},
                                 {"wall_seconds", number(total)},
                                 {"jobs", nlohmann::ordered_json::object()}};
  std::sort(wall.begin(), wall.end());
  for (const auto& [job, seconds] : wall) meta["jobs"][job] = number(seconds);
  std::ostringstream json;
  json << "{\"rows\":[\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const nlohmann::ordered_json row = {{"n", rows[i].n}, {"metric", rows[i].metric}, {"value", number(rows[i].value)}};
    json << "  " << row.dump() << (i + 1 < rows.size() ? ",\n" : "\n");
  }
  json << "],\n\"meta\":" << meta.dump() << "}\n";
  std::ofstream(json_path) << json.str();

  std::printf("%-6s %-34s %12s\n", "n", "metric", "value");
  for (const Row& r : rows) std::printf("%-6zu %-34s %12s\n", r.n, r.metric.c_str(), fmt(r.value).c_str());
  std::printf("membench: %zu simulations, %.1f s wall, wrote %s\n", plan.size(), total, json_path.c_str());
  return 0;
}
