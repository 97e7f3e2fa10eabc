// HealthTable on its own: statuses, listeners, watches and their bound. The server's use of it
// (SERVING at start, NOT_SERVING and frozen at shutdown) is in integration/health_service_test.
#include "rpcnet/health.h"

#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>
#include <future>
#include <thread>
#include <vector>

namespace rpcnet {
namespace {

// Runs a watch's next() to completion on a private loop (it completes without waiting).
std::optional<HealthStatus> next_now(HealthWatch& watch) {
  asio::io_context loop;
  auto future = asio::co_spawn(loop, watch.next(), asio::use_future);
  loop.run();
  return future.get();
}

TEST(HealthTableTest, AServiceNobodySetHasNoStatusAndASetOneReadsBack) {
  HealthTable table;
  EXPECT_EQ(table.get(""), std::nullopt);
  EXPECT_EQ(table.get("pkg.Search"), std::nullopt);
  table.set("pkg.Search", HealthStatus::kNotServing);
  EXPECT_EQ(table.get("pkg.Search"), HealthStatus::kNotServing);
  EXPECT_EQ(table.get(""), std::nullopt) << "a service's status says nothing about the whole server";
  table.set("pkg.Search", HealthStatus::kServing);
  EXPECT_EQ(table.get("pkg.Search"), HealthStatus::kServing);
}

TEST(HealthTableTest, StatusNamesAreGrpcsAndNumbersMatchTheWireEnum) {
  EXPECT_EQ(health_status_name(HealthStatus::kUnknown), "UNKNOWN");
  EXPECT_EQ(health_status_name(HealthStatus::kServing), "SERVING");
  EXPECT_EQ(health_status_name(HealthStatus::kNotServing), "NOT_SERVING");
  EXPECT_EQ(health_status_name(HealthStatus::kServiceUnknown), "SERVICE_UNKNOWN");
  EXPECT_EQ(static_cast<int>(HealthStatus::kServing), 1);
  EXPECT_EQ(static_cast<int>(HealthStatus::kNotServing), 2);
  EXPECT_EQ(static_cast<int>(HealthStatus::kServiceUnknown), 3);
}

TEST(HealthTableTest, ListenersHearChangesOnlyUntilRemoved) {
  HealthTable table;
  std::vector<std::pair<std::string, HealthStatus>> heard;
  const auto id = table.add_listener([&heard](std::string_view service, HealthStatus status) {
    heard.emplace_back(std::string(service), status);
  });
  table.set("", HealthStatus::kServing);
  table.set("", HealthStatus::kServing);  // no change: not reported
  table.set("a.B", HealthStatus::kNotServing);
  table.remove_listener(id);
  table.set("", HealthStatus::kNotServing);
  const std::vector<std::pair<std::string, HealthStatus>> expected = {
      {"", HealthStatus::kServing}, {"a.B", HealthStatus::kNotServing}};
  EXPECT_EQ(heard, expected);
}

TEST(HealthTableTest, AWatchOnAnUnknownServiceSaysServiceUnknownThenFollowsItOnceSet) {
  HealthTable table;
  auto watch = table.watch("pkg.Late");
  ASSERT_TRUE(watch) << watch.error();
  EXPECT_EQ(next_now(**watch), HealthStatus::kServiceUnknown);
  table.set("pkg.Late", HealthStatus::kNotServing);
  table.set("pkg.Late", HealthStatus::kServing);  // changes in between collapse into the latest
  EXPECT_EQ(next_now(**watch), HealthStatus::kServing);
  table.set("other.Service", HealthStatus::kNotServing);  // not this watch's service
  table.set("pkg.Late", HealthStatus::kNotServing);
  EXPECT_EQ(next_now(**watch), HealthStatus::kNotServing);
}

TEST(HealthTableTest, AWaitingWatchWakesOnAChangeMadeFromAnotherThread) {
  HealthTable table;
  table.set("", HealthStatus::kServing);
  auto watch = table.watch("");
  ASSERT_TRUE(watch) << watch.error();
  EXPECT_EQ(next_now(**watch), HealthStatus::kServing);
  asio::io_context loop;
  auto future = asio::co_spawn(loop, (*watch)->next(), asio::use_future);
  loop.run_one();  // the watch is now waiting: no change yet
  EXPECT_EQ(future.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  std::thread([&table] { table.set("", HealthStatus::kNotServing); }).join();
  loop.run();
  EXPECT_EQ(future.get(), HealthStatus::kNotServing);
}

TEST(HealthTableTest, WatchesPastTheLimitAreRefusedUntilOneIsReleased) {
  HealthTable table(2);
  auto first = table.watch("");
  auto second = table.watch("a.B");
  ASSERT_TRUE(first && second);
  EXPECT_EQ(table.open_watches(), 2u);
  auto third = table.watch("");
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().code(), StatusCode::kResourceExhausted);
  first->reset();
  EXPECT_EQ(table.open_watches(), 1u);
  EXPECT_TRUE(table.watch(""));
}

}  // namespace
}  // namespace rpcnet
