#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>
#include <vector>

#include "base/log_spec.h"
#include "base/logging.h"
#include "rpcnet/log.h"

namespace rpcnet {
namespace {

using log_detail::parse_log_spec;

LogLevel level_of(const log_detail::LogSpec& spec, LogComponent component) {
  return spec.levels[static_cast<std::size_t>(component)];
}

TEST(LogSpec, OneLevelAppliesToEveryComponent) {
  const auto spec = parse_log_spec("info");
  for (const auto level : spec.levels) EXPECT_EQ(level, LogLevel::kInfo);
  EXPECT_TRUE(spec.rejected.empty());
}

TEST(LogSpec, EmptyMeansEverythingOff) {
  const auto spec = parse_log_spec("");
  for (const auto level : spec.levels) EXPECT_EQ(level, LogLevel::kOff);
  EXPECT_TRUE(spec.rejected.empty());
}

TEST(LogSpec, NamedComponentsGetTheirLevelAndTheRestStayOff) {
  const auto spec = parse_log_spec("quic=debug,cluster=info");
  EXPECT_EQ(level_of(spec, LogComponent::kQuic), LogLevel::kDebug);
  EXPECT_EQ(level_of(spec, LogComponent::kCluster), LogLevel::kInfo);
  EXPECT_EQ(level_of(spec, LogComponent::kTls), LogLevel::kOff);
  EXPECT_EQ(level_of(spec, LogComponent::kRpc), LogLevel::kOff);
  EXPECT_EQ(level_of(spec, LogComponent::kMembership), LogLevel::kOff);
  EXPECT_TRUE(spec.rejected.empty());
}

TEST(LogSpec, ABareLevelIsTheDefaultForComponentsNotNamedWhereverItStands) {
  const auto spec = parse_log_spec(" quic = trace , WARN ");
  EXPECT_EQ(level_of(spec, LogComponent::kQuic), LogLevel::kTrace);
  EXPECT_EQ(level_of(spec, LogComponent::kTls), LogLevel::kWarn);
  EXPECT_EQ(level_of(spec, LogComponent::kMembership), LogLevel::kWarn);
  EXPECT_TRUE(spec.rejected.empty());
}

TEST(LogSpec, MalformedEntriesAreRejectedOneByOneAndTheRestApplies) {
  const auto spec = parse_log_spec("quic=loud,http=info,verbose,tls=,=debug,rpc=error,,membership=info=x");
  EXPECT_EQ(level_of(spec, LogComponent::kRpc), LogLevel::kError);
  EXPECT_EQ(level_of(spec, LogComponent::kQuic), LogLevel::kOff);
  EXPECT_EQ(level_of(spec, LogComponent::kTls), LogLevel::kOff);
  EXPECT_EQ(level_of(spec, LogComponent::kMembership), LogLevel::kOff);
  EXPECT_EQ(spec.rejected, (std::vector<std::string>{"quic=loud", "http=info", "verbose", "tls=",
                                                     "=debug", "membership=info=x"}));
}

TEST(LogSpec, BinaryGarbageIsRejectedWithoutHarm) {
  const std::string garbage("\xff\x00=\x01,info", 9);
  const auto spec = parse_log_spec(garbage);
  EXPECT_EQ(spec.rejected.size(), 1u);
  EXPECT_EQ(level_of(spec, LogComponent::kQuic), LogLevel::kInfo);
}

// Captures records; restores the default sink (and RPCNET_LOG's levels) when the test ends.
class CapturingSink : public ::testing::Test {
 protected:
  void capture(LogLevel level) {
    set_log_sink(level, [this](const LogRecord& record) { records.push_back(record); });
  }
  void TearDown() override { restore_default_log_sink(); }
  std::vector<LogRecord> records;
};

TEST_F(CapturingSink, RecordsAboveTheComponentLevelAreFilteredOut) {
  capture(LogLevel::kWarn);
  RPCNET_LOG(kQuic, kError, "error");
  RPCNET_LOG(kQuic, kWarn, "warn");
  RPCNET_LOG(kQuic, kInfo, "info");
  RPCNET_LOG(kQuic, kTrace, "trace");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].message, "error");
  EXPECT_EQ(records[0].level, LogLevel::kError);
  EXPECT_EQ(records[1].message, "warn");
}

TEST_F(CapturingSink, EachComponentHasItsOwnLevel) {
  capture(LogLevel::kOff);
  set_log_level(LogComponent::kMembership, LogLevel::kInfo);
  EXPECT_EQ(log_level(LogComponent::kMembership), LogLevel::kInfo);
  EXPECT_EQ(log_level(LogComponent::kCluster), LogLevel::kOff);
  RPCNET_LOG(kCluster, kError, "not wanted");
  RPCNET_LOG(kMembership, kInfo, "member suspect", {{"member", "node-2"}, {"state", "suspect"}});
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].component, LogComponent::kMembership);
  ASSERT_NE(records[0].field("member"), nullptr);
  EXPECT_EQ(*records[0].field("member"), "node-2");
  EXPECT_EQ(records[0].field("absent"), nullptr);
}

TEST_F(CapturingSink, ArgumentsAreNotEvaluatedWhenTheLevelIsOff) {
  capture(LogLevel::kInfo);
  int evaluated = 0;
  const auto costly = [&] {
    ++evaluated;
    return std::string("value");
  };
  RPCNET_LOG(kTls, kDebug, costly(), {{"key", costly()}});
  EXPECT_EQ(evaluated, 0);
  RPCNET_LOG(kTls, kInfo, costly(), {{"key", costly()}});
  EXPECT_EQ(evaluated, 2);
  EXPECT_EQ(records.size(), 1u);
}

TEST_F(CapturingSink, ReplacingTheSinkRedirectsLaterRecords) {
  std::vector<std::string> second;
  capture(LogLevel::kInfo);
  RPCNET_LOG(kRpc, kInfo, "to the first");
  set_log_sink(LogLevel::kInfo,
               [&](const LogRecord& record) { second.push_back(record.message); });
  RPCNET_LOG(kRpc, kInfo, "to the second");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].message, "to the first");
  EXPECT_EQ(second, std::vector<std::string>{"to the second"});
}

TEST_F(CapturingSink, ARecordLoggedFromInsideTheSinkIsDroppedNotDeadlocked) {
  int calls = 0;
  set_log_sink(LogLevel::kInfo, [&](const LogRecord&) {
    ++calls;
    RPCNET_LOG(kRpc, kInfo, "nested");
  });
  RPCNET_LOG(kRpc, kInfo, "outer");
  EXPECT_EQ(calls, 1);
}

TEST_F(CapturingSink, AThrowingSinkDoesNotReachTheCaller) {
  set_log_sink(LogLevel::kInfo, [](const LogRecord&) { throw std::runtime_error("sink broke"); });
  RPCNET_LOG(kRpc, kInfo, "survives");
  SUCCEED();
}

TEST_F(CapturingSink, RestoringTheDefaultReadsTheLevelsFromTheEnvironment) {
  capture(LogLevel::kTrace);
  ASSERT_EQ(setenv("RPCNET_LOG", "warn,quic=debug,bogus", 1), 0);
  restore_default_log_sink();
  EXPECT_EQ(log_level(LogComponent::kQuic), LogLevel::kDebug);
  EXPECT_EQ(log_level(LogComponent::kTls), LogLevel::kWarn);
  ASSERT_EQ(unsetenv("RPCNET_LOG"), 0);
  restore_default_log_sink();
  EXPECT_EQ(log_level(LogComponent::kQuic), LogLevel::kOff);
  RPCNET_LOG(kQuic, kError, "not captured: the default sink is back");
  EXPECT_TRUE(records.empty());
}

TEST(LogFormat, ALineIsLogfmtWithQuotedValuesWhereNeeded) {
  LogRecord record;
  record.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'765'000'000'123));
  record.level = LogLevel::kWarn;
  record.component = LogComponent::kTls;
  record.message = "handshake failed";
  record.fields = {{"conn", "0a1b"}, {"reason", "say \"hi\"\nnow"}, {"empty", ""}};
  EXPECT_EQ(format_log_record(record),
            "time=2025-12-06T05:46:40.123Z level=warn component=tls msg=\"handshake failed\" "
            "conn=0a1b reason=\"say \\\"hi\\\"\\nnow\" empty=\"\"");
}

TEST(LogNames, LevelsAndComponentsRoundTripThroughTheirNames) {
  for (int i = 0; i <= static_cast<int>(LogLevel::kTrace); ++i) {
    const auto level = static_cast<LogLevel>(i);
    EXPECT_EQ(parse_log_level(to_string(level)), level);
  }
  for (std::size_t i = 0; i < kLogComponentCount; ++i) {
    const auto component = static_cast<LogComponent>(i);
    EXPECT_EQ(parse_log_component(to_string(component)), component);
  }
  EXPECT_EQ(parse_log_level("loud"), std::nullopt);
}

TEST(LogRateLimit, ABurstIsCutAtTheRateAndTheNextRecordCountsTheDropped) {
  using namespace std::chrono_literals;
  log_detail::LogRateLimit limit(10);
  const auto start = std::chrono::steady_clock::time_point{} + 1h;
  std::uint64_t suppressed = 99;
  int admitted = 0;
  for (int i = 0; i < 1000; ++i) admitted += limit.admit(start, suppressed) ? 1 : 0;
  EXPECT_EQ(admitted, 10);  // the burst, then nothing within the same instant
  EXPECT_EQ(suppressed, 0u);
  EXPECT_FALSE(limit.admit(start + 50ms, suppressed));  // half a token
  ASSERT_TRUE(limit.admit(start + 100ms, suppressed));
  EXPECT_EQ(suppressed, 991u);
  ASSERT_TRUE(limit.admit(start + 10s, suppressed));  // refilled, capped at the burst
  EXPECT_EQ(suppressed, 0u);
  int after_pause = 1;
  for (int i = 0; i < 100; ++i) after_pause += limit.admit(start + 10s, suppressed) ? 1 : 0;
  EXPECT_EQ(after_pause, 10);
}

}  // namespace
}  // namespace rpcnet
