// Membership changes in the log: what an operator sees when a member joins and when one crashes.
#include <gtest/gtest.h>

#include <chrono>

#include "sim_harness.h"
#include "support/log_capture.h"

namespace rpcnet::cluster::test {
namespace {

using std::chrono::seconds;

std::size_t count(const std::vector<LogRecord>& records, const std::string& message,
                  const std::string& node, const std::string& member, const std::string& from,
                  const std::string& state) {
  std::size_t n = 0;
  for (const auto& r : records) {
    const auto is = [&](const char* key, const std::string& value) {
      const std::string* field = r.field(key);
      return value.empty() ? field == nullptr : field != nullptr && *field == value;
    };
    if (r.message == message && r.component == LogComponent::kMembership &&
        r.level == LogLevel::kInfo && is("node", node) && is("member", member) &&
        is("from", from) && is("state", state)) {
      ++n;
    }
  }
  return n;
}

TEST(MembershipLog, JoinsAndACrashedMembersSuspectAndDeadAreLoggedOnceEach) {
  testing::LogCapture log(LogLevel::kInfo);
  Sim sim(3);
  sim.join_all_via(0);
  ASSERT_TRUE(sim.run_until_true(
      [&] { return sim.state(0, 1) == MemberState::kAlive && sim.state(0, 2) == MemberState::kAlive; },
      seconds(10)));
  sim.crash(2);
  ASSERT_TRUE(sim.run_until_true([&] { return sim.state(0, 2) == MemberState::kDead; }, seconds(40)));

  const auto records = log.records();
  EXPECT_EQ(count(records, "member joined", "n0", "n2", "", "alive"), 1u);
  EXPECT_EQ(count(records, "member state changed", "n0", "n2", "alive", "suspect"), 1u);
  EXPECT_EQ(count(records, "member state changed", "n0", "n2", "suspect", "dead"), 1u);
  for (const auto& r : records) {
    if (r.message == "member state changed") {
      ASSERT_NE(r.field("address"), nullptr);
      ASSERT_NE(r.field("incarnation"), nullptr);
    }
  }
}

TEST(MembershipLog, NothingIsLoggedWhenMembershipIsOff) {
  testing::LogCapture log(LogLevel::kInfo);
  set_log_level(LogComponent::kMembership, LogLevel::kWarn);
  Sim sim(2);
  sim.join_all_via(0);
  ASSERT_TRUE(sim.run_until_true([&] { return sim.state(0, 1) == MemberState::kAlive; }, seconds(10)));
  EXPECT_TRUE(log.records().empty());
}

}  // namespace
}  // namespace rpcnet::cluster::test
