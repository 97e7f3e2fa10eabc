// Anti-entropy: what one core answers to a peer's bucket digest (gossip_codec.h, message 11) and
// to a stale rumor, read back through the real seal, and what a periodic exchange costs.
#include <gtest/gtest.h>

#include <chrono>
#include <set>

#include "sim_harness.h"

namespace rpcnet::cluster::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using gossip::StateDigest;
using gossip::StateEntry;

constexpr std::size_t kFakeMembers = 64;
const Time kNow = Time{} + std::chrono::hours(1);

std::string fake_id(std::size_t i) { return "member-" + std::to_string(i); }

// One core (n0) that has learned kFakeMembers members from peer "member-0". No timers run, so
// its table changes only through what the test sends.
class AntiEntropy : public ::testing::Test {
 protected:
  AntiEntropy() : core_(config(), std::move(*KeyRing::create(test_key())), CoreStart::simulated(11, kNow), kNow), peer_("member-0") {
    for (std::size_t i = 0; i < kFakeMembers; i += 2) {
      std::vector<gossip::Message> batch;
      for (std::size_t j = i; j < i + 2; ++j) batch.push_back(gossip::Alive{3, fake_id(j), fake_address(j), {{"zone", "z1"}}});
      deliver(batch);
    }
    drain();
  }

  static ClusterConfig config() {
    ClusterConfig c = ClusterConfig::Lan();
    c.node_id = "n0";
    c.bind_address = node_address(0);
    return c;
  }
  static SocketAddress fake_address(std::size_t i) { return node_address(100 + i); }

  void deliver(const std::vector<gossip::Message>& messages) {
    core_.on_datagram(fake_address(0), peer_.packet("n0", messages), kNow);
  }
  std::vector<std::vector<gossip::Message>> drain() {
    std::vector<std::vector<gossip::Message>> out;
    while (auto d = core_.poll_datagram()) {
      EXPECT_EQ(d->to, fake_address(0));
      out.push_back(open_messages(d->bytes, "member-0"));
    }
    while (core_.poll_event()) {
    }
    return out;
  }

  // The table n0 holds, as the peer would describe it, with `bump` at a newer incarnation.
  std::vector<StateEntry> expected_entries(const std::string& bump = {}) const {
    std::vector<StateEntry> entries{{"n0", node_address(0), core_.self().incarnation, MemberState::kAlive, {}}};
    for (std::size_t i = 0; i < kFakeMembers; ++i) {
      entries.push_back({fake_id(i), fake_address(i), fake_id(i) == bump ? 4u : 3u, MemberState::kAlive, {{"zone", "z1"}}});
    }
    return entries;
  }
  static std::vector<std::uint64_t> digest_of(const std::vector<StateEntry>& entries, std::size_t buckets) {
    std::vector<std::uint64_t> out(buckets, 0);
    for (const auto& e : entries) out[gossip::digest_bucket(e.id, buckets)] += gossip::digest_entry_hash(e);
    return out;
  }

  SwimCore core_;
  Forger peer_;
};

TEST_F(AntiEntropy, EqualViewsAreAnsweredWithNothing) {
  ASSERT_EQ(core_.members().size(), kFakeMembers + 1);
  deliver({StateDigest{StateDigest::kWantReply, 7, digest_of(expected_entries(), 16)}});
  EXPECT_TRUE(drain().empty());
  EXPECT_EQ(core_.counters().push_pulls_in_sync, 1u);
}

TEST_F(AntiEntropy, OneDifferingMemberCostsItsBucketNotTheTable) {
  const std::size_t buckets = 16;
  const std::string changed = fake_id(17);
  deliver({StateDigest{StateDigest::kWantReply, 7, digest_of(expected_entries(changed), buckets)}});
  const auto packets = drain();
  ASSERT_FALSE(packets.empty());

  // n0's own digest comes back (so the peer sends its side), echoing the exchange number...
  const auto* reply = std::get_if<StateDigest>(&packets[0][0]);
  ASSERT_NE(reply, nullptr);
  EXPECT_EQ(reply->flags, 0);
  EXPECT_EQ(reply->exchange, 7u);
  EXPECT_EQ(reply->buckets, digest_of(expected_entries(), buckets));

  // ...and exactly the entries of the one differing bucket, as n0 holds them.
  const std::size_t bucket = gossip::digest_bucket(changed, buckets);
  std::set<std::string> expected_ids;
  for (const auto& e : expected_entries()) {
    if (gossip::digest_bucket(e.id, buckets) == bucket) expected_ids.insert(e.id);
  }
  std::set<std::string> sent_ids;
  for (const auto& packet : packets) {
    for (const auto& message : packet) {
      if (const auto* pp = std::get_if<gossip::PushPull>(&message)) {
        EXPECT_EQ(pp->flags, 0);
        for (const auto& e : pp->entries) {
          EXPECT_EQ(e.incarnation, e.id == "n0" ? core_.self().incarnation : 3u) << e.id;
          sent_ids.insert(e.id);
        }
      }
    }
  }
  EXPECT_EQ(sent_ids, expected_ids);
  EXPECT_TRUE(sent_ids.count(changed));
  EXPECT_LT(sent_ids.size(), kFakeMembers / 4);
}

TEST_F(AntiEntropy, AReplyDigestIsAnsweredWithEntriesOnly) {
  deliver({StateDigest{0, 8, digest_of(expected_entries(fake_id(3)), 8)}});
  const auto packets = drain();
  ASSERT_FALSE(packets.empty());
  for (const auto& packet : packets) {
    for (const auto& message : packet) EXPECT_FALSE(std::holds_alternative<StateDigest>(message));
  }
}

TEST_F(AntiEntropy, ThePeersNewerEntriesAreMergedAndTheViewsThenMatch) {
  deliver({gossip::PushPull{0, 9, 0, 1, {StateEntry{fake_id(17), fake_address(17), 4, MemberState::kAlive, {{"zone", "z2"}}}}}});
  drain();
  auto entries = expected_entries(fake_id(17));
  for (auto& e : entries) {
    if (e.id == fake_id(17)) e.tags = {{"zone", "z2"}};
  }
  deliver({StateDigest{StateDigest::kWantReply, 10, digest_of(entries, 32)}});
  EXPECT_TRUE(drain().empty());
  EXPECT_EQ(core_.counters().push_pulls_in_sync, 1u);
}

// A member that missed a refutation keeps accusing at the old incarnation, and no one repeats
// the refutation to it (it is not news to them): it is answered directly instead.
bool carries_alive(const std::vector<std::vector<gossip::Message>>& packets, const std::string& id,
                   std::uint64_t incarnation) {
  for (const auto& packet : packets) {
    for (const auto& message : packet) {
      const auto* alive = std::get_if<gossip::Alive>(&message);
      if (alive != nullptr && alive->id == id && alive->incarnation == incarnation) return true;
    }
  }
  return false;
}

TEST_F(AntiEntropy, AStaleSuspicionIsAnsweredWithOurNewerRecord) {
  deliver({gossip::Suspect{2, fake_id(5), fake_id(0)}});
  EXPECT_TRUE(carries_alive(drain(), fake_id(5), 3));
  EXPECT_EQ(core_.counters().stale_rumors_corrected, 1u);
  for (const auto& m : core_.members()) {
    if (m.id == fake_id(5)) {
      EXPECT_EQ(m.state, MemberState::kAlive);
    }
  }
}

TEST_F(AntiEntropy, AStaleDeathIsAnsweredWithOurNewerRecord) {
  deliver({gossip::Dead{1, fake_id(9), fake_id(0)}});
  EXPECT_TRUE(carries_alive(drain(), fake_id(9), 3));
  EXPECT_EQ(core_.counters().stale_rumors_corrected, 1u);
}

TEST_F(AntiEntropy, AStaleAccusationOfOurselvesIsAnsweredDirectly) {
  const std::uint64_t first = core_.self().incarnation;
  EXPECT_EQ(first, first_incarnation(incarnation_boot_seconds(first))) << "a boot starts at counter 0";
  deliver({gossip::Suspect{first, "n0", fake_id(0)}});  // current: n0 refutes, one higher
  drain();
  ASSERT_EQ(core_.self().incarnation, first + 1);
  EXPECT_EQ(core_.counters().stale_rumors_corrected, 0u);
  deliver({gossip::Suspect{first, "n0", fake_id(0)}});  // stale: its sender missed the refutation
  EXPECT_TRUE(carries_alive(drain(), "n0", first + 1));
  EXPECT_EQ(core_.self().incarnation, first + 1) << "a stale accusation needs no new incarnation";
  EXPECT_EQ(core_.counters().stale_rumors_corrected, 1u);
}

TEST_F(AntiEntropy, ACurrentSuspicionIsNotACorrection) {
  deliver({gossip::Suspect{3, fake_id(5), fake_id(0)}});
  EXPECT_FALSE(carries_alive(drain(), fake_id(5), 3));
  EXPECT_EQ(core_.counters().stale_rumors_corrected, 0u);
}

TEST(AntiEntropyCluster, IdleExchangesAreOneDigestPacketEach) {
  Sim sim(4);
  sim.join_all_via(0);
  ASSERT_TRUE(sim.run_until_true([&] {
    for (std::size_t i = 0; i < 4; ++i) {
      if (sim.node(i).members().size() != 4) return false;
    }
    return true;
  }, seconds(10)));
  sim.run_for(seconds(20));  // join gossip drains
  std::uint64_t started = 0;
  std::uint64_t in_sync = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    started -= sim.node(i).counters().push_pulls_sent;
    in_sync -= sim.node(i).counters().push_pulls_in_sync;
  }
  std::size_t push_pull_chunks = 0;
  sim.set_tap([&](std::size_t, std::size_t to, const OutgoingDatagram& d) {
    for (const auto& m : open_messages(d.bytes, node_name(to))) push_pull_chunks += std::holds_alternative<gossip::PushPull>(m);
  });
  sim.run_for(seconds(120));  // push_pull_interval 30 s: about 4 exchanges per member
  for (std::size_t i = 0; i < 4; ++i) {
    started += sim.node(i).counters().push_pulls_sent;
    in_sync += sim.node(i).counters().push_pulls_in_sync;
  }
  EXPECT_GE(started, 8u);
  EXPECT_EQ(in_sync, started);  // every exchange found equal views...
  EXPECT_EQ(push_pull_chunks, 0u);  // ...and sent no state
}

}  // namespace
}  // namespace rpcnet::cluster::test
