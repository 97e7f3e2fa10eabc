#include "cluster/health_tracker.h"

#include <algorithm>
#include <set>

namespace rpcnet::cluster {

namespace {
PhiAccrual::Params params_of(const HealthCheckerConfig& c) {
  return {std::max<std::size_t>(c.window, 2), std::chrono::duration<double, std::milli>(c.min_std_dev).count(),
          std::chrono::duration<double, std::milli>(c.acceptable_pause).count(), c.phi_threshold};
}
}  // namespace

HealthTracker::HealthTracker(const HealthCheckerConfig& config) : config_(config) {}

void HealthTracker::heartbeat(const std::string& id, Time now, Duration expected) {
  auto it = tracks_.find(id);
  if (it == tracks_.end()) it = tracks_.emplace(id, Track{PhiAccrual(params_of(config_))}).first;
  it->second.detector.heartbeat(now, expected);
  it->second.expected = expected;
}

MemberHealth HealthTracker::judge(const Member& member, const Track* track, Time now) const {
  MemberHealth health{member, 0.0, false};
  const bool listed = member.state == MemberState::kAlive || member.state == MemberState::kSuspect;
  if (track != nullptr && listed) health.phi = track->detector.phi(now, track->expected);
  health.healthy = listed && health.phi < config_.phi_threshold;
  return health;
}

std::vector<ClusterEvent> HealthTracker::evaluate(std::span<const Member> members, std::string_view self_id,
                                                  Time now) {
  std::vector<ClusterEvent> events;
  std::set<std::string, std::less<>> seen;
  for (const Member& member : members) {
    if (member.id == self_id) continue;
    seen.insert(member.id);
    if (member.state == MemberState::kLeft) {
      tracks_.erase(member.id);  // a departure is not a failure; a re-join starts afresh
      continue;
    }
    auto it = tracks_.find(member.id);
    if (it == tracks_.end()) it = tracks_.emplace(member.id, Track{PhiAccrual(params_of(config_))}).first;
    Track& track = it->second;
    const MemberHealth health = judge(member, &track, now);
    // A dead member's silence is not a sample: its history restarts when it is back.
    if (member.state == MemberState::kDead) track.detector.reset();
    Member reported = member;
    reported.phi = health.phi;
    reported.healthy = health.healthy;
    if (!health.healthy && !track.reported_failed) {
      track.reported_failed = true;
      events.push_back(ClusterEvent{EventKind::kNodeFailed, std::move(reported), 0, 0});
    } else if (health.healthy && track.reported_failed && member.state == MemberState::kAlive) {
      track.reported_failed = false;
      events.push_back(ClusterEvent{EventKind::kNodeRecovered, std::move(reported), 0, 0});
    }
  }
  std::erase_if(tracks_, [&](const auto& entry) { return !seen.contains(entry.first); });
  return events;
}

std::vector<MemberHealth> HealthTracker::view(std::span<const Member> members, std::string_view self_id,
                                              Time now) const {
  std::vector<MemberHealth> out;
  for (const Member& member : members) {
    if (member.id == self_id) continue;
    const auto it = tracks_.find(member.id);
    out.push_back(judge(member, it == tracks_.end() ? nullptr : &it->second, now));
  }
  return out;
}

}  // namespace rpcnet::cluster
