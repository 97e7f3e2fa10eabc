// swim_core_impl.h — SwimCore's private state, shared by the files that implement one concern
// each: swim_core.cc (API, packet in/out, timers), swim_state.cc (merging alive / suspect /
// dead / left, health and events), swim_probe.cc (probing, ping-req relays, Lifeguard
// awareness), swim_sync.cc (gossip, push-pull, join, reconnect).
#pragma once

#include <array>
#include <functional>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cluster/address_validation.h"
#include "cluster/broadcast_queue.h"
#include "cluster/gossip_codec.h"
#include "cluster/partition_detector.h"
#include "cluster/phi_accrual.h"
#include "cluster/prng.h"
#include "cluster/replay_guard.h"
#include "cluster/suspicion.h"
#include "cluster/swim_core.h"

namespace rpcnet::cluster {

struct MemberRecord {
  Member m;
  Time state_change{};
  PhiAccrual phi;
  bool reported_failed = false;  // kNodeFailed emitted, kNodeRecovered not yet
  bool reported_left = false;    // kNodeLeft emitted
};

struct ProbeState {
  std::string target;
  std::uint32_t seq = 0;
  Time direct_deadline{};
  Time end{};
  bool indirect_sent = false;
  bool acked = false;
  int expected_nacks = 0;
  int nacks = 0;
};

// Where a packet goes or came from: an address, and the member id there ("" while unknown, e.g.
// a seed before it answers: such packets go out unaddressed, packet_seal.h).
struct Peer {
  SocketAddress address;
  std::string id;
};

struct Relay {
  Peer origin;
  std::uint32_t origin_seq = 0;
  bool want_nack = false;
  Time nack_at{};
  Time expire{};
};

struct SwimCore::Impl {
  using Buffer = gossip::Buffer;
  static constexpr std::size_t kMaxRelays = 1024;
  static constexpr std::size_t kMaxQueuedEvents = 65536;
  static constexpr std::size_t kMaxQueuedDatagrams = 65536;
  static constexpr std::size_t kHealthSweepSlice = 256;  // members a health tick visits

  Impl(ClusterConfig config, KeyRing keys, const CoreStart& start, Time now);

  // ---- swim_core.cc: packets and timers
  void on_datagram(const SocketAddress& from, std::span<const std::byte> bytes, Time now);
  void on_timer(Time now);
  Time next_deadline() const;
  // Sends `messages` (framed) plus as many queued broadcasts as fit (when piggyback), sealed
  // for `to.id` (unaddressed, and never with piggybacked rumors, when it is empty). While a
  // packet from an unproven address is handled, what goes back there is capped (ReplyBudget).
  void send(const Peer& to, std::vector<Buffer> messages, bool piggyback);
  std::size_t message_budget() const;  // bytes available for messages in one packet
  void dispatch(const Peer& from, gossip::Message& message, Time now);
  bool unaddressed_allowed(const std::string& sender, const gossip::Message& message) const;
  void emit(ClusterEvent event);
  Duration scaled(Duration d) const;
  // The wall clock extrapolated from the start (the core reads no clock).
  std::chrono::system_clock::time_point wall_now(Time now) const { return wall_at_start + (now - started); }
  // A boot id or incarnation claiming a start beyond max_clock_skew ahead of our clock: only a
  // key holder can send one, and accepting it would let it outrank the real member for good.
  bool plausible_boot(std::uint64_t boot_id, Time now) const;
  bool plausible_incarnation(std::uint64_t incarnation, Time now);

  // ---- address validation (reflection): see address_validation.h
  bool proven(const Peer& from, Time now) const;
  // True while the packet being handled came from `from`, an address not proven for its sender
  // (judged before the packet's own messages ran).
  bool unproven(const Peer& from) const { return reply_budget && reply_budget->to == from.address; }
  // Sends a Challenge to `from` for what it is owed (once per rechallenge period).
  void challenge(const Peer& from, AddressValidation::Owed owed, Time now);
  void handle_challenge_response(const Peer& from, std::uint64_t token, Time now);
  // Join replies and anti-entropy answers: at most one per peer per probe interval.
  bool state_transfer_allowed(const std::string& peer, Time now);

  // ---- swim_state.cc: merging and health
  void handle_alive(const gossip::Alive& msg, Time now);
  // `rumor_from`: the address the message came from, when it came from the network. A rumor
  // older than our record means its sender missed an update; we send it ours (correct_stale).
  void handle_suspect(const gossip::Suspect& msg, Time now, const Peer* rumor_from = nullptr);
  void handle_dead(std::uint64_t incarnation, const std::string& id, const std::string& from, bool left, Time now,
                   const Peer* rumor_from = nullptr);
  void correct_stale(const MemberRecord& rec, const Peer* rumor_from);
  void refute(std::uint64_t observed_incarnation, Time now);
  void accused(std::uint64_t incarnation, Time now, const Peer* rumor_from);
  void broadcast_self_alive();
  void update_health(MemberRecord& rec, Time now);
  void health_tick(Time now);
  bool make_room();
  std::size_t live_count() const;    // alive + suspect, self included, at least 1: O(1)
  // The member table changes only through these three, which keep state_count and the peer
  // index current (both are asked per packet; recounting 1000 members each time dominated).
  MemberRecord& insert_member(MemberRecord record);
  void erase_member(std::map<std::string, MemberRecord>::iterator it);
  void set_state(MemberRecord& rec, MemberState state);
  std::size_t others_not_left() const;
  MemberRecord* find(const std::string& id);
  gossip::Alive alive_of(const Member& m) const;
  Duration phi_expected_interval() const;
  void apply_awareness(int delta);

  // ---- swim_probe.cc
  void probe_tick(Time now);
  void finish_probe(Time now);
  void send_indirect(Time now);
  void handle_ping(const Peer& from, const gossip::Ping& msg);
  void handle_ping_req(const Peer& from, const gossip::PingReq& msg, Time now);
  void handle_ack(std::uint32_t seq, Time now);
  void handle_nack(std::uint32_t seq);
  void relay_tick(Time now);
  void rebuild_probe_order();
  void insert_probe_order(const std::string& id);

  // ---- swim_sync.cc
  void gossip_tick(Time now);
  void push_pull_tick(Time now);
  void reconnect_tick(Time now);
  void join_tick(Time now);
  void send_join();
  // Our member entries `include` selects (all without it), in datagram-sized push-pull chunks.
  void send_state(const Peer& to, std::uint8_t flags,
                  const std::function<bool(const MemberRecord&)>& include = {});
  void handle_push_pull(const gossip::PushPull& msg, Time now);
  // Anti-entropy, digest first: start_sync sends our bucket digest; handle_digest answers with
  // the entries of the buckets that differ (and its own digest when asked), so equal views cost
  // one packet and a difference costs the differing buckets, not the whole table.
  void start_sync(const Peer& to);
  void handle_digest(const Peer& from, const gossip::StateDigest& msg, Time now);
  // The member at `address`, as a Peer (id "" when no member has it).
  Peer peer_at(const SocketAddress& address) const;
  Peer peer_of(const MemberRecord& rec) const { return Peer{rec.m.address, rec.m.id}; }
  std::size_t digest_bucket_count() const;
  std::vector<std::uint64_t> state_digest(std::size_t bucket_count) const;
  // Up to `count` distinct members other than self that `eligible` accepts, uniformly at random.
  std::vector<const MemberRecord*> pick_random(std::size_t count, const std::function<bool(const MemberRecord&)>& eligible);

  ClusterConfig cfg;
  PhiAccrual::Params phi_params;
  SwimCore::HeartbeatObserver heartbeat_observer;  // HealthChecker's feed; may be empty
  KeyRing keys;
  Prng rng;
  NonceSequence nonces;
  Time started{};
  std::chrono::system_clock::time_point wall_at_start{};
  MembershipCounters counters;
  std::string self_id;
  std::map<std::string, MemberRecord> members;  // self included
  std::array<std::size_t, 4> state_count{};       // members per MemberState, self included
  std::string health_cursor;                      // where the next health sweep slice starts
  std::vector<const MemberRecord*> peer_index;   // every member but self, for random picks
  bool peer_index_stale = true;                   // rebuilt lazily after an insert or erase
  MemberRecord* self_rec = nullptr;

  std::vector<std::string> probe_order;
  std::size_t probe_index = 0;
  std::optional<ProbeState> probe;
  std::map<std::uint32_t, Relay> relays;
  std::map<std::string, Suspicion> suspicions;
  BroadcastQueue broadcasts;
  ReplayGuard replay;
  AddressValidation validation;
  std::map<std::string, Time, std::less<>> last_state_transfer;  // per peer, bounded
  // Set while a packet from an unproven address is handled: bytes that may still go back there.
  struct ReplyBudget {
    SocketAddress to;
    std::size_t bytes = 0;
  };
  std::optional<ReplyBudget> reply_budget;
  PartitionDetector partition;
  int awareness = 0;
  std::uint32_t next_probe_seq = 1;
  std::uint64_t boot_id = 0;
  std::uint64_t packet_seq = 0;
  std::uint32_t exchange_seq = 0;

  Time next_probe{};
  Time next_gossip{};
  Time next_push_pull{};
  Time next_reconnect{};
  Time next_health{};

  std::vector<SocketAddress> seeds;
  bool joining = false;
  bool joined = false;
  Time next_join{};
  Duration join_backoff{};

  bool leaving = false;
  Time last_unknown_sync{};  // rate limit of push-pulls toward unknown senders

  std::deque<OutgoingDatagram> out;
  std::deque<ClusterEvent> events;
};

}  // namespace rpcnet::cluster
