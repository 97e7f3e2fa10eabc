// W3C traceparent parsing and formatting (rpcnet/trace_context.h), malformed inputs included:
// the value comes from the peer, so every malformed one must be rejected, never crash.
#include "rpcnet/trace_context.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "rpcnet/call_context.h"

namespace rpcnet {
namespace {

constexpr std::string_view kValid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(TraceContextTest, ParsesW3CsExampleAndFormatsItBackExactly) {
  auto trace = parse_traceparent(kValid);
  ASSERT_TRUE(trace);
  EXPECT_EQ(trace->trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(trace->parent_id_hex(), "00f067aa0ba902b7");
  EXPECT_EQ(trace->trace_id[0], 0x4b);
  EXPECT_EQ(trace->parent_id[7], 0xb7);
  EXPECT_EQ(trace->flags, 0x01);
  EXPECT_TRUE(trace->sampled());
  EXPECT_EQ(format_traceparent(*trace), kValid);
}

TEST(TraceContextTest, KeepsUnknownFlagsAndReadsUnsampled) {
  auto trace = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-fe");
  ASSERT_TRUE(trace);
  EXPECT_EQ(trace->flags, 0xfe);
  EXPECT_FALSE(trace->sampled());
}

TEST(TraceContextTest, AcceptsLaterVersionsWithExtraFieldsAsW3CSays) {
  EXPECT_TRUE(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  auto later = parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds");
  ASSERT_TRUE(later);
  EXPECT_EQ(format_traceparent(*later), kValid);  // we speak version 00
}

TEST(TraceContextTest, RejectsEveryMalformedValue) {
  const std::string malformed[] = {
      "",
      "00",
      std::string(kValid.substr(0, 54)),                                  // one short
      std::string(kValid) + "-",                                          // version 00 has no more fields
      std::string(kValid) + "0",
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",         // version ff is invalid
      "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.x",       // later version: '-' must follow
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",         // all-zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",         // all-zero parent id
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",         // upper case
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0X",
      "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",         // separators
      "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
      "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",         // fields shifted
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-701",
      "00-4bf92f3577b34da6a3ce929d0e0e47 6-00f067aa0ba902b7-01",
      std::string("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0\0", 55),
  };
  for (const auto& value : malformed) EXPECT_FALSE(parse_traceparent(value)) << '"' << value << '"';
}

TEST(TraceContextTest, AChildKeepsTraceIdAndFlagsAndDrawsFreshNonZeroParentIds) {
  const auto parent = *parse_traceparent(kValid);
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const TraceContext child = child_span(parent);
    EXPECT_EQ(child.trace_id, parent.trace_id);
    EXPECT_EQ(child.flags, parent.flags);
    EXPECT_NE(child.parent_id, parent.parent_id);
    auto round_trip = parse_traceparent(format_traceparent(child));  // valid, so never all zero
    ASSERT_TRUE(round_trip);
    EXPECT_EQ(*round_trip, child);
    seen.insert(child.parent_id_hex());
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(TraceContextTest, CallContextExposesOneValidTraceparentAndIgnoresDuplicates) {
  const auto context_with = [](Metadata metadata) {
    return std::make_unique<CallContext>("m", std::move(metadata), 1, std::chrono::steady_clock::time_point::max(),
                                         SocketAddress(), "");
  };
  EXPECT_FALSE(context_with({})->trace_context());
  EXPECT_EQ(context_with({{"traceparent", std::string(kValid)}})->trace_context(), parse_traceparent(kValid));
  EXPECT_FALSE(context_with({{"traceparent", "garbage"}})->trace_context());
  EXPECT_FALSE(context_with({{"traceparent", std::string(kValid)}, {"traceparent", std::string(kValid)}})->trace_context());
  EXPECT_FALSE(context_with({{"Traceparent", std::string(kValid)}})->trace_context());  // keys are exact
}

}  // namespace
}  // namespace rpcnet
