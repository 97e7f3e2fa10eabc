// SwimCore: the public API, sealed packets in and out, and the timer wheel.
#include "cluster/swim_core.h"

#include <algorithm>
#include <utility>

#include "cluster/packet_seal.h"
#include "cluster/swim_core_impl.h"

namespace rpcnet::cluster {

namespace {
Duration random_below(Prng& rng, Duration bound) {
  if (bound <= Duration::zero()) return Duration::zero();
  return Duration(static_cast<Duration::rep>(rng.below(static_cast<std::uint64_t>(bound.count()))));
}

// The core cannot fail construction, so out-of-range values are clamped into a safe range
// (callers get a precise error from ClusterConfig::validate() first).
ClusterConfig sanitize(ClusterConfig c) {
  if (c.node_id.empty()) c.node_id = "node";
  if (c.node_id.size() > kMaxMemberIdBytes) c.node_id.resize(kMaxMemberIdBytes);
  c.max_packet_bytes = std::clamp<std::size_t>(c.max_packet_bytes, 512, 65507);
  c.max_messages_per_packet = std::clamp<std::size_t>(c.max_messages_per_packet, 1, 255);
  c.max_members = std::max<std::size_t>(c.max_members, 2);
  const Duration ms{std::chrono::milliseconds(1)};
  for (Duration* d : {&c.probe_interval, &c.probe_timeout, &c.push_pull_interval, &c.gossip_interval,
                      &c.seed_retry_initial, &c.seed_retry_max, &c.reconnect_interval, &c.phi_min_std_dev}) {
    *d = std::max(*d, ms);
  }
  c.probe_timeout = std::min(c.probe_timeout, c.probe_interval);
  c.seed_retry_max = std::max(c.seed_retry_max, c.seed_retry_initial);
  c.awareness_max_multiplier = std::max(c.awareness_max_multiplier, 1);
  c.gossip_nodes = std::max(c.gossip_nodes, 1);
  c.indirect_checks = std::clamp(c.indirect_checks, 0, 16);
  c.retransmit_mult = std::max(c.retransmit_mult, 1);
  c.suspicion_mult = std::max(c.suspicion_mult, 1);
  c.suspicion_max_timeout_mult = std::max(c.suspicion_max_timeout_mult, 1);
  c.phi_window = std::max<std::size_t>(c.phi_window, 2);
  return c;
}

PhiAccrual::Params phi_params_of(const ClusterConfig& c) {
  return {c.phi_window, std::chrono::duration<double, std::milli>(c.phi_min_std_dev).count(),
          std::chrono::duration<double, std::milli>(c.phi_acceptable_pause).count(), c.phi_threshold};
}
}  // namespace

CoreStart CoreStart::simulated(std::uint64_t seed, Time now) {
  CoreStart start;
  start.rng_seed = seed;
  Prng secret_source(seed, "nonce secret");
  secret_source.fill(start.nonce_secret);
  const auto epoch_2026 = std::chrono::system_clock::time_point(std::chrono::seconds(1767225600));
  start.wall_clock = epoch_2026 + std::chrono::duration_cast<std::chrono::system_clock::duration>(now.time_since_epoch());
  return start;
}

SwimCore::Impl::Impl(ClusterConfig config, KeyRing key_ring, const CoreStart& start, Time now)
    : cfg(sanitize(std::move(config))),
      phi_params(phi_params_of(cfg)),
      keys(std::move(key_ring)),
      rng(start.rng_seed, cfg.node_id),
      nonces(start.nonce_secret),
      started(now),
      wall_at_start(start.wall_clock),
      self_id(cfg.node_id),
      replay(cfg.max_members + 16),
      validation(std::min<std::size_t>(cfg.max_members + 16, 4096), cfg.probe_interval),
      partition(cfg.partition_fraction, cfg.partition_window) {
  const auto since_epoch = start.wall_clock.time_since_epoch();
  boot_id = static_cast<std::uint64_t>(std::max<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::microseconds>(since_epoch).count()));
  const auto boot_seconds = static_cast<std::uint64_t>(std::max<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count()));
  MemberRecord self{Member{self_id, cfg.advertised(), {}, first_incarnation(boot_seconds), MemberState::kAlive, 0.0, true},
                    now, PhiAccrual(phi_params), false, false};
  self_rec = &insert_member(std::move(self));
  // Random stagger so that nodes started together do not probe and gossip in lockstep.
  next_probe = now + random_below(rng, cfg.probe_interval);
  next_gossip = now + random_below(rng, cfg.gossip_interval);
  next_push_pull = now + cfg.push_pull_interval + random_below(rng, cfg.push_pull_interval);
  next_reconnect = now + cfg.reconnect_interval + random_below(rng, cfg.reconnect_interval);
  next_health = now + cfg.probe_interval;
}

Duration SwimCore::Impl::scaled(Duration d) const { return cfg.lifeguard ? d * (awareness + 1) : d; }

void SwimCore::Impl::emit(ClusterEvent event) {
  if (events.size() >= kMaxQueuedEvents) {
    events.pop_front();
    ++counters.dropped_events;
  }
  events.push_back(std::move(event));
}

std::size_t SwimCore::Impl::message_budget() const {
  return cfg.max_packet_bytes - kSealOverhead - gossip::envelope_overhead(self_id.size());
}

void SwimCore::Impl::send(const Peer& to, std::vector<Buffer> messages, bool piggyback) {
  std::size_t budget = message_budget();
  const bool capped = reply_budget && reply_budget->to == to.address;
  if (capped) {
    const std::size_t overhead = kSealOverhead + gossip::envelope_overhead(self_id.size());
    budget = std::min(budget, reply_budget->bytes > overhead ? reply_budget->bytes - overhead : 0);
  }
  std::size_t used = 0;
  for (const auto& m : messages) used += m.size();
  if (used > budget || messages.size() > cfg.max_messages_per_packet) {
    if (capped) ++counters.replies_withheld;
    return;  // never built so otherwise
  }
  // Rumors ride only packets sealed for their recipient: an unaddressed packet opens anywhere.
  if (piggyback && !to.id.empty() && messages.size() < cfg.max_messages_per_packet) {
    auto extra = broadcasts.take(budget - used, cfg.max_messages_per_packet - messages.size(),
                                 retransmit_limit(cfg.retransmit_mult, live_count()));
    for (auto& m : extra) messages.push_back(std::move(m));
  }
  if (messages.empty()) return;
  const Buffer plain = gossip::encode_packet({self_id, boot_id, ++packet_seq}, messages);
  auto sealed = seal_packet(keys, nonces, to.id, plain);
  if (!sealed) return;
  if (capped) reply_budget->bytes -= std::min(reply_budget->bytes, sealed->size());
  if (out.size() >= kMaxQueuedDatagrams) out.pop_front();  // the driver is not draining
  ++counters.packets_out;
  counters.bytes_out += sealed->size();
  out.push_back(OutgoingDatagram{to.address, std::move(*sealed)});
}

bool SwimCore::Impl::plausible_boot(std::uint64_t boot, Time now) const {
  const auto horizon = wall_now(now) + cfg.max_clock_skew;
  const auto horizon_us = std::chrono::duration_cast<std::chrono::microseconds>(horizon.time_since_epoch()).count();
  return horizon_us >= 0 && boot <= static_cast<std::uint64_t>(horizon_us);
}

bool SwimCore::Impl::plausible_incarnation(std::uint64_t incarnation, Time now) {
  const auto horizon = wall_now(now) + cfg.max_clock_skew;
  const auto horizon_s = std::chrono::duration_cast<std::chrono::seconds>(horizon.time_since_epoch()).count();
  if (horizon_s >= 0 && incarnation_boot_seconds(incarnation) <= static_cast<std::uint64_t>(horizon_s)) return true;
  ++counters.dropped_implausible;
  return false;
}

void SwimCore::Impl::on_datagram(const SocketAddress& from, std::span<const std::byte> bytes, Time now) {
  ++counters.packets_in;
  counters.bytes_in += bytes.size();
  if (leaving) return;  // a leaving node only spreads its leave
  if (bytes.size() > cfg.max_packet_bytes) {
    ++counters.dropped_oversize;
    return;
  }
  auto opened = open_packet(keys, self_id, bytes);
  if (opened.error == OpenError::kMalformed) {
    ++counters.dropped_malformed;
    return;
  }
  if (opened.error == OpenError::kAuth) {
    ++counters.dropped_auth;
    return;
  }
  auto decoded = gossip::decode_packet(opened.plaintext, cfg.max_messages_per_packet);
  if (decoded.error != gossip::DecodeError::kNone) {
    ++counters.dropped_malformed;
    return;
  }
  const auto& env = decoded.packet.envelope;
  if (env.sender == self_id) {  // our own packet reflected back, or a forgery of us
    ++counters.dropped_invalid_message;
    return;
  }
  if (!plausible_boot(env.boot_id, now)) {
    ++counters.dropped_implausible;
    return;
  }
  if (!replay.accept(env.sender, env.boot_id, env.seq, now)) {
    ++counters.dropped_replay;
    return;
  }
  const Peer sender{from, env.sender};
  // Decided before the packet's own messages run: a join carries the joiner's alive, which
  // would otherwise vouch for the very address it claims.
  if (!proven(sender, now)) reply_budget = ReplyBudget{from, bytes.size()};
  for (auto& message : decoded.packet.messages) {
    if (!opened.addressed && !unaddressed_allowed(sender.id, message)) {
      ++counters.dropped_unaddressed;
      continue;
    }
    dispatch(sender, message, now);
  }
  if (find(sender.id) == nullptr && !joining) {
    // An authenticated member we have never heard of (simultaneous joins, lost gossip): our
    // views differ, so sync full state with it. At most one such exchange per probe interval.
    if (now - last_unknown_sync >= cfg.probe_interval) {
      last_unknown_sync = now;
      if (unproven(sender)) {
        challenge(sender, {.sync = true}, now);
      } else {
        start_sync(sender);
      }
    }
  }
  reply_budget.reset();
}

// An unaddressed packet opens at every member, so a copy replayed elsewhere must not carry
// anything but what a first contact needs: the sender's own alive, a join, a digest.
bool SwimCore::Impl::unaddressed_allowed(const std::string& sender, const gossip::Message& message) const {
  if (const auto* alive = std::get_if<gossip::Alive>(&message)) return alive->id == sender;
  return std::holds_alternative<gossip::Join>(message) || std::holds_alternative<gossip::StateDigest>(message);
}

void SwimCore::Impl::dispatch(const Peer& from, gossip::Message& message, Time now) {
  using namespace gossip;
  if (auto* m = std::get_if<Ping>(&message)) return handle_ping(from, *m);
  if (auto* m = std::get_if<PingReq>(&message)) return handle_ping_req(from, *m, now);
  if (auto* m = std::get_if<Ack>(&message)) return handle_ack(m->seq, now);
  if (auto* m = std::get_if<Nack>(&message)) return handle_nack(m->seq);
  if (auto* m = std::get_if<Alive>(&message)) return handle_alive(*m, now);
  if (auto* m = std::get_if<Suspect>(&message)) return handle_suspect(*m, now, &from);
  if (auto* m = std::get_if<Dead>(&message)) return handle_dead(m->incarnation, m->id, m->from, false, now, &from);
  if (auto* m = std::get_if<Left>(&message)) return handle_dead(m->incarnation, m->id, m->id, true, now, &from);
  if (auto* m = std::get_if<PushPull>(&message)) return handle_push_pull(*m, now);
  if (auto* m = std::get_if<StateDigest>(&message)) return handle_digest(from, *m, now);
  if (auto* m = std::get_if<Challenge>(&message)) {
    // The answer goes where the challenge came from, whatever the reply budget: it is what
    // proves that address, and it is no larger than the challenge.
    auto budget = std::exchange(reply_budget, std::nullopt);
    send(from, {encode_message(ChallengeResponse{m->token})}, false);
    reply_budget = std::move(budget);
    return;
  }
  if (auto* m = std::get_if<ChallengeResponse>(&message)) return handle_challenge_response(from, m->token, now);
  if (std::holds_alternative<Join>(message)) {
    if (unproven(from)) return challenge(from, {.join_reply = true}, now);
    if (state_transfer_allowed(from.id, now)) send_state(from, PushPull::kJoinReply);
  }
}

bool SwimCore::Impl::proven(const Peer& from, Time now) const {
  const auto it = members.find(from.id);
  if (it != members.end() && it->second.m.address == from.address) return true;
  if (std::find(seeds.begin(), seeds.end(), from.address) != seeds.end()) return true;
  return validation.proven(from.id, from.address, now);
}

void SwimCore::Impl::challenge(const Peer& from, AddressValidation::Owed owed, Time now) {
  const auto token = validation.challenge(from.id, from.address, owed, rng.next(), now);
  if (!token) return;
  ++counters.challenges_sent;
  send(from, {gossip::encode_message(gossip::Challenge{*token})}, false);
}

void SwimCore::Impl::handle_challenge_response(const Peer& from, std::uint64_t token, Time now) {
  const auto owed = validation.answer(from.id, from.address, token, now);
  if (!owed) return;
  ++counters.addresses_validated;
  reply_budget.reset();  // proven now: what follows in this packet is answered in full
  if (owed->join_reply && state_transfer_allowed(from.id, now)) send_state(from, gossip::PushPull::kJoinReply);
  if (owed->sync) start_sync(from);
}

bool SwimCore::Impl::state_transfer_allowed(const std::string& peer, Time now) {
  auto it = last_state_transfer.find(peer);
  if (it != last_state_transfer.end()) {
    if (now - it->second < cfg.probe_interval) {
      ++counters.state_transfers_limited;
      return false;
    }
    it->second = now;
    return true;
  }
  if (last_state_transfer.size() >= cfg.max_members + 16) {
    std::erase_if(last_state_transfer, [&](const auto& entry) { return now - entry.second >= cfg.probe_interval; });
    if (last_state_transfer.size() >= cfg.max_members + 16) last_state_transfer.erase(last_state_transfer.begin());
  }
  last_state_transfer.emplace(peer, now);
  return true;
}

Time SwimCore::Impl::next_deadline() const {
  if (leaving) return broadcasts.empty() ? Time::max() : next_gossip;
  Time t = std::min({next_probe, next_gossip, next_push_pull, next_reconnect, next_health});
  if (probe && !probe->acked && !probe->indirect_sent) t = std::min(t, probe->direct_deadline);
  if (joining) t = std::min(t, next_join);
  for (const auto& [seq, r] : relays) t = std::min(t, r.want_nack ? std::min(r.nack_at, r.expire) : r.expire);
  for (const auto& [id, s] : suspicions) t = std::min(t, s.deadline());
  return t;
}

void SwimCore::Impl::on_timer(Time now) {
  if (leaving) {
    if (now >= next_gossip) gossip_tick(now);
    return;
  }
  if (joining && now >= next_join) join_tick(now);
  if (probe && !probe->acked && !probe->indirect_sent && now >= probe->direct_deadline) send_indirect(now);
  if (now >= next_probe) probe_tick(now);
  relay_tick(now);
  std::vector<std::pair<std::string, std::uint64_t>> expired;
  for (const auto& [id, s] : suspicions) {
    if (now >= s.deadline()) expired.emplace_back(id, s.incarnation());
  }
  for (const auto& [id, incarnation] : expired) {
    suspicions.erase(id);
    handle_dead(incarnation, id, self_id, false, now);
  }
  if (now >= next_gossip) gossip_tick(now);
  if (now >= next_push_pull) push_pull_tick(now);
  if (now >= next_reconnect) reconnect_tick(now);
  if (now >= next_health) health_tick(now);
}

// ---- the public face --------------------------------------------------------------------

SwimCore::SwimCore(ClusterConfig config, KeyRing keys, const CoreStart& start, Time now)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(keys), start, now)) {}
SwimCore::~SwimCore() = default;
SwimCore::SwimCore(SwimCore&&) noexcept = default;
SwimCore& SwimCore::operator=(SwimCore&&) noexcept = default;

void SwimCore::set_heartbeat_observer(HeartbeatObserver observer) {
  impl_->heartbeat_observer = std::move(observer);
}

void SwimCore::join(std::span<const SocketAddress> seeds, Time now) {
  auto& s = *impl_;
  if (s.leaving) return;
  s.seeds.clear();
  for (const auto& seed : seeds) {
    if (seed != s.cfg.advertised() && std::find(s.seeds.begin(), s.seeds.end(), seed) == s.seeds.end()) {
      s.seeds.push_back(seed);
    }
  }
  if (s.seeds.empty()) {  // the first node of a cluster: nobody to contact
    s.joined = true;
    return;
  }
  s.joining = true;
  s.join_backoff = s.cfg.seed_retry_initial;
  s.send_join();
  s.next_join = now + s.join_backoff;
}

void SwimCore::leave(Time now) {
  auto& s = *impl_;
  if (s.leaving) return;
  s.leaving = true;
  s.joining = false;
  s.probe.reset();
  s.relays.clear();
  s.suspicions.clear();
  s.set_state(*s.self_rec, MemberState::kLeft);
  s.self_rec->m.healthy = false;
  s.self_rec->state_change = now;
  s.broadcasts.enqueue(s.self_id, gossip::encode_message(gossip::Left{s.self_rec->m.incarnation, s.self_id}));
  s.gossip_tick(now);
}

Status SwimCore::update_tag(std::string key, std::string value, Time) {
  auto& s = *impl_;
  if (s.leaving) return RpcError::status(StatusCode::kFailedPrecondition, "the node has left");
  auto tags = s.self_rec->m.tags;
  tags[std::move(key)] = std::move(value);
  if (gossip::tags_bytes(tags) > s.cfg.max_tags_bytes || tags.size() > gossip::kMaxTags) {
    return RpcError::status(StatusCode::kResourceExhausted, "tags exceed max_tags_bytes or 32 entries");
  }
  if (tags == s.self_rec->m.tags) return ok();
  s.self_rec->m.tags = std::move(tags);
  ++s.self_rec->m.incarnation;  // a tag change is news only with a higher incarnation
  s.broadcast_self_alive();
  return ok();
}

Status SwimCore::remove_tag(std::string_view key, Time) {
  auto& s = *impl_;
  if (s.leaving) return RpcError::status(StatusCode::kFailedPrecondition, "the node has left");
  const auto it = s.self_rec->m.tags.find(std::string(key));
  if (it == s.self_rec->m.tags.end()) return ok();
  s.self_rec->m.tags.erase(it);
  ++s.self_rec->m.incarnation;
  s.broadcast_self_alive();
  return ok();
}

void SwimCore::on_datagram(const SocketAddress& from, std::span<const std::byte> bytes, Time now) {
  impl_->on_datagram(from, bytes, now);
}
void SwimCore::on_timer(Time now) { impl_->on_timer(now); }
Time SwimCore::next_deadline() const { return impl_->next_deadline(); }

std::optional<OutgoingDatagram> SwimCore::poll_datagram() {
  if (impl_->out.empty()) return std::nullopt;
  OutgoingDatagram d = std::move(impl_->out.front());
  impl_->out.pop_front();
  return d;
}

std::optional<ClusterEvent> SwimCore::poll_event() {
  if (impl_->events.empty()) return std::nullopt;
  ClusterEvent e = std::move(impl_->events.front());
  impl_->events.pop_front();
  return e;
}

std::vector<Member> SwimCore::members() const {
  std::vector<Member> out;
  out.reserve(impl_->members.size());
  for (const auto& [id, rec] : impl_->members) out.push_back(rec.m);
  return out;
}

const Member& SwimCore::self() const { return impl_->self_rec->m; }
const MembershipCounters& SwimCore::counters() const { return impl_->counters; }
KeyRing& SwimCore::key_ring() { return impl_->keys; }
int SwimCore::health_score() const { return impl_->awareness; }
bool SwimCore::joined() const { return impl_->joined; }
std::size_t SwimCore::pending_broadcasts() const { return impl_->broadcasts.size(); }
const ClusterConfig& SwimCore::config() const { return impl_->cfg; }

}  // namespace rpcnet::cluster
