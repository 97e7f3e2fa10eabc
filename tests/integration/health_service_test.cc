// grpc.health.v1.Health over loopback, called through the client rpcnet-gen generates from
// proto/grpc/health/v1/health.proto: Check and Watch semantics, the watch bound, and the
// server's lifecycle (SERVING at start; NOT_SERVING, drain, watches ending, then refusal).
#include <gtest/gtest.h>

#include <asio/this_coro.hpp>

#include "health/client.hpp"
#include "integration/harness.h"
#include "rpcnet/health_service.h"
#include "support/error_matchers.h"

namespace rpcnet::testing {
namespace {

using namespace std::chrono_literals;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using grpc::health::v1::HealthClient;
using Watch = TypedResponseStream<HealthCheckResponse>;

// What a health call came to, as one comparable word: a status name ("SERVING"), "END" for a
// watch that ended with OK, or the error's code name ("NOT_FOUND").
using Outcome = std::string;

HealthCheckRequest about(const std::string& service) {
  HealthCheckRequest request;
  request.set_service(service);
  return request;
}

// A call the server holds until release is set. It keeps the shutdown's grace period open, so
// connections stay up: with no call left a shutdown closes them at once, and frames written just
// before that close (a watch's last status and trailer) need not reach the client first.
struct HeldCall {
  runtime::Event entered;  // the handler runs
  runtime::Event release;
  runtime::Event finished;
  std::optional<Result<Bytes>> result;
};

// A server with the health service and two ordinary methods: demo.Echo/Say answers at once,
// demo.Echo/Hold when `held` is released.
void serve_demo(LoopbackServer& loopback, std::shared_ptr<HeldCall> held = std::make_shared<HeldCall>()) {
  RpcServer& server = loopback.server();
  enable_health_service(server);
  server.register_method("demo.Echo/Say", [](Bytes request) -> asio::awaitable<Result<Bytes>> {
    co_return request;
  });
  server.register_method("demo.Echo/Hold", [held](Bytes request) -> asio::awaitable<Result<Bytes>> {
    held->entered.set();
    co_await held->release.wait();
    co_return request;
  });
  loopback.start();
}

// The held call itself; its parameters live in its own frame (a coroutine lambda's captures
// would not outlive co_spawn's copy of the lambda under GCC 12).
asio::awaitable<void> make_held_call(RpcClient client, std::shared_ptr<HeldCall> held) {
  held->result = co_await client.call("demo.Echo/Hold", Bytes(1, 9));
  held->finished.set();
}

// Starts demo.Echo/Hold on `client` and returns once the server runs it.
asio::awaitable<void> start_held(RpcClient client, std::shared_ptr<HeldCall> held) {
  asio::co_spawn(co_await asio::this_coro::executor, make_held_call(client, held), asio::detached);
  co_await held->entered.wait();
}

asio::awaitable<Outcome> check(const HealthClient& client, std::string service) {
  auto response = co_await client.Check(about(service));
  if (!response) co_return std::string(status_code_name(response.error().code()));
  co_return HealthCheckResponse::ServingStatus_Name(response->status());
}

asio::awaitable<Outcome> next_status(Watch& watch) {
  auto next = co_await watch.next();
  if (!next) co_return std::string(status_code_name(next.error().code()));
  if (!*next) co_return "END";
  co_return HealthCheckResponse::ServingStatus_Name((*next)->status());
}

asio::awaitable<Result<Bytes>> say(const RpcClient& client) {
  return client.call("demo.Echo/Say", Bytes{1, 2, 3});
}

TEST(HealthServiceTest, CheckAnswersServingForTheServerAndItsServicesAndNotFoundForOthers) {
  LoopbackServer loopback;
  // A service that warms up: set before serving, so the server leaves it alone.
  loopback.server().health().set("demo.Warm", HealthStatus::kNotServing);
  loopback.server().register_method("demo.Warm/Go", [](Bytes r) -> asio::awaitable<Result<Bytes>> {
    co_return r;
  });
  serve_demo(loopback);
  run_bounded(loopback.runtime(), [&]() -> asio::awaitable<void> {
    HealthClient client(co_await loopback.connect());
    EXPECT_EQ(co_await check(client, ""), "SERVING");
    EXPECT_EQ(co_await check(client, "demo.Echo"), "SERVING");
    EXPECT_EQ(co_await check(client, "grpc.health.v1.Health"), "SERVING");
    EXPECT_EQ(co_await check(client, "demo.Warm"), "NOT_SERVING");
    EXPECT_EQ(co_await check(client, "demo.Nope"), "NOT_FOUND");
    // A service registered while serving is SERVING from then on.
    EXPECT_EQ(co_await check(client, "demo.Later"), "NOT_FOUND");
    loopback.server().register_method("demo.Later/Go", [](Bytes r) -> asio::awaitable<Result<Bytes>> {
      co_return r;
    });
    EXPECT_EQ(co_await check(client, "demo.Later"), "SERVING");
  }());
}

TEST(HealthServiceTest, WatchOnAnUnknownServiceSaysServiceUnknownThenEveryChange) {
  LoopbackServer loopback;
  serve_demo(loopback);
  run_bounded(loopback.runtime(), [&]() -> asio::awaitable<void> {
    HealthClient client(co_await loopback.connect());
    auto watch = co_await client.Watch(about("demo.Late"));
    EXPECT_TRUE(watch) << watch.error();
    if (!watch) co_return;
    EXPECT_EQ(co_await next_status(*watch), "SERVICE_UNKNOWN");
    loopback.server().health().set("demo.Late", HealthStatus::kServing);
    EXPECT_EQ(co_await next_status(*watch), "SERVING");
    loopback.server().health().set("demo.Late", HealthStatus::kNotServing);
    EXPECT_EQ(co_await next_status(*watch), "NOT_SERVING");
    watch->cancel();
  }());
}

TEST(HealthServiceTest, WatchesPastTheLimitAreRefusedWhileTheOpenOnesAndOtherCallsGoOn) {
  LoopbackServer loopback(server_config().with_max_health_watches(2));
  serve_demo(loopback);
  run_bounded(loopback.runtime(), [&]() -> asio::awaitable<void> {
    auto raw = co_await loopback.connect();
    HealthClient client(raw);
    std::vector<Watch> open;
    for (int i = 0; i < 2; ++i) {
      auto watch = co_await client.Watch(about("demo.Echo"));
      EXPECT_TRUE(watch) << watch.error();
      if (!watch) co_return;
      EXPECT_EQ(co_await next_status(*watch), "SERVING");
      open.push_back(std::move(*watch));
    }
    EXPECT_EQ(loopback.server().health().open_watches(), 2u);
    // The third is refused with a status, not left hanging.
    auto third = co_await client.Watch(about(""));
    EXPECT_TRUE(third) << third.error();
    if (!third) co_return;
    EXPECT_EQ(co_await next_status(*third), "RESOURCE_EXHAUSTED");
    // The legitimate client is unaffected: checks, calls and the open watches all work.
    EXPECT_EQ(co_await check(client, ""), "SERVING");
    auto echoed = co_await say(raw);
    EXPECT_TRUE(echoed) << echoed.error();
    loopback.server().health().set("demo.Echo", HealthStatus::kNotServing);
    for (auto& watch : open) EXPECT_EQ(co_await next_status(watch), "NOT_SERVING");
    for (auto& watch : open) watch.cancel();
  }());
}

// The order of a graceful shutdown with a drain delay: NOT_SERVING first (Watch hears it, Check
// says it, the table is frozen), new calls still served during the drain, then watches end with
// OK and only after that are new calls refused.
TEST(HealthServiceTest, ShutdownSaysNotServingThenServesTheDrainThenEndsWatchesThenRefuses) {
  LoopbackServer loopback(server_config().with_drain_delay(5s));
  auto held = std::make_shared<HeldCall>();
  serve_demo(loopback, held);
  run_bounded(loopback.runtime(), [&]() -> asio::awaitable<void> {
    auto raw = co_await loopback.connect();
    HealthClient client(raw);
    co_await start_held(raw, held);
    auto watch = co_await client.Watch(about(""));
    EXPECT_TRUE(watch) << watch.error();
    if (!watch) co_return;
    EXPECT_EQ(co_await next_status(*watch), "SERVING");

    loopback.server().shutdown(10s);
    EXPECT_EQ(co_await next_status(*watch), "NOT_SERVING");
    EXPECT_EQ(co_await check(client, ""), "NOT_SERVING");
    EXPECT_EQ(co_await check(client, "demo.Echo"), "NOT_SERVING");
    loopback.server().health().set("", HealthStatus::kServing);  // frozen: ignored
    EXPECT_EQ(co_await check(client, ""), "NOT_SERVING");
    auto during_drain = co_await say(raw);
    EXPECT_TRUE(during_drain) << "a draining server still serves new calls: " << during_drain.error();

    EXPECT_EQ(co_await next_status(*watch), "END") << "the watch ends cleanly as the drain does";
    auto after_drain = co_await say(raw);
    EXPECT_THAT(after_drain, ErrorIs(ErrorKind::kStream, StatusCode::kUnavailable));
    EXPECT_TRUE(!after_drain && after_drain.error().not_started()) << "refused before any handler ran";
    held->release.set();  // the call in flight finishes within the grace period
    co_await held->finished.wait();
    EXPECT_TRUE(held->result && *held->result) << "the held call completes during the grace period";
  }());
}

TEST(HealthServiceTest, WithoutADrainDelayWatchesStillHearNotServingBeforeTheyEnd) {
  LoopbackServer loopback;
  auto held = std::make_shared<HeldCall>();
  serve_demo(loopback, held);
  run_bounded(loopback.runtime(), [&]() -> asio::awaitable<void> {
    auto raw = co_await loopback.connect();
    HealthClient client(raw);
    co_await start_held(raw, held);
    auto watch = co_await client.Watch(about("demo.Echo"));
    EXPECT_TRUE(watch) << watch.error();
    if (!watch) co_return;
    EXPECT_EQ(co_await next_status(*watch), "SERVING");
    loopback.server().shutdown(10s);
    EXPECT_EQ(co_await next_status(*watch), "NOT_SERVING");
    EXPECT_EQ(co_await next_status(*watch), "END");
    held->release.set();
    co_await held->finished.wait();
  }());
}

}  // namespace
}  // namespace rpcnet::testing
