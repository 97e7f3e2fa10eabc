// SwimCore: merging alive / suspect / dead / left (memberlist's aliveNode / suspectNode /
// deadNode rules), refutation, the HealthChecker and the events.
//
// Event rule (documented in events.h): a member is "down" when SWIM says dead or its phi is at
// or above the threshold (a new phi failure only while our own health score is 0). kNodeFailed is emitted on the up->down edge only, so SWIM declaring
// dead a member whose phi already failed emits nothing more; kNodeRecovered on the down->up
// edge (alive again with phi below the threshold). kNodeLeft replaces kNodeFailed for a
// graceful leave.
#include <algorithm>

#include "base/logging.h"
#include "cluster/swim_core_impl.h"

namespace rpcnet::cluster {

MemberRecord* SwimCore::Impl::find(const std::string& id) {
  const auto it = members.find(id);
  return it == members.end() ? nullptr : &it->second;
}

namespace {
std::size_t index_of(MemberState st) { return static_cast<std::size_t>(st); }
}  // namespace

std::size_t SwimCore::Impl::live_count() const {
  return std::max<std::size_t>(state_count[index_of(MemberState::kAlive)] + state_count[index_of(MemberState::kSuspect)], 1);
}

MemberRecord& SwimCore::Impl::insert_member(MemberRecord record) {
  const std::string id = record.m.id;
  ++state_count[index_of(record.m.state)];
  peer_index_stale = true;
  return members.emplace(id, std::move(record)).first->second;
}

void SwimCore::Impl::erase_member(std::map<std::string, MemberRecord>::iterator it) {
  --state_count[index_of(it->second.m.state)];
  peer_index_stale = true;
  members.erase(it);
}

void SwimCore::Impl::set_state(MemberRecord& rec, MemberState state) {
  if (rec.m.state != state) {
    RPCNET_LOG(kMembership, kInfo, "member state changed",
               {{"node", self_rec ? self_rec->m.id : std::string()},
                {"member", rec.m.id},
                {"address", to_string(rec.m.address)},
                {"from", std::string(member_state_name(rec.m.state))},
                {"state", std::string(member_state_name(state))},
                {"incarnation", std::to_string(rec.m.incarnation)}});
  }
  --state_count[index_of(rec.m.state)];
  ++state_count[index_of(state)];
  rec.m.state = state;
}

std::size_t SwimCore::Impl::others_not_left() const {
  const bool self_left = self_rec->m.state == MemberState::kLeft;
  return members.size() - state_count[index_of(MemberState::kLeft)] - (self_left ? 0 : 1);
}

gossip::Alive SwimCore::Impl::alive_of(const Member& m) const {
  return gossip::Alive{m.incarnation, m.id, m.address, m.tags};
}

// Phi's heartbeats are the acks to our own probes (direct or relayed). Round-robin probing makes
// that stream regular — one ack per round of n-1 probe periods, the gap varying within
// [1, 2(n-1)-1] periods — which is what the normal model needs. (Counting every packet from the
// member mixes in bursty gossip and made phi flap in a 32-node simulation.) The bootstrap
// expected interval is therefore one round, at the current (Lifeguard-scaled) probe period.
Duration SwimCore::Impl::phi_expected_interval() const {
  const std::size_t others = live_count() > 1 ? live_count() - 1 : 1;
  return scaled(cfg.probe_interval) * static_cast<Duration::rep>(others);
}

void SwimCore::Impl::apply_awareness(int delta) {
  if (!cfg.lifeguard) return;
  awareness = std::clamp(awareness + delta, 0, cfg.awareness_max_multiplier - 1);
}

void SwimCore::Impl::broadcast_self_alive() {
  broadcasts.enqueue(self_id, gossip::encode_message(alive_of(self_rec->m)));
}

void SwimCore::Impl::refute(std::uint64_t observed_incarnation, Time) {
  self_rec->m.incarnation = std::max(self_rec->m.incarnation, observed_incarnation) + 1;
  ++counters.refutations;
  apply_awareness(+1);  // being suspected hints that we are the slow one (Lifeguard)
  broadcast_self_alive();
}

// Someone believes we are suspect or dead. A current accusation is refuted with a higher
// incarnation. A stale one (older than our incarnation) means our earlier refutation did not
// reach the accuser (its transmits may have been spent on lost packets): re-queue our alive so it
// rides the very next packets, without raising the incarnation again.
void SwimCore::Impl::accused(std::uint64_t incarnation, Time now, const Peer* rumor_from) {
  if (leaving) return;
  if (incarnation >= self_rec->m.incarnation) {
    refute(incarnation, now);
  } else {
    broadcast_self_alive();
    correct_stale(*self_rec, rumor_from);
  }
}

void SwimCore::Impl::correct_stale(const MemberRecord& rec, const Peer* rumor_from) {
  // Whoever still spreads an accusation at an old incarnation has missed the refutation — and
  // nobody else will repeat it (an alive at the incarnation everyone holds is not news), so
  // without this its suspicion timer runs out and it declares a live member dead. That was the
  // one false positive per few hundred node-hours at 10 % loss. One direct packet fixes it.
  if (rumor_from == nullptr || rec.m.state != MemberState::kAlive) return;
  ++counters.stale_rumors_corrected;
  send(*rumor_from, {gossip::encode_message(alive_of(rec.m))}, true);
}

bool SwimCore::Impl::make_room() {
  if (members.size() < cfg.max_members) return true;
  // Forget the member that has been dead or left the longest; never a live one.
  auto victim = members.end();
  for (auto it = members.begin(); it != members.end(); ++it) {
    const auto st = it->second.m.state;
    if (st != MemberState::kDead && st != MemberState::kLeft) continue;
    if (victim == members.end() || it->second.state_change < victim->second.state_change) victim = it;
  }
  if (victim == members.end()) return false;
  partition.on_removed(victim->first);
  suspicions.erase(victim->first);
  erase_member(victim);
  return true;
}

void SwimCore::Impl::handle_alive(const gossip::Alive& msg, Time now) {
  if (!plausible_incarnation(msg.incarnation, now)) return;
  if (msg.id == self_id) {
    // Someone holds a newer or conflicting view of us (e.g. from before a restart): out-bid it.
    if (!leaving && (msg.incarnation > self_rec->m.incarnation ||
                     (msg.incarnation == self_rec->m.incarnation &&
                      (msg.tags != self_rec->m.tags || msg.address != self_rec->m.address)))) {
      refute(msg.incarnation, now);
    }
    return;
  }
  if (gossip::tags_bytes(msg.tags) > cfg.max_tags_bytes) {
    ++counters.dropped_invalid_message;
    return;
  }
  MemberRecord* rec = find(msg.id);
  if (rec == nullptr) {
    if (!make_room()) {
      ++counters.dropped_member_cap;
      return;
    }
    MemberRecord fresh{Member{msg.id, msg.address, msg.tags, msg.incarnation, MemberState::kAlive, 0.0, true},
                       now, PhiAccrual(phi_params), false, false};
    rec = &insert_member(std::move(fresh));
    RPCNET_LOG(kMembership, kInfo, "member joined",
               {{"node", self_rec ? self_rec->m.id : std::string()},
                {"member", rec->m.id},
                {"address", to_string(rec->m.address)},
                {"state", "alive"},
                {"incarnation", std::to_string(rec->m.incarnation)}});
    insert_probe_order(msg.id);
    broadcasts.enqueue(msg.id, gossip::encode_message(msg));
    emit(ClusterEvent{EventKind::kNodeJoined, rec->m, 0, 0});
    return;
  }
  if (msg.incarnation <= rec->m.incarnation) return;
  const MemberState old_state = rec->m.state;
  const bool tags_changed = rec->m.tags != msg.tags;
  rec->m.incarnation = msg.incarnation;
  rec->m.address = msg.address;
  rec->m.tags = msg.tags;
  if (old_state != MemberState::kAlive) {
    set_state(*rec, MemberState::kAlive);
    rec->state_change = now;
    suspicions.erase(msg.id);
    partition.on_reachable(msg.id);
    if (old_state == MemberState::kDead || old_state == MemberState::kLeft) {
      rec->phi.reset();  // a long silence is not a sample
      insert_probe_order(msg.id);
    }
  }
  broadcasts.enqueue(msg.id, gossip::encode_message(msg));
  if (old_state == MemberState::kLeft) {
    rec->reported_left = false;
    rec->reported_failed = false;
    rec->m.healthy = true;
    emit(ClusterEvent{EventKind::kNodeJoined, rec->m, 0, 0});
    return;
  }
  if (tags_changed) emit(ClusterEvent{EventKind::kNodeTagsUpdated, rec->m, 0, 0});
  update_health(*rec, now);
}

void SwimCore::Impl::handle_suspect(const gossip::Suspect& msg, Time now, const Peer* rumor_from) {
  if (!plausible_incarnation(msg.incarnation, now)) return;
  MemberRecord* rec = find(msg.id);
  if (rec == nullptr) return;
  if (rec == self_rec) {
    accused(msg.incarnation, now, rumor_from);
    return;
  }
  if (msg.incarnation < rec->m.incarnation) return correct_stale(*rec, rumor_from);
  if (rec->m.state == MemberState::kDead || rec->m.state == MemberState::kLeft) return;
  if (rec->m.state == MemberState::kSuspect) {
    const auto it = suspicions.find(msg.id);
    if (it != suspicions.end() && it->second.confirm(msg.from)) {
      // Re-spread: other members' timers shrink only if they hear the confirmations too.
      broadcasts.enqueue(msg.id, gossip::encode_message(msg));
    }
    return;
  }
  rec->m.incarnation = msg.incarnation;
  set_state(*rec, MemberState::kSuspect);
  rec->state_change = now;
  const std::size_t n = live_count();
  const Duration min = suspicion_timeout_min(cfg.suspicion_mult, n, cfg.probe_interval);
  const int k = cfg.lifeguard ? suspicion_confirmations_needed(cfg.suspicion_mult, n) : 0;
  const Duration max = cfg.lifeguard ? min * cfg.suspicion_max_timeout_mult : min;
  suspicions.insert_or_assign(msg.id, Suspicion(msg.from, msg.incarnation, k, min, max, now));
  broadcasts.enqueue(msg.id, gossip::encode_message(msg));
  partition.on_unreachable(msg.id, now);
  if (msg.from == self_id) ++counters.suspicions_raised;
  update_health(*rec, now);
}

void SwimCore::Impl::handle_dead(std::uint64_t incarnation, const std::string& id, const std::string& from,
                                 bool left, Time now, const Peer* rumor_from) {
  if (!plausible_incarnation(incarnation, now)) return;
  MemberRecord* rec = find(id);
  if (rec == nullptr) return;
  if (rec == self_rec) {
    accused(incarnation, now, rumor_from);
    return;
  }
  if (incarnation < rec->m.incarnation) return correct_stale(*rec, rumor_from);
  const MemberState old_state = rec->m.state;
  if (old_state == MemberState::kLeft) return;
  if (old_state == MemberState::kDead && !left) return;
  rec->m.incarnation = incarnation;
  set_state(*rec, left ? MemberState::kLeft : MemberState::kDead);
  rec->state_change = now;
  suspicions.erase(id);
  broadcasts.enqueue(id, left ? gossip::encode_message(gossip::Left{incarnation, id})
                              : gossip::encode_message(gossip::Dead{incarnation, id, from}));
  if (left) {
    partition.on_removed(id);
  } else if (old_state == MemberState::kAlive) {
    partition.on_unreachable(id, now);
  }
  update_health(*rec, now);
}

void SwimCore::Impl::update_health(MemberRecord& rec, Time now) {
  if (&rec == self_rec) return;
  const MemberState st = rec.m.state;
  if (st == MemberState::kLeft) {
    rec.m.phi = 0;
    rec.m.healthy = false;
    if (!rec.reported_left) {
      rec.reported_left = true;
      rec.reported_failed = false;
      emit(ClusterEvent{EventKind::kNodeLeft, rec.m, 0, 0});
    }
    return;
  }
  rec.m.phi = st == MemberState::kDead ? 0.0 : rec.phi.phi(now, phi_expected_interval());
  // While our own health score is raised (Lifeguard), our probes are slowed and acks come late
  // for everyone: a phi rise then says more about us than about them, so it accuses nobody new.
  const bool phi_down = rec.m.phi >= cfg.phi_threshold && (awareness == 0 || rec.reported_failed);
  const bool down = st == MemberState::kDead || phi_down;
  rec.m.healthy = !down;
  if (down && !rec.reported_failed) {
    rec.reported_failed = true;
    emit(ClusterEvent{EventKind::kNodeFailed, rec.m, 0, 0});
  } else if (!down && rec.reported_failed && st == MemberState::kAlive) {
    rec.reported_failed = false;
    emit(ClusterEvent{EventKind::kNodeRecovered, rec.m, 0, 0});
  }
}

void SwimCore::Impl::health_tick(Time now) {
  next_health = now + cfg.probe_interval;
  std::vector<std::string> reap;
  // A slice of the table per tick, resuming where the last one stopped: a full sweep every
  // ceil(n / kHealthSweepSlice) probe intervals (4 at n = 1000). Members that answer or are
  // gossiped about are re-evaluated at once anyway; the sweep is for silent ones, whose phi at
  // that size grows over an expected interval of n probe intervals, and for reaping after hours.
  auto it = members.lower_bound(health_cursor);
  for (std::size_t visited = 0; visited < std::min(members.size(), kHealthSweepSlice); ++visited, ++it) {
    if (it == members.end()) it = members.begin();
    auto& [id, rec] = *it;
    if (&rec == self_rec) continue;
    const MemberState st = rec.m.state;
    if ((st == MemberState::kDead || st == MemberState::kLeft) && now - rec.state_change >= cfg.dead_node_reclaim) {
      reap.push_back(id);
      continue;
    }
    if (st == MemberState::kAlive || st == MemberState::kSuspect) update_health(rec, now);
  }
  health_cursor = it == members.end() ? std::string() : it->first;
  for (const auto& id : reap) {
    partition.on_removed(id);
    erase_member(members.find(id));
  }
  if (auto e = partition.evaluate(others_not_left(), now)) emit(std::move(*e));
}

}  // namespace rpcnet::cluster
