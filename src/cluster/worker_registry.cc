// WorkerRegistry: WorkerSet (sans-I/O selection) fed from a ClusterMembership. Events are
// applied when the next selection happens (so a failure is honoured by the first call after it
// was published); suspicion and phi, which have no events, come from a snapshot refreshed at
// most every kRefreshInterval.
#include "rpcnet/cluster/worker_registry.h"


#include "cluster/prng.h"
#include "rpcnet/cluster/cluster_server.h"

namespace rpcnet::cluster {

namespace {

constexpr std::chrono::milliseconds kRefreshInterval{100};

std::optional<WorkerInfo> as_worker(const Member& member) {
  const auto tag = member.tags.find(std::string(kRpcAddressTag));
  if (tag == member.tags.end()) return std::nullopt;
  auto address = parse_socket_address(tag->second);
  if (!address) return std::nullopt;
  // A draining server (or one not serving yet) says so before it refuses calls.
  const auto serving = member.tags.find(std::string(kRpcHealthTag));
  if (serving != member.tags.end() && serving->second != health_status_name(HealthStatus::kServing)) {
    return std::nullopt;
  }
  const auto health = worker_health(member);
  if (!health) return std::nullopt;
  return WorkerInfo{member.id, *address, member.tags, *health, member.incarnation};
}

}  // namespace

WorkerRegistry::WorkerRegistry(ClusterMembership cluster, LoadBalancingStrategy strategy)
    : WorkerRegistry(std::move(cluster), LoadBalancerConfig{.strategy = strategy}) {}

WorkerRegistry::WorkerRegistry(ClusterMembership cluster, LoadBalancerConfig config)
    : cluster_(std::move(cluster)), workers_(config, entropy_seed()) {}

void WorkerRegistry::start() {
  MutexLock lock(mutex_);
  if (events_) return;
  events_ = cluster_.subscribe();
  refresh_locked(std::chrono::steady_clock::now());
}

void WorkerRegistry::apply_locked(const ClusterEvent& event) {
  switch (event.kind) {
    case EventKind::kNodeFailed:
    case EventKind::kNodeLeft:
      workers_.remove(event.member.id);
      break;
    case EventKind::kNodeJoined:
    case EventKind::kNodeRecovered:
      ejected_until_.erase(event.member.id);
      [[fallthrough]];
    case EventKind::kNodeTagsUpdated:
      if (auto worker = as_worker(event.member)) {
        workers_.upsert(std::move(*worker));
      } else {
        workers_.remove(event.member.id);  // no longer publishes an RPC address
      }
      break;
    case EventKind::kPartitionDetected:
    case EventKind::kPartitionHealed:
      break;
  }
}

void WorkerRegistry::refresh_locked(Time now) {
  refreshed_ = now;
  std::set<std::string, std::less<>> present;
  for (const Member& member : cluster_.members()) {
    if (member.id == cluster_.id()) continue;
    auto worker = as_worker(member);
    if (!worker) continue;
    present.insert(worker->id);
    workers_.upsert(std::move(*worker));
  }
  for (const WorkerInfo& known : workers_.workers()) {
    if (!present.contains(known.id)) workers_.remove(known.id);
  }
}

void WorkerRegistry::sync_locked(Time now) {
  if (!events_) {
    events_ = cluster_.subscribe();
    refresh_locked(now);
  }
  while (auto event = events_->poll()) apply_locked(*event);
  const std::uint64_t missed = events_->missed();
  if (missed != missed_seen_ || now - refreshed_ >= kRefreshInterval) {
    missed_seen_ = missed;
    refresh_locked(now);
  }
  for (auto it = ejected_until_.begin(); it != ejected_until_.end();) {
    if (now >= it->second) {
      it = ejected_until_.erase(it);
    } else {
      ++it;
    }
  }
}

Result<WorkerInfo> WorkerRegistry::select_worker(std::string_view filter) {
  return TagFilter::parse(filter).and_then([this](const TagFilter& parsed) { return select_worker(parsed); });
}

Result<WorkerInfo> WorkerRegistry::select_worker(const TagFilter& filter, const std::set<std::string>& exclude) {
  MutexLock lock(mutex_);
  const Time now = std::chrono::steady_clock::now();
  sync_locked(now);
  std::optional<WorkerInfo> chosen;
  if (ejected_until_.empty()) {
    chosen = workers_.select(filter, now, exclude);
  } else {
    std::set<std::string> skip = exclude;
    for (const auto& [id, until] : ejected_until_) skip.insert(id);
    chosen = workers_.select(filter, now, skip);
    // Ejection is advice: when it leaves nothing, an ejected worker is better than none.
    if (!chosen) chosen = workers_.select(filter, now, exclude);
  }
  if (!chosen) {
    return RpcError::status(StatusCode::kUnavailable,
                            "no worker matches '" + filter.to_string() + "'" +
                                (exclude.empty() ? "" : " (after excluding the ones already tried)"));
  }
  return std::move(*chosen);
}

std::vector<WorkerInfo> WorkerRegistry::workers() {
  MutexLock lock(mutex_);
  sync_locked(std::chrono::steady_clock::now());
  return workers_.workers();
}

std::optional<WorkerLoad> WorkerRegistry::load(std::string_view id) const {
  MutexLock lock(mutex_);
  return workers_.load(id);
}

void WorkerRegistry::call_started(const std::string& id) {
  MutexLock lock(mutex_);
  workers_.on_call_started(id);
}

void WorkerRegistry::call_finished(const std::string& id, std::chrono::nanoseconds latency, bool failed) {
  MutexLock lock(mutex_);
  workers_.on_call_finished(id, latency, std::chrono::steady_clock::now(), failed);
}

void WorkerRegistry::eject(const std::string& id, std::chrono::milliseconds duration) {
  MutexLock lock(mutex_);
  ejected_until_[id] = std::chrono::steady_clock::now() + duration;
}

}  // namespace rpcnet::cluster
