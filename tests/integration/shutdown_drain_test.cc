// Graceful shutdown waits for calls in flight exactly until they finish, or until the grace
// period expires, whichever comes first. Signals between the handler and the test are
// runtime::Event (thread-safe), so nothing sleeps or polls. Both tests run over loopback and over
// the in-memory network, where virtual time makes the instants exact.
#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <memory>
#include <string>

#include "transport_harness.h"
#include "support/error_matchers.h"
#include "runtime/event.h"

namespace rpcnet::testing {
namespace {

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

// A handler that reports it has started and then holds its call until released.
struct Gate {
  runtime::Event entered;
  runtime::Event release;
};

UnaryHandler gated_handler(std::shared_ptr<Gate> gate) {
  return [gate](Bytes, CallContext&) -> asio::awaitable<Result<Bytes>> {
    gate->entered.set();
    co_await gate->release.wait();
    co_return to_bytes("finished");
  };
}

struct DrainOutcome {
  bool shutdown_done_while_call_held = true;
  bool refused_while_draining = false;
  bool shutdown_done_after_release = false;
  std::chrono::nanoseconds from_release_to_done{};
  std::string call;
};

class ShutdownDrainTest : public ::testing::TestWithParam<Transport> {};

RPCNET_OVER_BOTH_TRANSPORTS(ShutdownDrainTest);

TEST_P(ShutdownDrainTest, GracefulShutdownEndsWhenTheLastCallFinishesNotAtTheGrace) {
  TransportServer server(GetParam(), server_config().with_event_loops(2));
  auto gate = std::make_shared<Gate>();
  server.server().register_method("held", gated_handler(gate));
  server.server().register_method("echo", [](Bytes b) -> asio::awaitable<Result<Bytes>> { co_return b; });
  server.start();

  auto outcome = server.run([&]() -> asio::awaitable<DrainOutcome> {
    auto client = co_await server.connect();
    auto executor = co_await asio::this_coro::executor;
    DrainOutcome out;
    runtime::Event call_done;
    auto held = [&]() -> asio::awaitable<void> {
      CallOptions options;
      options.timeout = kNoDeadline;  // only the handler's release ends it
      auto r = co_await client.call("held", {}, options);
      out.call = r ? to_string(*r) : r.error().to_string();
      call_done.set();
    };
    asio::co_spawn(executor, std::move(held), asio::detached);
    co_await gate->entered.wait();

    runtime::Event shutdown_done;
    std::chrono::steady_clock::time_point done_at{};
    auto shut_down = [&]() -> asio::awaitable<void> {
      server.server().shutdown(1h);  // a grace no test run reaches
      (void)co_await server.server().serve();  // already serving: waits until shutdown is done
      done_at = server.now();
      shutdown_done.set();
    };
    asio::co_spawn(executor, std::move(shut_down), asio::detached);
    // Draining has begun once new calls are refused; the held call still keeps shutdown open.
    for (int i = 0; i < 1000 && !out.refused_while_draining; ++i) {
      auto r = co_await client.call("echo", {});
      out.refused_while_draining = !r && r.error().code() == StatusCode::kUnavailable;
    }
    out.shutdown_done_while_call_held = shutdown_done.is_set();

    gate->release.set();
    const auto released = server.now();
    // Fails the test instead of waiting for the grace.
    auto finished = co_await (shutdown_done.wait() || server.sleep(30s));
    out.shutdown_done_after_release = finished.index() == 0;
    out.from_release_to_done = done_at - released;
    co_await call_done.wait();
    co_return out;
  }());
  EXPECT_TRUE(outcome.refused_while_draining);
  EXPECT_FALSE(outcome.shutdown_done_while_call_held) << "shutdown did not wait for the call in flight";
  EXPECT_TRUE(outcome.shutdown_done_after_release) << "shutdown did not end when the last call did";
  if (GetParam() == Transport::kInMemory) {
    EXPECT_EQ(outcome.from_release_to_done, 0ns) << "shutdown ended at the instant the call did";
  }
  EXPECT_EQ(outcome.call, "finished");
}

TEST_P(ShutdownDrainTest, GracefulShutdownCancelsACallStillRunningWhenTheGraceExpires) {
  TransportServer server(GetParam(), server_config().with_event_loops(1));
  auto gate = std::make_shared<Gate>();  // never released
  server.server().register_method("held", gated_handler(gate));
  server.start();

  std::chrono::nanoseconds from_shutdown_to_failure{};
  auto error = server.run([&]() -> asio::awaitable<std::optional<RpcError>> {
    auto client = co_await server.connect();
    auto executor = co_await asio::this_coro::executor;
    std::optional<RpcError> seen;
    runtime::Event call_done;
    auto held = [&]() -> asio::awaitable<void> {
      CallOptions options;
      options.timeout = kNoDeadline;
      auto r = co_await client.call("held", {}, options);
      if (!r) seen = r.error();
      call_done.set();
    };
    asio::co_spawn(executor, std::move(held), asio::detached);
    co_await gate->entered.wait();
    const auto shut_down = server.now();
    server.server().shutdown(20ms);  // time must pass here: the grace is what is tested
    co_await call_done.wait();
    from_shutdown_to_failure = server.now() - shut_down;
    co_return seen;
  }());
  ASSERT_TRUE(error.has_value()) << "the held call finished although it was never released";
  EXPECT_THAT(*error, ErrorIs(ErrorKind::kStream, StatusCode::kUnavailable));
  EXPECT_GE(from_shutdown_to_failure, 20ms) << "cancelled before the grace ended";
  if (GetParam() == Transport::kInMemory) {
    EXPECT_EQ(from_shutdown_to_failure, 20ms) << "cancelled exactly when the grace ended";
  }
}

}  // namespace
}  // namespace rpcnet::testing
