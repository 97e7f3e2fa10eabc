// SwimCore: dissemination and convergence — piggyback gossip, digest-first anti-entropy
// (bucket digests, then only the differing buckets' entries in datagram-sized push-pull chunks;
// memberlist's full-state push-pull costs O(n) per exchange, the idle-bandwidth problem of its
// issue #243), join through seeds with exponential backoff (answered with full state), and the
// reconnect loop that re-contacts seeds and dead members so a healed partition merges by itself.
#include <algorithm>
#include <bit>

#include "cluster/swim_core_impl.h"

namespace rpcnet::cluster {

std::vector<const MemberRecord*> SwimCore::Impl::pick_random(std::size_t count,
                                                             const std::function<bool(const MemberRecord&)>& eligible) {
  if (peer_index_stale) {
    peer_index.clear();
    for (const auto& [id, rec] : members) {
      if (&rec != self_rec) peer_index.push_back(&rec);
    }
    peer_index_stale = false;
  }
  std::vector<const MemberRecord*> picked;
  // Rejection sampling over the whole table: O(count) when most members are eligible, which is
  // the steady state this runs in 5 times a second. A bounded number of draws keeps it O(count)
  // in every state; a table mostly of ineligible members falls back to the exhaustive scan.
  const std::size_t draws = 4 * count + 8;
  for (std::size_t i = 0; i < draws && picked.size() < count && !peer_index.empty(); ++i) {
    const MemberRecord* rec = peer_index[rng.below(peer_index.size())];
    if (eligible(*rec) && std::find(picked.begin(), picked.end(), rec) == picked.end()) picked.push_back(rec);
  }
  if (picked.size() == count) return picked;
  std::vector<const MemberRecord*> pool;
  for (const MemberRecord* rec : peer_index) {
    if (eligible(*rec)) pool.push_back(rec);
  }
  // Partial Fisher-Yates: exhaustive for tiny clusters, O(count) swaps for large ones.
  const std::size_t k = std::min(count, pool.size());
  for (std::size_t i = 0; i < k; ++i) {
    std::swap(pool[i], pool[i + rng.below(pool.size() - i)]);
  }
  pool.resize(k);
  return pool;
}

void SwimCore::Impl::gossip_tick(Time now) {
  next_gossip = now + cfg.gossip_interval;
  if (broadcasts.empty()) return;  // idle gossip costs nothing
  const auto live_or_recently_dead = [&](const MemberRecord& rec) {
    const MemberState st = rec.m.state;
    if (st == MemberState::kAlive || st == MemberState::kSuspect) return true;
    return st == MemberState::kDead && now - rec.state_change < cfg.gossip_to_the_dead;
  };
  for (const MemberRecord* rec : pick_random(static_cast<std::size_t>(cfg.gossip_nodes), live_or_recently_dead)) {
    if (broadcasts.empty()) break;
    send(peer_of(*rec), {}, true);
  }
}

namespace {
gossip::StateEntry entry_of(const Member& m) { return {m.id, m.address, m.incarnation, m.state, m.tags}; }
}  // namespace

void SwimCore::Impl::send_state(const Peer& to, std::uint8_t flags,
                                const std::function<bool(const MemberRecord&)>& include) {
  // Split the state into entries that each fit a packet, then pack them greedily.
  const std::size_t budget = message_budget() - gossip::kPushPullOverhead;
  std::vector<std::vector<gossip::StateEntry>> chunks(1);
  std::size_t used = 0;
  std::size_t selected = 0;
  for (const auto& [id, rec] : members) {
    if (include && !include(rec)) continue;
    gossip::StateEntry e = entry_of(rec.m);
    const std::size_t size = gossip::encode_state_entry(e).size();
    if (size > budget) continue;  // impossible with a validated config; never build an oversize packet
    if (used + size > budget || chunks.back().size() >= gossip::kMaxPushPullEntries) {
      chunks.emplace_back();
      used = 0;
    }
    used += size;
    ++selected;
    chunks.back().push_back(std::move(e));
  }
  if (selected == 0) return;
  const std::uint32_t exchange = ++exchange_seq;
  const auto count = static_cast<std::uint32_t>(chunks.size());
  for (std::uint32_t i = 0; i < count; ++i) {
    gossip::PushPull pp{flags, exchange, i, count, std::move(chunks[i])};
    send(to, {gossip::encode_message(pp)}, true);
  }
}

std::size_t SwimCore::Impl::digest_bucket_count() const {
  // About 8 members a bucket, so one differing member costs about 8 entries (one packet).
  const std::size_t fits = (message_budget() - gossip::kDigestOverhead) / sizeof(std::uint64_t);
  const std::size_t cap = std::min(fits, gossip::kMaxDigestBuckets);
  return std::clamp<std::size_t>(std::bit_ceil((members.size() + 7) / 8), 1, cap);
}

std::vector<std::uint64_t> SwimCore::Impl::state_digest(std::size_t bucket_count) const {
  std::vector<std::uint64_t> buckets(bucket_count, 0);
  for (const auto& [id, rec] : members) {
    buckets[gossip::digest_bucket(id, bucket_count)] += gossip::digest_entry_hash(entry_of(rec.m));
  }
  return buckets;
}

void SwimCore::Impl::start_sync(const Peer& to) {
  ++counters.push_pulls_sent;
  gossip::StateDigest digest{gossip::StateDigest::kWantReply, ++exchange_seq, state_digest(digest_bucket_count())};
  send(to, {gossip::encode_message(digest)}, true);
}

void SwimCore::Impl::handle_digest(const Peer& from, const gossip::StateDigest& msg, Time now) {
  std::vector<std::uint64_t> mine = state_digest(msg.buckets.size());
  std::vector<bool> differs(mine.size());
  bool any = false;
  for (std::size_t i = 0; i < mine.size(); ++i) {
    differs[i] = mine[i] != msg.buckets[i];
    any = any || differs[i];
  }
  if (!any) {
    ++counters.push_pulls_in_sync;
    return;
  }
  // The answer can be many packets: only to a proven address, and not faster than the rate.
  if (unproven(from)) return challenge(from, {.sync = true}, now);
  if (!state_transfer_allowed(from.id, now)) return;
  if ((msg.flags & gossip::StateDigest::kWantReply) != 0) {
    // Our digest goes back so the initiator can send its side of the differing buckets.
    send(from, {gossip::encode_message(gossip::StateDigest{0, msg.exchange, std::move(mine)})}, true);
  }
  send_state(from, 0, [&](const MemberRecord& rec) { return differs[gossip::digest_bucket(rec.m.id, differs.size())]; });
}

void SwimCore::Impl::handle_push_pull(const gossip::PushPull& msg, Time now) {
  if ((msg.flags & gossip::PushPull::kJoinReply) != 0 && joining) {
    joining = false;
    joined = true;
  }
  // Each chunk merges on its own; a lost chunk is repaired by the next exchange.
  for (const auto& e : msg.entries) {
    switch (e.state) {
      case MemberState::kAlive:
        handle_alive(gossip::Alive{e.incarnation, e.id, e.address, e.tags}, now);
        break;
      case MemberState::kLeft:
        handle_dead(e.incarnation, e.id, e.id, true, now);
        break;
      case MemberState::kDead:  // someone else's verdict: we only suspect, and probe ourselves
      case MemberState::kSuspect:
        handle_suspect(gossip::Suspect{e.incarnation, e.id, e.id == self_id ? std::string() : self_id}, now);
        break;
    }
  }
}

void SwimCore::Impl::push_pull_tick(Time now) {
  next_push_pull = now + push_pull_scale(cfg.push_pull_interval, live_count());
  std::vector<const MemberRecord*> alive;
  for (const auto& [id, rec] : members) {
    if (&rec != self_rec && rec.m.state == MemberState::kAlive) alive.push_back(&rec);
  }
  if (alive.empty()) return;
  start_sync(peer_of(*alive[rng.below(alive.size())]));
}

Peer SwimCore::Impl::peer_at(const SocketAddress& address) const {
  for (const auto& [id, rec] : members) {
    if (rec.m.address == address && &rec != self_rec) return peer_of(rec);
  }
  return Peer{address, {}};
}

void SwimCore::Impl::send_join() {
  ++counters.join_attempts;
  for (const auto& seed : seeds) {
    send(Peer{seed, {}}, {gossip::encode_message(alive_of(self_rec->m)), gossip::encode_message(gossip::Join{})}, false);
  }
}

void SwimCore::Impl::join_tick(Time now) {
  send_join();
  join_backoff = std::min<Duration>(join_backoff * 2, cfg.seed_retry_max);
  next_join = now + join_backoff;
}

void SwimCore::Impl::reconnect_tick(Time now) {
  next_reconnect = now + cfg.reconnect_interval;
  // A seed we do not see alive may be on the other side of a partition.
  std::vector<SocketAddress> lost_seeds;
  for (const auto& seed : seeds) {
    const bool live = std::any_of(members.begin(), members.end(), [&](const auto& entry) {
      const auto& m = entry.second.m;
      return m.address == seed && (m.state == MemberState::kAlive || m.state == MemberState::kSuspect);
    });
    if (!live) lost_seeds.push_back(seed);
  }
  if (!lost_seeds.empty()) start_sync(peer_at(lost_seeds[rng.below(lost_seeds.size())]));
  std::vector<const MemberRecord*> dead;
  for (const auto& [id, rec] : members) {
    if (rec.m.state == MemberState::kDead) dead.push_back(&rec);
  }
  if (!dead.empty()) start_sync(peer_of(*dead[rng.below(dead.size())]));
}

}  // namespace rpcnet::cluster
