// WorkerSet: eligibility, the four strategies and the peak-EWMA estimate (see
// rpcnet/cluster/load_balancing.h for the rules and formulas).
#include "rpcnet/cluster/load_balancing.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

#include "cluster/prng.h"

namespace rpcnet::cluster {

std::string_view load_balancing_strategy_name(LoadBalancingStrategy strategy) noexcept {
  switch (strategy) {
    case LoadBalancingStrategy::kRoundRobin: return "round_robin";
    case LoadBalancingStrategy::kRandom: return "random";
    case LoadBalancingStrategy::kLeastConnections: return "least_connections";
    case LoadBalancingStrategy::kPowerOfTwoChoices: return "p2c";
  }
  return "unknown";
}

Result<LoadBalancingStrategy> parse_load_balancing_strategy(std::string_view text) {
  for (const auto s : {LoadBalancingStrategy::kRoundRobin, LoadBalancingStrategy::kRandom,
                       LoadBalancingStrategy::kLeastConnections, LoadBalancingStrategy::kPowerOfTwoChoices}) {
    if (text == load_balancing_strategy_name(s)) return s;
  }
  if (text == "power_of_two_choices") return LoadBalancingStrategy::kPowerOfTwoChoices;
  return RpcError::config("unknown load balancing strategy '" + std::string(text.substr(0, 64)) +
                          "' (expected round_robin, random, least_connections or p2c)");
}

std::optional<WorkerHealth> worker_health(const Member& member) noexcept {
  switch (member.state) {
    case MemberState::kAlive: return member.healthy ? WorkerHealth::kHealthy : WorkerHealth::kSuspect;
    case MemberState::kSuspect: return WorkerHealth::kSuspect;
    case MemberState::kDead:
    case MemberState::kLeft: return std::nullopt;
  }
  return std::nullopt;
}

WorkerSet::WorkerSet(LoadBalancerConfig config, std::uint64_t seed)
    : WorkerSet(config, Rng([prng = Prng(seed, "load_balancing")]() mutable { return prng.next(); })) {}

WorkerSet::WorkerSet(LoadBalancerConfig config, Rng rng) : config_(config), rng_(std::move(rng)) {
  if (!rng_) rng_ = [prng = Prng(0, "load_balancing")]() mutable { return prng.next(); };
  if (config_.ewma_tau <= std::chrono::nanoseconds::zero()) config_.ewma_tau = std::chrono::nanoseconds(1);
  if (config_.initial_latency < std::chrono::nanoseconds::zero()) config_.initial_latency = {};
  if (config_.failure_penalty < std::chrono::nanoseconds::zero()) config_.failure_penalty = {};
}

void WorkerSet::upsert(WorkerInfo worker) {
  const auto it = workers_.find(worker.id);
  if (it != workers_.end()) {
    it->second.info = std::move(worker);
    return;
  }
  Entry entry;
  entry.estimate_ns = static_cast<double>(config_.initial_latency.count());
  std::string id = worker.id;
  entry.info = std::move(worker);
  workers_.emplace(std::move(id), std::move(entry));
}

bool WorkerSet::remove(std::string_view id) {
  const auto it = workers_.find(id);
  if (it == workers_.end()) return false;
  workers_.erase(it);
  return true;
}

bool WorkerSet::set_suspect(std::string_view id, bool suspect) {
  const auto it = workers_.find(id);
  if (it == workers_.end()) return false;
  it->second.info.health = suspect ? WorkerHealth::kSuspect : WorkerHealth::kHealthy;
  return true;
}

std::uint64_t WorkerSet::below(std::uint64_t bound) {
  if (bound <= 1) return 0;
  // Rejection sampling: drop the top partial block so every residue is equally likely.
  const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() -
                              std::numeric_limits<std::uint64_t>::max() % bound;
  std::uint64_t v = rng_();
  // A broken RNG stuck in the rejected block must not hang us: after 64 tries take what we have.
  for (int i = 0; v >= limit && i < 64; ++i) v = rng_();
  return v % bound;
}

// The decayed latency estimate times (in_flight + 1).
double WorkerSet::score_ns(const Entry& e, Time now) const {
  double estimate = e.estimate_ns;
  if (e.sampled_at && now > *e.sampled_at) {
    const double elapsed = std::chrono::duration<double, std::nano>(now - *e.sampled_at).count();
    estimate *= std::exp(-elapsed / static_cast<double>(config_.ewma_tau.count()));
  }
  return estimate * (static_cast<double>(e.in_flight) + 1.0);
}

std::optional<WorkerInfo> WorkerSet::select(const TagFilter& filter, Time now,
                                            const std::set<std::string>& exclude) {
  std::vector<const Entry*> healthy;
  std::vector<const Entry*> suspect;
  for (const auto& [id, entry] : workers_) {
    if (!exclude.empty() && exclude.count(id) != 0) continue;
    if (!filter.matches(entry.info.tags)) continue;
    (entry.info.health == WorkerHealth::kHealthy ? healthy : suspect).push_back(&entry);
  }
  const std::vector<const Entry*>& candidates = healthy.empty() ? suspect : healthy;
  if (candidates.empty()) return std::nullopt;
  const Entry* chosen = pick(candidates, filter, now);
  return chosen->info;
}

// `candidates` is non-empty and in id order.
const WorkerSet::Entry* WorkerSet::pick(const std::vector<const Entry*>& candidates,
                                        const TagFilter& filter, Time now) {
  const std::size_t n = candidates.size();
  switch (config_.strategy) {
    case LoadBalancingStrategy::kRoundRobin: {
      // Continue after the last id served for this filter, so joins and leaves neither reset nor
      // skip the rotation: a newcomer takes its turn in id order, a leaver's successor is next.
      std::string key = filter.to_string();
      auto cursor = cursors_.find(key);
      const Entry* next = candidates.front();
      if (cursor != cursors_.end()) {
        const auto later = [](const std::string& last, const Entry* e) { return last < e->info.id; };
        const auto after = std::upper_bound(candidates.begin(), candidates.end(), cursor->second, later);
        if (after != candidates.end()) next = *after;
        cursor->second = next->info.id;
      } else {
        if (cursors_.size() >= kMaxCursors) cursors_.clear();
        cursors_.emplace(std::move(key), next->info.id);
      }
      return next;
    }
    case LoadBalancingStrategy::kRandom:
      return candidates[below(n)];
    case LoadBalancingStrategy::kLeastConnections: {
      std::uint32_t least = std::numeric_limits<std::uint32_t>::max();
      for (const Entry* e : candidates) least = std::min(least, e->in_flight);
      std::vector<const Entry*> ties;
      for (const Entry* e : candidates) {
        if (e->in_flight == least) ties.push_back(e);
      }
      return ties[below(ties.size())];
    }
    case LoadBalancingStrategy::kPowerOfTwoChoices: {
      if (n == 1) return candidates.front();
      const std::size_t i = below(n);
      std::size_t j = below(n - 1);
      if (j >= i) ++j;  // two distinct candidates, each pair equally likely
      const Entry* a = candidates[i];
      const Entry* b = candidates[j];
      return score_ns(*b, now) < score_ns(*a, now) ? b : a;
    }
  }
  return candidates.front();
}

void WorkerSet::on_call_started(std::string_view id) {
  const auto it = workers_.find(id);
  if (it == workers_.end()) return;
  Entry& e = it->second;
  if (e.in_flight != std::numeric_limits<std::uint32_t>::max()) ++e.in_flight;
  ++e.calls;
}

void WorkerSet::on_call_finished(std::string_view id, std::chrono::nanoseconds latency, Time now,
                                 bool failed) {
  const auto it = workers_.find(id);
  if (it == workers_.end()) return;
  Entry& e = it->second;
  if (e.in_flight > 0) --e.in_flight;
  if (failed) ++e.failures;
  if (latency < std::chrono::nanoseconds::zero()) latency = {};
  if (failed) latency = std::max(latency, config_.failure_penalty);
  const double sample = static_cast<double>(latency.count());
  if (!e.sampled_at) {
    e.estimate_ns = sample;  // the initial value was a guess, not a measurement
  } else if (sample > e.estimate_ns) {
    e.estimate_ns = sample;
  } else {
    const double elapsed =
        now > *e.sampled_at ? std::chrono::duration<double, std::nano>(now - *e.sampled_at).count() : 0.0;
    const double w = std::exp(-elapsed / static_cast<double>(config_.ewma_tau.count()));
    e.estimate_ns = w * e.estimate_ns + (1.0 - w) * sample;
  }
  // Out-of-order completions (now earlier than the last sample) do not move the clock back.
  if (!e.sampled_at || now > *e.sampled_at) e.sampled_at = now;
}

std::optional<WorkerLoad> WorkerSet::load(std::string_view id) const {
  const auto it = workers_.find(id);
  if (it == workers_.end()) return std::nullopt;
  const Entry& e = it->second;
  WorkerLoad out;
  out.in_flight = e.in_flight;
  out.latency_estimate = std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(e.estimate_ns)));
  out.sampled = e.sampled_at.has_value();
  out.calls = e.calls;
  out.failures = e.failures;
  return out;
}

std::optional<std::chrono::nanoseconds> WorkerSet::latency_estimate(std::string_view id, Time now) const {
  const auto it = workers_.find(id);
  if (it == workers_.end()) return std::nullopt;
  const double per_call = score_ns(it->second, now) / (static_cast<double>(it->second.in_flight) + 1.0);
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(per_call)));
}

std::optional<WorkerInfo> WorkerSet::find(std::string_view id) const {
  const auto it = workers_.find(id);
  if (it == workers_.end()) return std::nullopt;
  return it->second.info;
}

std::vector<WorkerInfo> WorkerSet::workers() const {
  std::vector<WorkerInfo> out;
  out.reserve(workers_.size());
  for (const auto& [id, entry] : workers_) out.push_back(entry.info);
  return out;
}

}  // namespace rpcnet::cluster
