// SwimCore: failure detection by probing (SWIM §4 with Lifeguard's LHA-Probe).
//
// Each protocol period probes the next member of a shuffled round-robin order: a direct ping;
// after probe_timeout, a second direct ping plus ping-req through indirect_checks other members, who ping the target and
// relay its ack (and, with Lifeguard, send a nack at 80% of probe_timeout if the target is
// silent). No ack by the end of the period => suspect. The awareness score moves -1 on success
// and, on failure, +(nacks expected - nacks received) (or +1 without nacks): missing nacks mean
// the problem is more likely ours than the target's. Both the interval and the direct timeout
// are scaled by (score + 1), following the Lifeguard paper (memberlist scales only the interval).
#include <algorithm>

#include "cluster/swim_core_impl.h"

namespace rpcnet::cluster {

void SwimCore::Impl::rebuild_probe_order() {
  probe_order.clear();
  for (const auto& [id, rec] : members) {
    if (&rec == self_rec) continue;
    if (rec.m.state == MemberState::kAlive || rec.m.state == MemberState::kSuspect) probe_order.push_back(id);
  }
  rng.shuffle(probe_order);
  probe_index = 0;
}

void SwimCore::Impl::insert_probe_order(const std::string& id) {
  if (std::find(probe_order.begin(), probe_order.end(), id) != probe_order.end()) return;
  // A random position keeps the expected time to first probe the same as for everyone else.
  const auto at = static_cast<std::ptrdiff_t>(rng.below(probe_order.size() + 1));
  probe_order.insert(probe_order.begin() + at, id);
  if (static_cast<std::size_t>(at) < probe_index) ++probe_index;
}

void SwimCore::Impl::probe_tick(Time now) {
  if (probe) finish_probe(now);
  next_probe = now + scaled(cfg.probe_interval);
  MemberRecord* target = nullptr;
  for (std::size_t attempts = 0; attempts <= probe_order.size() + 1 && target == nullptr; ++attempts) {
    if (probe_index >= probe_order.size()) {
      rebuild_probe_order();
      if (probe_order.empty()) break;
    }
    MemberRecord* rec = find(probe_order[probe_index++]);
    if (rec != nullptr && rec != self_rec &&
        (rec->m.state == MemberState::kAlive || rec->m.state == MemberState::kSuspect)) {
      target = rec;
    }
  }
  if (target == nullptr) return;
  ProbeState p;
  p.target = target->m.id;
  p.seq = next_probe_seq++;
  p.direct_deadline = now + scaled(cfg.probe_timeout);
  p.end = next_probe;
  std::vector<Buffer> messages{gossip::encode_message(gossip::Ping{p.seq, p.target})};
  if (cfg.lifeguard && target->m.state == MemberState::kSuspect) {
    // Buddy system: tell the suspect directly, so it can refute at once.
    messages.push_back(gossip::encode_message(gossip::Suspect{target->m.incarnation, p.target, self_id}));
  }
  ++counters.probes_sent;
  probe = std::move(p);
  send(peer_of(*target), std::move(messages), true);
}

void SwimCore::Impl::send_indirect(Time) {
  ProbeState& p = *probe;
  p.indirect_sent = true;
  const MemberRecord* target = find(p.target);
  if (target == nullptr) return;
  // A second direct ping alongside the indirect ones: the UDP stand-in for memberlist's TCP
  // fallback ping. Under random loss it halves the chance that one lost packet on the direct
  // path turns into a suspicion; the ack carries the same sequence number.
  send(peer_of(*target), {gossip::encode_message(gossip::Ping{p.seq, p.target})}, true);
  const auto relays_to = pick_random(static_cast<std::size_t>(cfg.indirect_checks), [&](const MemberRecord& rec) {
    return rec.m.state == MemberState::kAlive && rec.m.id != p.target;
  });
  const std::size_t k = relays_to.size();
  for (std::size_t i = 0; i < k; ++i) {
    gossip::PingReq req{p.seq, p.target, target->m.address, cfg.lifeguard};
    ++counters.indirect_probes_sent;
    send(peer_of(*relays_to[i]), {gossip::encode_message(req)}, true);
  }
  p.expected_nacks = cfg.lifeguard ? static_cast<int>(k) : 0;
}

void SwimCore::Impl::finish_probe(Time now) {
  ProbeState p = std::move(*probe);
  probe.reset();
  if (p.acked) return;
  apply_awareness(p.expected_nacks > 0 ? p.expected_nacks - p.nacks : 1);
  MemberRecord* rec = find(p.target);
  if (rec == nullptr || rec->m.state == MemberState::kDead || rec->m.state == MemberState::kLeft) return;
  handle_suspect(gossip::Suspect{rec->m.incarnation, p.target, self_id}, now);
}

void SwimCore::Impl::handle_ping(const Peer& from, const gossip::Ping& msg) {
  if (msg.target != self_id) {  // meant for a previous owner of this address
    ++counters.dropped_invalid_message;
    return;
  }
  send(from, {gossip::encode_message(gossip::Ack{msg.seq})}, true);
}

void SwimCore::Impl::handle_ping_req(const Peer& from, const gossip::PingReq& msg, Time now) {
  if (msg.target == self_id) {  // odd but harmless: answer for ourselves
    send(from, {gossip::encode_message(gossip::Ack{msg.seq})}, true);
    return;
  }
  if (relays.size() >= kMaxRelays) {
    ++counters.dropped_relays;
    return;
  }
  const std::uint32_t seq = next_probe_seq++;
  const auto nack_after = cfg.probe_timeout * 4 / 5;  // the paper's 80%
  relays.insert_or_assign(seq, Relay{from, msg.seq, msg.want_nack, now + nack_after, now + cfg.probe_interval});
  send(Peer{msg.target_address, msg.target}, {gossip::encode_message(gossip::Ping{seq, msg.target})}, true);
}

void SwimCore::Impl::handle_ack(std::uint32_t seq, Time now) {
  if (probe && probe->seq == seq) {
    if (!probe->acked) {
      probe->acked = true;
      apply_awareness(-1);
      // A relayed ack proves the target alive as much as a direct one: feed its phi too.
      if (MemberRecord* rec = find(probe->target); rec != nullptr && rec->m.state != MemberState::kDead) {
        rec->phi.heartbeat(now, phi_expected_interval());
        update_health(*rec, now);
        if (heartbeat_observer) heartbeat_observer(rec->m, now, phi_expected_interval());
      }
    }
    return;
  }
  const auto it = relays.find(seq);
  if (it == relays.end()) return;
  const Relay relay = it->second;
  relays.erase(it);
  send(relay.origin, {gossip::encode_message(gossip::Ack{relay.origin_seq})}, true);
}

void SwimCore::Impl::handle_nack(std::uint32_t seq) {
  if (probe && probe->seq == seq && !probe->acked) ++probe->nacks;
}

void SwimCore::Impl::relay_tick(Time now) {
  for (auto it = relays.begin(); it != relays.end();) {
    Relay& r = it->second;
    if (r.want_nack && now >= r.nack_at) {
      r.want_nack = false;
      ++counters.nacks_sent;
      send(r.origin, {gossip::encode_message(gossip::Nack{r.origin_seq})}, true);
    }
    if (now >= r.expire) {
      it = relays.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace rpcnet::cluster
