// Membership on real sockets: every member is an `rpcnet gossip` process in its own network
// namespace, connected through a bridge. kill -9, partitions and random loss come from the
// kernel (signals, nftables), not from the simulator. Needs root; skipped with the reason
// otherwise. Member count for the detection test: RPCNET_NETNS_MEMBERS (default 3).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>

#include "netns/netns_lab.h"

namespace rpcnet::netns {
namespace {

using namespace std::chrono_literals;

constexpr const char* kKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr const char* kOtherKey = "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

std::string id(int i) { return "m" + std::to_string(i); }

bool has(const std::string& line, const std::string& kind, const std::string& member) {
  return line.rfind("event " + kind + " ", 0) == 0 && line.find(" id=" + member + " ") != std::string::npos;
}

class MembershipNetns : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string reason = Lab::unavailable_reason();
    if (!reason.empty()) GTEST_SKIP() << reason;
  }

  std::unique_ptr<Process> start(Lab& lab, int i, const std::string& preset, const char* key = kKey) {
    std::vector<std::string> argv = {"ip",    "netns", "exec", lab.name(i), RPCNET_CLI_PATH, "gossip",
                                     "--id",  id(i),   "--bind", Lab::ip(i) + ":7946",
                                     "--key", key,     "--preset", preset};
    if (i != 0) {
      argv.push_back("--seed");
      argv.push_back(Lab::ip(0) + ":7946");
    }
    auto process = std::make_unique<Process>(argv);
    EXPECT_TRUE(process->started());
    EXPECT_TRUE(process->wait_line([](const std::string& l) { return l.rfind("ready ", 0) == 0; }, 10s))
        << id(i) << " did not start";
    return process;
  }

  // Every member has seen every other one join.
  static bool full_view(std::vector<std::unique_ptr<Process>>& members, std::chrono::seconds bound) {
    const auto deadline = Clock::now() + bound;
    for (std::size_t i = 0; i < members.size(); ++i) {
      for (std::size_t j = 0; j < members.size(); ++j) {
        if (i == j || !members[i]) continue;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        const std::string other = id(static_cast<int>(j));
        if (!members[i]->wait_line([&](const std::string& l) { return has(l, "node_joined", other); },
                                   std::max(left, 1ms))) {
          ADD_FAILURE() << id(static_cast<int>(i)) << " never saw " << other << " join";
          return false;
        }
      }
    }
    return true;
  }

  // The `stats` line of a member, as numbers by name (empty if it does not answer).
  static std::map<std::string, std::uint64_t> stats_of(Process& p) {
    const std::size_t from = p.line_count();
    p.send("stats");
    std::map<std::string, std::uint64_t> values;
    const auto line = p.wait_line([](const std::string& l) { return l.rfind("stats ", 0) == 0; }, 5s, from);
    if (!line) return values;
    std::istringstream fields(p.lines(*line).front().substr(6));
    std::string field;
    while (fields >> field) {
      const auto eq = field.find('=');
      if (eq != std::string::npos) values[field.substr(0, eq)] = std::stoull(field.substr(eq + 1));
    }
    return values;
  }

  static std::map<std::string, std::string> members_of(Process& p) {
    const std::size_t from = p.line_count();
    p.send("members");
    std::map<std::string, std::string> states;
    if (!p.wait_line([](const std::string& l) { return l == "end"; }, 5s, from)) return states;
    for (const auto& line : p.lines(from)) {
      if (line.rfind("member ", 0) != 0) continue;
      const auto id_at = line.find("id=") + 3;
      const auto state_at = line.find("state=") + 6;
      states[line.substr(id_at, line.find(' ', id_at) - id_at)] =
          line.substr(state_at, line.find(' ', state_at) - state_at);
    }
    return states;
  }
};

TEST_F(MembershipNetns, KillNineIsDetectedByEveryOtherMember) {
  int n = 3;
  if (const char* env = std::getenv("RPCNET_NETNS_MEMBERS")) n = std::clamp(std::atoi(env), 3, 64);
  Lab lab(n);
  ASSERT_TRUE(lab.ok()) << "lab set-up failed; see /tmp/rpcnet-netns-last.log";
  std::vector<std::unique_ptr<Process>> members;
  for (int i = 0; i < n; ++i) members.push_back(start(lab, i, "local"));
  ASSERT_TRUE(full_view(members, 60s));

  const int victim = n - 1;
  const std::size_t mark = 0;
  members[static_cast<std::size_t>(victim)]->kill(SIGKILL);
  const auto killed = Clock::now();
  std::vector<double> detect_ms;
  for (int i = 0; i < victim; ++i) {
    auto& p = *members[static_cast<std::size_t>(i)];
    auto line = p.wait_line([&](const std::string& l) { return has(l, "node_failed", id(victim)); }, 60s, mark);
    ASSERT_TRUE(line) << id(i) << " never declared " << id(victim) << " failed";
    detect_ms.push_back(std::chrono::duration<double, std::milli>(p.line_time(*line) - killed).count());
  }
  std::sort(detect_ms.begin(), detect_ms.end());
  std::printf("netns: %d members (local preset): kill -9 -> failed at every member: first %.0f ms, last %.0f ms\n",
              n, detect_ms.front(), detect_ms.back());
  RecordProperty("detect_all_ms", static_cast<int>(detect_ms.back()));
  // The survivors still agree on each other.
  for (int i = 0; i < victim; ++i) {
    auto states = members_of(*members[static_cast<std::size_t>(i)]);
    for (int j = 0; j < victim; ++j) EXPECT_EQ(states[id(j)], "alive") << id(i) << "'s view of " << id(j);
  }
}

TEST_F(MembershipNetns, PartitionIsDetectedThenHealsWithoutOperator) {
  constexpr int n = 4;
  Lab lab(n);
  ASSERT_TRUE(lab.ok()) << "lab set-up failed; see /tmp/rpcnet-netns-last.log";
  std::vector<std::unique_ptr<Process>> members;
  for (int i = 0; i < n; ++i) members.push_back(start(lab, i, "local"));
  ASSERT_TRUE(full_view(members, 60s));

  // {m0, m1} | {m2, m3}, both directions.
  ASSERT_TRUE(lab.drop_from(0, {2, 3}) && lab.drop_from(1, {2, 3}) && lab.drop_from(2, {0, 1}) &&
              lab.drop_from(3, {0, 1}));
  // Each side declares the other failed: at least one member per side sees both fail (a member
  // whose own health dropped may keep them suspect instead, see below).
  const auto saw_fail = [&](int observer, int lost, std::chrono::milliseconds bound) {
    return members[static_cast<std::size_t>(observer)]
        ->wait_line([&](const std::string& l) { return has(l, "node_failed", id(lost)); }, bound)
        .has_value();
  };
  EXPECT_TRUE((saw_fail(0, 2, 60s) && saw_fail(0, 3, 30s)) || (saw_fail(1, 2, 30s) && saw_fail(1, 3, 30s)))
      << "neither m0 nor m1 declared the other side failed";
  EXPECT_TRUE((saw_fail(2, 0, 60s) && saw_fail(2, 1, 30s)) || (saw_fail(3, 0, 30s) && saw_fail(3, 1, 30s)))
      << "neither m2 nor m3 declared the other side failed";
  const auto detected = [](const std::string& l) { return l.rfind("event partition_detected", 0) == 0; };
  std::vector<int> detectors;
  for (int i = 0; i < n; ++i) {
    if (members[static_cast<std::size_t>(i)]->wait_line(detected, 5s)) detectors.push_back(i);
  }
  EXPECT_TRUE(std::any_of(detectors.begin(), detectors.end(), [](int i) { return i < 2; })) << "no PartitionDetected in m0/m1";
  EXPECT_TRUE(std::any_of(detectors.begin(), detectors.end(), [](int i) { return i >= 2; })) << "no PartitionDetected in m2/m3";

  std::vector<std::size_t> healed_from;
  for (const auto& member : members) healed_from.push_back(member->line_count());
  for (int i = 0; i < n; ++i) ASSERT_TRUE(lab.clear_rules(i));
  const auto healed = Clock::now();
  // Every member that declared a member of the other side failed sees it come back. (A member
  // whose own Lifeguard health dropped during the partition may have kept the others suspect
  // instead; it owes no recovery event, but its view must converge all the same.)
  for (int observer = 0; observer < n; ++observer) {
    auto& p = *members[static_cast<std::size_t>(observer)];
    const auto before = p.lines();
    for (int back = 0; back < n; ++back) {
      if ((observer < 2) == (back < 2)) continue;
      const bool declared_failed =
          std::any_of(before.begin(), before.end(), [&](const std::string& l) { return has(l, "node_failed", id(back)); });
      if (!declared_failed) continue;
      EXPECT_TRUE(p.wait_line(
          [&](const std::string& l) { return has(l, "node_recovered", id(back)) || has(l, "node_joined", id(back)); },
          120s, healed_from[static_cast<std::size_t>(observer)]))
          << id(observer) << " never saw " << id(back) << " come back";
    }
  }
  for (int i : detectors) {
    EXPECT_TRUE(members[static_cast<std::size_t>(i)]->wait_line(
        [](const std::string& l) { return l.rfind("event partition_healed", 0) == 0; }, 60s,
        healed_from[static_cast<std::size_t>(i)]))
        << id(i) << " detected the partition but never saw it heal";
  }
  // One view everywhere: each member lists all four alive (re-asked as events arrive, bounded).
  const auto converge_by = Clock::now() + 120s;
  for (int i = 0; i < n; ++i) {
    auto& p = *members[static_cast<std::size_t>(i)];
    std::map<std::string, std::string> states;
    for (;;) {
      states = members_of(p);
      const bool all_alive = std::all_of(states.begin(), states.end(), [](const auto& e) { return e.second == "alive"; });
      if ((all_alive && states.size() == static_cast<std::size_t>(n)) || Clock::now() >= converge_by) break;
      (void)p.wait_line([](const std::string& l) { return l.rfind("event ", 0) == 0; }, 1s, p.line_count());
    }
    for (int j = 0; j < n; ++j) EXPECT_EQ(states[id(j)], "alive") << id(i) << "'s view of " << id(j);
  }
  std::printf("netns: 2|2 partition healed into one view after %.0f ms\n",
              std::chrono::duration<double, std::milli>(Clock::now() - healed).count());
}

TEST_F(MembershipNetns, TenPercentLossCausesNoFalseFailures) {
  constexpr int n = 3;
  Lab lab(n);
  ASSERT_TRUE(lab.ok()) << "lab set-up failed; see /tmp/rpcnet-netns-last.log";
  std::vector<std::unique_ptr<Process>> members;
  for (int i = 0; i < n; ++i) members.push_back(start(lab, i, "lan"));
  ASSERT_TRUE(full_view(members, 60s));
  for (int i = 0; i < n; ++i) ASSERT_TRUE(lab.add_loss(i, 10));
  // An observation window, not a synchronisation: nothing may be declared failed within it.
  const auto any_failure = [](const std::string& l) { return l.rfind("event node_failed", 0) == 0; };
  EXPECT_FALSE(members[0]->wait_line(any_failure, 20s));
  for (int i = 1; i < n; ++i) EXPECT_FALSE(members[static_cast<std::size_t>(i)]->wait_line(any_failure, 1ms));
  // And gossip really flowed through the lossy links.
  const std::size_t from = members[0]->line_count();
  members[0]->send("stats");
  auto stats = members[0]->wait_line([](const std::string& l) { return l.rfind("stats ", 0) == 0; }, 5s, from);
  ASSERT_TRUE(stats);
}

TEST_F(MembershipNetns, MemberWithAnotherKeyCannotJoinAndIsCounted) {
  constexpr int n = 2;
  Lab lab(n);
  ASSERT_TRUE(lab.ok()) << "lab set-up failed; see /tmp/rpcnet-netns-last.log";
  auto keyed = start(lab, 0, "local");
  auto intruder = start(lab, 1, "local", kOtherKey);
  // Bounded window: the intruder keeps retrying its join; none of it may get through.
  EXPECT_FALSE(intruder->wait_line([](const std::string& l) { return has(l, "node_joined", "m0"); }, 5s));
  EXPECT_FALSE(keyed->wait_line([](const std::string& l) { return has(l, "node_joined", "m1"); }, 1ms));
  const std::size_t from = keyed->line_count();
  keyed->send("stats");
  auto line = keyed->wait_line([](const std::string& l) { return l.rfind("stats ", 0) == 0; }, 5s, from);
  ASSERT_TRUE(line);
  const std::string stats = keyed->lines(*line).front();
  const auto at = stats.find("auth_drops=") + 11;
  EXPECT_GT(std::stoul(stats.substr(at)), 0u) << stats;
  EXPECT_EQ(members_of(*keyed).size(), 1u);
}


// Reflection (issue 13): a join captured on the wire, replayed at the members with a victim's
// address as its source (the victim's own host sends it: the same packet a spoofing attacker
// would send). Before the fix every member that had not seen the packet answered the victim
// with its member table; now an unproven address gets at most as many bytes as it sent — one
// challenge — and the member that already saw the join drops it as a replay.
TEST_F(MembershipNetns, AReplayedJoinWithAVictimsSourceSendsTheVictimNoMoreThanItCarried) {
  constexpr int n = 4;  // m0..m2 members; host 3 is the victim
  Lab lab(n);
  ASSERT_TRUE(lab.ok()) << "lab set-up failed; see /tmp/rpcnet-netns-last.log";
  // Capture on m2's port of the hub's bridge (v2b): everything m2 sends passes there. (A packet
  // socket on br0 itself sees only traffic to the hub, not what it forwards.)
  // ETH_P_ALL: a bridge port hands frames to the bridge before per-protocol sockets see them;
  // only "all protocols" taps run first.
  const int capture = Lab::socket_in(lab.hub(), AF_PACKET, SOCK_DGRAM, htons(ETH_P_ALL), [](int fd) {
    sockaddr_ll where{};
    where.sll_family = AF_PACKET;
    where.sll_protocol = htons(ETH_P_ALL);
    where.sll_ifindex = static_cast<int>(if_nametoindex("v2b"));
    return where.sll_ifindex != 0 && bind(fd, reinterpret_cast<sockaddr*>(&where), sizeof where) == 0;
  });
  ASSERT_GE(capture, 0) << "no packet socket in the hub namespace";
  std::vector<std::unique_ptr<Process>> members;
  members.push_back(start(lab, 0, "local"));
  members.push_back(start(lab, 1, "local"));
  members.push_back(start(lab, 2, "local"));  // its join to m0 is what we capture
  ASSERT_TRUE(full_view(members, 20s));
  // The first unaddressed (format 3) datagram from m2 to m0's gossip port: m2's join.
  std::vector<std::uint8_t> join;
  in_addr m2{}, m0{};
  inet_pton(AF_INET, Lab::ip(2).c_str(), &m2);
  inet_pton(AF_INET, Lab::ip(0).c_str(), &m0);
  for (int packets = 0; packets < 10000 && join.empty(); ++packets) {
    pollfd ready{capture, POLLIN, 0};
    if (poll(&ready, 1, 0) != 1) break;  // everything so far has been read
    std::uint8_t frame[2048];
    sockaddr_ll from{};
    socklen_t from_len = sizeof from;
    const ssize_t got = recvfrom(capture, frame, sizeof frame, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (from.sll_protocol != htons(ETH_P_IP) || got < static_cast<ssize_t>(sizeof(ip) + sizeof(udphdr) + 1)) continue;
    const auto* ip_header = reinterpret_cast<const ip*>(frame);
    const std::size_t ip_len = static_cast<std::size_t>(ip_header->ip_hl) * 4;
    if (ip_header->ip_p != IPPROTO_UDP || ip_header->ip_src.s_addr != m2.s_addr ||
        ip_header->ip_dst.s_addr != m0.s_addr || static_cast<std::size_t>(got) < ip_len + sizeof(udphdr) + 1) {
      continue;
    }
    const auto* udp = reinterpret_cast<const udphdr*>(frame + ip_len);
    const std::uint8_t* payload = frame + ip_len + sizeof(udphdr);
    const std::uint8_t* end = frame + got;
    if (ntohs(udp->uh_dport) == 7946 && payload[0] == 3) join.assign(payload, end);
  }
  close(capture);
  ASSERT_FALSE(join.empty()) << "m2's join was not seen on the bridge";

  // The victim: a UDP socket on host 3. It sends the captured join to m0 and m1, then counts
  // what comes back in a bounded window.
  const int victim = Lab::socket_in(lab.name(3), AF_INET, SOCK_DGRAM, 0, [](int fd) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_port = htons(9999);
    inet_pton(AF_INET, Lab::ip(3).c_str(), &local.sin_addr);
    return bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) == 0;
  });
  ASSERT_GE(victim, 0);
  const auto m0_before = stats_of(*members[0]);
  const auto m1_before = stats_of(*members[1]);
  for (int member = 0; member < 2; ++member) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(7946);
    inet_pton(AF_INET, Lab::ip(member).c_str(), &to.sin_addr);
    ASSERT_EQ(sendto(victim, join.data(), join.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
              static_cast<ssize_t>(join.size()));
  }
  std::size_t bytes = 0;
  std::size_t datagrams = 0;
  const auto window_end = Clock::now() + 3s;  // members answer within milliseconds; 3 s is slack
  while (Clock::now() < window_end) {
    pollfd ready{victim, POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(window_end - Clock::now());
    if (poll(&ready, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 1))) != 1) continue;
    std::uint8_t datagram[65536];
    const ssize_t got = recv(victim, datagram, sizeof datagram, 0);
    if (got > 0) {
      bytes += static_cast<std::size_t>(got);
      ++datagrams;
    }
  }
  close(victim);
  // Bound: at most the replayed bytes, 1x per member that accepted the packet (m1; m0 had seen it).
  EXPECT_LE(bytes, join.size()) << datagrams << " datagrams; the join was " << join.size() << " bytes";
  EXPECT_LE(datagrams, 1u);
  const auto after = stats_of(*members[1]);
  EXPECT_EQ(after.at("challenges"), m1_before.at("challenges") + 1) << "m1 challenged the victim's address once";
  EXPECT_EQ(after.at("validated"), m1_before.at("validated")) << "nobody at the victim's address answers";
  EXPECT_EQ(stats_of(*members[0]).at("replay_drops"), m0_before.at("replay_drops") + 1) << "m0 had seen the join";
}

}  // namespace
}  // namespace rpcnet::netns
