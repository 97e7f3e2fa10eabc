// runtime::Timer on a VirtualTimeline: waits complete in deadline order (ties in the order they
// were set) when the timeline moves, never inside it, and a cancelled wait completes aborted.
#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <string>

#include "runtime/timer.h"

namespace rpcnet::runtime {
namespace {

using namespace std::chrono_literals;

TEST(VirtualTimerTest, WaitsFireInDeadlineOrderThenInTheOrderTheyWereSet) {
  asio::io_context io;
  VirtualTimeline timeline(SteadyTime{} + 1h);
  const Clock clock(&timeline);
  std::string log;
  Timer late(io.get_executor(), clock);
  Timer early(io.get_executor(), clock);
  Timer tie(io.get_executor(), clock);
  late.expires_after(20ms);
  early.expires_after(10ms);
  tie.expires_after(20ms);
  late.async_wait([&](asio::error_code e) { log += e ? "late!," : "late,"; });
  early.async_wait([&](asio::error_code e) { log += e ? "early!," : "early,"; });
  tie.async_wait([&](asio::error_code e) { log += e ? "tie!," : "tie,"; });

  ASSERT_TRUE(timeline.fire_next());
  EXPECT_EQ(log, "") << "handlers are posted, never run inside the timeline";
  io.poll();
  EXPECT_EQ(log, "early,");
  EXPECT_EQ(clock.now(), SteadyTime{} + 1h + 10ms);
  ASSERT_TRUE(timeline.fire_next());
  io.restart();  // the first poll ran out of work
  io.poll();
  EXPECT_EQ(log, "early,late,tie,");
  EXPECT_EQ(clock.now(), SteadyTime{} + 1h + 20ms);
  EXPECT_FALSE(timeline.fire_next());
}

TEST(VirtualTimerTest, ACancelledWaitCompletesAbortedAndNeverFires) {
  asio::io_context io;
  VirtualTimeline timeline(SteadyTime{} + 1h);
  Timer timer(io.get_executor(), Clock(&timeline));
  timer.expires_after(5ms);
  std::string log;
  timer.async_wait([&](asio::error_code e) { log += e == asio::error::operation_aborted ? "aborted" : "fired"; });
  timer.cancel();
  io.poll();
  EXPECT_EQ(log, "aborted");
  EXPECT_FALSE(timeline.next_deadline().has_value());
  EXPECT_EQ(timeline.now(), SteadyTime{} + 1h) << "cancelling moves no time";
}

TEST(VirtualTimerTest, TheRealClockIsTheDefault) {
  asio::io_context io;
  const Clock clock;
  EXPECT_EQ(clock.timeline(), nullptr);
  Timer timer(io.get_executor(), clock);
  timer.expires_after(0ms);
  bool fired = false;
  timer.async_wait([&](asio::error_code e) { fired = !e; });
  io.run();
  EXPECT_TRUE(fired);
}

}  // namespace
}  // namespace rpcnet::runtime
