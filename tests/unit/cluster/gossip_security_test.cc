// What an eavesdropper, a replayer and a key holder can and cannot do to membership (issue 13;
// doc/membership.md, "Threat model"), in the deterministic pump over real sealed packets.
#include <gtest/gtest.h>

#include <chrono>

#include "cluster/gossip_codec.h"
#include "cluster/packet_seal.h"
#include "sim_harness.h"

namespace rpcnet::cluster::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// The wall clock of the simulation at virtual time `t` (CoreStart::simulated).
std::uint64_t wall_seconds(Time t) {
  return 1767225600 + static_cast<std::uint64_t>(std::chrono::duration_cast<seconds>(t.time_since_epoch()).count());
}

// 2. A copy of n1's packet to n2, replayed at n0, does not open there: packets are bound to
// their recipient.
TEST(GossipSecurity, APacketCapturedOnItsWayToOneMemberIsRejectedByAnother) {
  Sim sim(3);
  std::vector<std::byte> to_n2;
  sim.set_tap([&](std::size_t from, std::size_t to, const OutgoingDatagram& d) {
    if (from == 1 && to == 2) to_n2 = d.bytes;
  });
  converge(sim);
  ASSERT_FALSE(to_n2.empty());
  const auto before = sim.node(0).counters();
  sim.inject(0, node_address(1), to_n2);
  EXPECT_EQ(sim.node(0).counters().dropped_auth, before.dropped_auth + 1);
  EXPECT_EQ(sim.node(0).counters().dropped_replay, before.dropped_replay);
}

// 2. One packet captured five restarts ago must not mute the member: with the old list of four
// retired boot ids it counted as a new boot and retired the real, current one at the receiver.
TEST(GossipSecurity, APacketFromFiveRestartsAgoCannotMuteTheRestartedMember) {
  Sim sim(3);
  std::vector<std::byte> first_boot_packet;
  sim.set_tap([&](std::size_t from, std::size_t to, const OutgoingDatagram& d) {
    if (from == 2 && to == 0 && first_boot_packet.empty()) first_boot_packet = d.bytes;
  });
  converge(sim);
  sim.set_tap({});
  ASSERT_FALSE(first_boot_packet.empty());
  for (int restart = 0; restart < 5; ++restart) {
    sim.run_for(seconds(2));
    sim.restart(2, 0);
  }
  ASSERT_TRUE(sim.run_until_true([&] { return full_view(sim); }, seconds(10)));
  const auto before = sim.node(0).counters();
  sim.inject(0, node_address(2), first_boot_packet);
  EXPECT_EQ(sim.node(0).counters().dropped_replay, before.dropped_replay + 1);
  // n2's current packets are still heard: n0 keeps n2 alive through a minute of probing.
  sim.run_for(seconds(60));
  EXPECT_EQ(sim.state(0, 2), MemberState::kAlive);
  EXPECT_EQ(sim.count_events(0, EventKind::kNodeFailed, "n2"), 0u);
}

// 2/4. A boot id from the future (only a key holder can forge one) is dropped, not recorded: it
// would make every real packet of that member look old.
TEST(GossipSecurity, ABootIdBeyondTheClockSkewIsDroppedAsImplausible) {
  Sim sim(1);
  const std::uint64_t far_future_us = (wall_seconds(sim.now()) + 3600) * 1'000'000;
  Forger forger("n7", far_future_us);
  sim.inject(0, node_address(7), forger.packet("n0", {gossip::Alive{1, "n7", node_address(7), {}}}));
  EXPECT_EQ(sim.node(0).counters().dropped_implausible, 1u);
  EXPECT_FALSE(sim.view(0, 7));
  Forger same_member_now("n7", wall_seconds(sim.now()) * 1'000'000);
  sim.inject(0, node_address(7), same_member_now.packet("n0", {gossip::Alive{1, "n7", node_address(7), {}}}));
  EXPECT_TRUE(sim.view(0, 7)) << "its real boot is heard";
}

// 4. One accusation at the largest incarnation the wire can carry used to be irrefutable. Now
// any incarnation whose boot time lies beyond max_clock_skew ahead is dropped, everywhere.
TEST(GossipSecurity, AnAccusationAtASaturatedIncarnationIsDroppedAndChangesNothing) {
  Sim sim(3);
  converge(sim);
  Forger mallory("mallory");
  const std::uint64_t saturated = gossip::kMaxVarint;
  for (std::size_t i = 0; i < 2; ++i) {
    const std::string to = node_name(i);
    sim.inject(i, node_address(9), mallory.packet(to, {gossip::Suspect{saturated, "n2", "mallory"},
                                                       gossip::Dead{saturated, "n2", "mallory"}}));
    EXPECT_EQ(sim.node(i).counters().dropped_implausible, 2u);
    EXPECT_EQ(sim.state(i, 2), MemberState::kAlive);
  }
  sim.run_for(seconds(30));
  EXPECT_EQ(sim.state(0, 2), MemberState::kAlive);
  EXPECT_EQ(sim.node(2).counters().refutations, 0u);
}

// 4. The worst a key holder can still do: accuse at the highest plausible incarnation (boot time
// = now + max_clock_skew, counter full). The refutation is one more, which the others take as
// soon as their clocks pass that second; the member is never declared failed.
TEST(GossipSecurity, AnAccusationAtTheHighestPlausibleIncarnationIsRefutedWithinSeconds) {
  Sim sim(3);
  converge(sim);
  const std::uint64_t skew_s = 300;  // ClusterConfig::max_clock_skew default
  const std::uint64_t edge = first_incarnation(wall_seconds(sim.now()) + skew_s + 1) - 1;
  Forger mallory("mallory");
  for (std::size_t i = 0; i < 2; ++i) {
    sim.inject(i, node_address(9), mallory.packet(node_name(i), {gossip::Suspect{edge, "n2", "mallory"}}));
    EXPECT_EQ(sim.node(i).counters().dropped_implausible, 0u);
    ASSERT_EQ(sim.state(i, 2), MemberState::kSuspect);
  }
  ASSERT_TRUE(sim.run_until_true(
      [&] { return sim.state(0, 2) == MemberState::kAlive && sim.state(1, 2) == MemberState::kAlive; },
      seconds(4), milliseconds(50)));
  EXPECT_EQ(sim.view(0, 2)->incarnation, edge + 1);
  EXPECT_EQ(sim.count_events(0, EventKind::kNodeFailed, "n2"), 0u);
  EXPECT_EQ(sim.count_events(1, EventKind::kNodeFailed, "n2"), 0u);
}

// 4. A restarted member's first incarnation is its boot time: it outranks whatever was said
// about its previous run (dead, here) at once, without learning that run's incarnation first.
TEST(GossipSecurity, ARestartedMemberOutranksItsOldDeathWithoutRefuting) {
  Sim sim(3);
  converge(sim);
  const std::uint64_t old_incarnation = sim.view(0, 2)->incarnation;
  sim.crash(2);
  ASSERT_TRUE(sim.run_until_true([&] { return sim.state(0, 2) == MemberState::kDead; }, seconds(30)));
  sim.restart(2, 0);
  ASSERT_TRUE(sim.run_until_true([&] { return full_view(sim); }, seconds(5), milliseconds(10)));
  EXPECT_EQ(sim.node(2).counters().refutations, 0u);
  EXPECT_GT(incarnation_boot_seconds(sim.view(0, 2)->incarnation), incarnation_boot_seconds(old_incarnation));
}

// 3. A join captured on the wire and replayed at another member with a victim's address as its
// source: the victim gets at most as many bytes as the replayed packet (one challenge), never
// the member table. The real joiner, at its real address, is answered in full.
TEST(GossipSecurity, AReplayedJoinWithASpoofedSourceSendsTheVictimNoMoreThanItCarried) {
  Sim sim(6);
  std::vector<std::byte> join_of_n5;
  sim.set_tap([&](std::size_t from, std::size_t to, const OutgoingDatagram& d) {
    if (from == 5 && to == 0 && join_of_n5.empty()) join_of_n5 = d.bytes;
  });
  sim.join_all_via(0);
  ASSERT_TRUE(sim.run_until_true([&] { return full_view(sim); }, seconds(10)));
  ASSERT_FALSE(join_of_n5.empty());
  ASSERT_EQ(std::to_integer<int>(join_of_n5[0]), kSealUnaddressed) << "a join to a seed is unaddressed";
  const SocketAddress victim = node_address(77);
  std::size_t bytes_to_victim = 0;
  std::size_t packets_to_victim = 0;
  sim.set_stray_tap([&](std::size_t, const OutgoingDatagram& d) {
    if (d.to == victim) {
      bytes_to_victim += d.bytes.size();
      ++packets_to_victim;
    }
  });
  std::uint64_t before[5] = {};
  for (std::size_t member = 1; member < 5; ++member) before[member] = sim.node(member).counters().challenges_sent;
  for (std::size_t member = 1; member < 5; ++member) sim.inject(member, victim, join_of_n5);
  sim.run_for(seconds(5));
  EXPECT_LE(bytes_to_victim, 4 * join_of_n5.size()) << "at most 1x per member reached";
  EXPECT_LE(packets_to_victim, 4u);
  std::uint64_t challenges = 0;
  for (std::size_t member = 1; member < 5; ++member) challenges += sim.node(member).counters().challenges_sent - before[member];
  EXPECT_EQ(challenges, 4u) << "one challenge per member, instead of its table";
  EXPECT_EQ(sim.node(1).counters().addresses_validated, 0u) << "nobody at the victim's address answers";
}

// 3. The same replay with the joiner's own address as the source reaches a proven address, but
// state transfers to one peer are rate-limited: replaying the join many times in one probe
// interval yields one transfer.
TEST(GossipSecurity, StateTransfersToOnePeerAreRateLimited) {
  Sim sim(4);
  converge(sim);
  Forger joiner("n3", (wall_seconds(sim.now()) + 1) * 1'000'000);  // a boot of n3's after its real one
  const auto join = [&] {
    return joiner.packet("n1", {gossip::Alive{sim.view(1, 3)->incarnation, "n3", node_address(3), {}}, gossip::Join{}});
  };
  const auto before = sim.node(1).counters();
  for (int i = 0; i < 10; ++i) sim.inject(1, node_address(3), join());
  EXPECT_EQ(sim.node(1).counters().state_transfers_limited, before.state_transfers_limited + 9);
}

// 3. A member whose packets arrive from an address other than the one it advertises (a NAT) is
// asked once to prove it, and from then on is answered in full.
TEST(GossipSecurity, AnUnprovenAddressIsChallengedOnceThenAnswered) {
  Sim sim(2);
  converge(sim);
  const SocketAddress elsewhere = node_address(40);
  std::optional<std::uint64_t> token;
  std::size_t state_packets = 0;
  sim.set_stray_tap([&](std::size_t, const OutgoingDatagram& d) {
    if (d.to != elsewhere) return;
    for (const auto& m : open_messages(d.bytes, "roamer")) {
      if (const auto* c = std::get_if<gossip::Challenge>(&m)) token = c->token;
      state_packets += std::holds_alternative<gossip::PushPull>(m);
    }
  });
  // roamer advertises node_address(41) but speaks from `elsewhere`.
  const auto before = sim.node(0).counters();  // n1's join was proven by a challenge too
  Forger roamer("roamer", 5);
  sim.inject(0, elsewhere, roamer.packet("", {gossip::Alive{1, "roamer", node_address(41), {}}, gossip::Join{}}));
  EXPECT_EQ(sim.node(0).counters().challenges_sent, before.challenges_sent + 1);
  ASSERT_TRUE(token) << "the challenge went to the address the join came from";
  EXPECT_EQ(state_packets, 0u) << "no table before the proof";
  sim.inject(0, elsewhere, roamer.packet("n0", {gossip::Join{}}));  // asks again: no second challenge
  EXPECT_EQ(sim.node(0).counters().challenges_sent, before.challenges_sent + 1);
  sim.inject(0, elsewhere, roamer.packet("n0", {gossip::ChallengeResponse{*token + 1}}));
  EXPECT_EQ(sim.node(0).counters().addresses_validated, before.addresses_validated) << "a wrong token proves nothing";
  sim.inject(0, elsewhere, roamer.packet("n0", {gossip::ChallengeResponse{*token}}));
  EXPECT_EQ(sim.node(0).counters().addresses_validated, before.addresses_validated + 1);
  EXPECT_GE(state_packets, 1u) << "the join reply owed is sent once proven";
}

// 2. An unaddressed packet opens at every member, so it may carry only a first contact.
TEST(GossipSecurity, AnUnaddressedPacketCarriesNothingButAJoin) {
  Sim sim(3);
  converge(sim);
  Forger mallory("mallory");
  const auto before = sim.node(0).counters();
  sim.inject(0, node_address(9), mallory.packet("", {gossip::Suspect{sim.view(0, 2)->incarnation, "n2", "mallory"},
                                                     gossip::Alive{1, "someone-else", node_address(30), {}}}));
  EXPECT_EQ(sim.node(0).counters().dropped_unaddressed, before.dropped_unaddressed + 2);
  EXPECT_EQ(sim.state(0, 2), MemberState::kAlive);
  EXPECT_FALSE(sim.node(0).members().size() > 3);
}

}  // namespace
}  // namespace rpcnet::cluster::test
