// Deadlines, cancellation in both directions, shutdown and connection lifetime: what depends on
// time runs on an in-memory network in virtual time (exact instants), the rest over loopback.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <future>
#include <string>
#include <utility>

#include "harness.h"
#include "runtime/event.h"
#include "in_memory_harness.h"
#include "support/error_matchers.h"

namespace rpcnet::testing {
namespace {

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using asio::experimental::as_tuple;

// What a parked handler saw when it was woken: "cancelled" when its wait was aborted and its
// context says cancelled.
class Observation {
 public:
  void record(std::string what) {
    std::lock_guard lock(mutex_);
    if (!recorded_) {
      recorded_ = true;
      promise_.set_value(std::move(what));
    }
  }
  std::string wait() {
    auto future = promise_.get_future();
    if (future.wait_for(30s) != std::future_status::ready) return "handler never woke";
    return future.get();
  }

 private:
  std::mutex mutex_;
  bool recorded_ = false;
  std::promise<std::string> promise_;
};

// A handler that parks for a minute and records how it was woken.
UnaryHandler parking_handler(std::shared_ptr<Observation> observation) {
  return [observation](Bytes, CallContext& context) -> asio::awaitable<Result<Bytes>> {
    asio::steady_timer timer(co_await asio::this_coro::executor, 60s);
    auto [error] = co_await timer.async_wait(as_tuple(asio::use_awaitable));
    observation->record(error == asio::error::operation_aborted && context.cancelled()
                            ? "cancelled"
                            : "not cancelled");
    co_return Bytes{};
  };
}

// A handler that parks until its call is cancelled, and records when (in virtual time) and how.
struct Parked {
  std::optional<std::string> how;
  InMemoryNetwork::time_point when{};
};

UnaryHandler parking_handler(InMemoryNetwork& network, std::shared_ptr<Parked> parked) {
  return [&network, parked](Bytes, CallContext& context) -> asio::awaitable<Result<Bytes>> {
    // A timer that never expires: only a cancellation ends the wait (virtual time ignores it).
    asio::steady_timer timer(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
    auto [error] = co_await timer.async_wait(as_tuple(asio::use_awaitable));
    parked->when = network.now();
    parked->how = error == asio::error::operation_aborted && context.cancelled() ? "cancelled" : "not cancelled";
    co_return Bytes{};
  };
}

TEST(DeadlineTest, CallPastItsDeadlineTimesOutAtItsDeadlineAndTheHandlerIsCancelledThen) {
  InMemoryServer server;
  auto parked = std::make_shared<Parked>();
  server.server().register_method("park", parking_handler(server.network(), parked));
  server.start();
  RpcClient client = server.connect();
  CallOptions options;
  options.timeout = 100ms;
  const auto called = server.network().now();
  auto result = server.run(client.call("park", {}, options));
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result, ErrorIs(ErrorKind::kCall, StatusCode::kDeadlineExceeded));
  EXPECT_EQ(server.network().now() - called, 100ms);
  ASSERT_TRUE(server.network().run_until([&] { return parked->how.has_value(); }));
  EXPECT_EQ(*parked->how, "cancelled");
  // The server's copy of the deadline starts when the header arrives, which ngtcp2's pacing may
  // delay by a nanosecond or so: within 1 ms of the client's.
  EXPECT_GE(parked->when - called, 100ms);
  EXPECT_LT(parked->when - called, 101ms) << "the deadline travelled with the call";
}

TEST(DeadlineTest, ClientDefaultTimeoutComesFromTheConfig) {
  InMemoryServer server;
  auto parked = std::make_shared<Parked>();
  server.server().register_method("park", parking_handler(server.network(), parked));
  server.start();
  RpcClient client = server.connect(client_config().with_default_timeout(150ms));
  const auto called = server.network().now();
  auto result = server.run(client.call("park", {}));
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result, ErrorIs(ErrorKind::kCall, StatusCode::kDeadlineExceeded));
  EXPECT_EQ(server.network().now() - called, 150ms);
  ASSERT_TRUE(server.network().run_until([&] { return parked->how.has_value(); }));
  EXPECT_EQ(*parked->how, "cancelled");
}

TEST(DeadlineTest, TheDeadlineTravelsToTheHandler) {
  InMemoryServer server;
  server.server().register_method("budget", [&server](Bytes, CallContext& context) -> asio::awaitable<Result<Bytes>> {
    // No time passes in transit on the in-memory network: the whole budget is left.
    const auto left = context.deadline() - server.network().now();
    co_return to_bytes(std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(left).count()));
  });
  server.server().register_method("none", [](Bytes, CallContext& context) -> asio::awaitable<Result<Bytes>> {
    co_return to_bytes(context.deadline() == std::chrono::steady_clock::time_point::max() ? "none" : "set");
  });
  server.start();
  RpcClient client = server.connect();
  CallOptions five;
  five.timeout = 5s;
  CallOptions unlimited;
  unlimited.timeout = kNoDeadline;
  auto a = server.run(client.call("budget", {}, five));
  auto b = server.run(client.call("none", {}, unlimited));
  ASSERT_TRUE(a) << a.error();
  ASSERT_TRUE(b) << b.error();
  EXPECT_EQ(to_string(*a), "5000");
  EXPECT_EQ(to_string(*b), "none");
}

TEST(CancellationTest, CancellingACallWithAsioCancelsTheHandler) {
  LoopbackServer server;
  auto observation = std::make_shared<Observation>();
  server.server().register_method("park", parking_handler(observation));
  server.server().register_method("echo", [](Bytes b) -> asio::awaitable<Result<Bytes>> { co_return b; });
  server.start();
  auto outcome = run_bounded(server.runtime(), [&]() -> asio::awaitable<std::string> {
    auto client = co_await server.connect();
    asio::steady_timer timer(co_await asio::this_coro::executor, 100ms);
    CallOptions no_deadline;  // only the cancellation can end this call
    no_deadline.timeout = kNoDeadline;
    auto raced = co_await (client.call("park", {}, no_deadline) ||
                           timer.async_wait(as_tuple(asio::use_awaitable)));
    std::string out = raced.index() == 1 ? "timer won" : "call finished first";
    auto after = co_await client.call("echo", to_bytes("alive"));
    co_return out + "," + (after ? to_string(*after) : after.error().to_string());
  }());
  EXPECT_EQ(outcome, "timer won,alive");
  EXPECT_EQ(observation->wait(), "cancelled");
}

// A handler that streams "0", "1", ... with a 1 ms pause between messages until something
// stops it, and records how: "cancelled" when a write failed or the pause was aborted while its
// context said cancelled, "threw when cancelled" when Asio ended it by throwing at its next
// co_await (which of these happens depends on where the cancellation catches the handler).
StreamingHandler ticker_handler(std::shared_ptr<Observation> observation, bool opt_out_of_throwing) {
  return [observation, opt_out_of_throwing](ServerStream stream) -> asio::awaitable<Result<void>> {
    if (opt_out_of_throwing) co_await asio::this_coro::throw_if_cancelled(false);
    try {
      for (int i = 0;; ++i) {
        auto written = co_await stream.write(to_bytes(std::to_string(i)));
        if (!written) {
          observation->record(stream.context().cancelled() ? "cancelled" : "write failed only");
          co_return written;
        }
        asio::steady_timer pause(co_await asio::this_coro::executor, 1ms);
        auto [error] = co_await pause.async_wait(as_tuple(asio::use_awaitable));
        if (error) {
          observation->record(stream.context().cancelled() ? "cancelled" : "timer aborted only");
          co_return ok();
        }
      }
    } catch (const std::system_error& error) {
      observation->record(error.code() == asio::error::operation_aborted && stream.context().cancelled()
                              ? "threw when cancelled"
                              : std::string("threw: ") + error.what());
      throw;
    }
  };
}

// Serves the ticker, reads its first message as a client and drops the stream (and then the
// client); returns that message and how the handler ended.
std::pair<std::string, std::string> drop_a_ticker_stream(bool opt_out_of_throwing) {
  LoopbackServer server;
  auto observation = std::make_shared<Observation>();
  server.server().register_streaming("ticker", ticker_handler(observation, opt_out_of_throwing));
  server.start();
  auto first = run_bounded(server.runtime(), [&]() -> asio::awaitable<std::string> {
    auto client = co_await server.connect();
    auto stream = co_await client.call_server_streaming("ticker", {});
    if (!stream) co_return stream.error().to_string();
    auto next = co_await stream->next();
    co_return next && *next ? to_string(**next) : "nothing";
    // `stream` is dropped here, mid-stream.
  }());
  return {first, observation->wait()};
}

TEST(CancellationTest, DroppingAResponseStreamCancelsTheServerHandler) {
  const auto [first, ending] = drop_a_ticker_stream(false);
  EXPECT_EQ(first, "0");
  // Either way the handler stopped, and its context said why.
  EXPECT_THAT(ending, ::testing::AnyOf("cancelled", "threw when cancelled"));
}

TEST(CancellationTest, AHandlerThatOptsOutOfThrowingSeesTheCancellationAsAnError) {
  const auto [first, ending] = drop_a_ticker_stream(true);
  EXPECT_EQ(first, "0");
  EXPECT_EQ(ending, "cancelled");
}

TEST(CancellationTest, ExplicitCancelFailsLaterReadsWithCancelled) {
  LoopbackServer server;
  auto observation = std::make_shared<Observation>();
  server.server().register_streaming("hold", [observation](ServerStream stream) -> asio::awaitable<Result<void>> {
    // Tell the client the handler is running, then wait for a request that never comes.
    if (auto w = co_await stream.write(to_bytes("ready")); !w) co_return w;
    auto next = co_await stream.read();
    const bool cancelled = ::testing::Value(next, ErrorIs(ErrorKind::kCall, StatusCode::kCancelled));
    observation->record(cancelled ? "cancelled" : "read returned");
    co_return ok();
  });
  server.start();
  auto result = run_bounded(server.runtime(), [&]() -> asio::awaitable<Result<std::optional<Bytes>>> {
    auto client = co_await server.connect();
    auto call = co_await client.open_call("hold");
    if (!call) co_return call.error();
    auto ready = co_await call->read();
    if (!ready || !*ready) co_return RpcError::stream("handler did not start");
    call->cancel();
    co_return co_await call->read();
  }());
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result, ErrorIs(ErrorKind::kCall, StatusCode::kCancelled));
  EXPECT_EQ(observation->wait(), "cancelled");
}

TEST(ServerCancellationTest, ServerDeadlineResetIsAnErrorNotACleanEnd) {
  // The handler streams forever; its (server-side) deadline resets the stream, and the client
  // must see that as an error even though some messages arrived.
  LoopbackServer server;
  server.server().register_streaming("forever", [](ServerStream stream) -> asio::awaitable<Result<void>> {
    for (;;) {
      if (auto w = co_await stream.write(to_bytes("tick")); !w) co_return w;
      asio::steady_timer pause(co_await asio::this_coro::executor, 1ms);
      co_await pause.async_wait(asio::use_awaitable);
    }
  });
  server.start();
  CallOptions options;
  options.timeout = 200ms;
  auto error = run_bounded(server.runtime(), [&]() -> asio::awaitable<std::optional<RpcError>> {
    auto client = co_await server.connect();
    auto stream = co_await client.call_server_streaming("forever", {}, options);
    if (!stream) co_return stream.error();
    for (;;) {
      auto next = co_await stream->next();
      if (!next) co_return next.error();
      if (!*next) co_return std::nullopt;
    }
  }());
  ASSERT_TRUE(error.has_value()) << "a deadline-reset stream ended cleanly";
  EXPECT_THAT(error, StatusIs(StatusCode::kDeadlineExceeded));
}

TEST(ShutdownTest, GracefulShutdownFinishesInFlightCallsAndRefusesNewOnes) {
  LoopbackServer server(server_config().with_event_loops(1));
  struct Parking {
    runtime::Event release;
    std::atomic<bool> parked{false};
  };
  auto parking = std::make_shared<Parking>();
  server.server().register_method("slow", [parking](Bytes, CallContext&) -> asio::awaitable<Result<Bytes>> {
    parking->parked.store(true);
    co_await parking->release.wait();
    co_return to_bytes("finished");
  });
  server.server().register_method("echo", [](Bytes b) -> asio::awaitable<Result<Bytes>> { co_return b; });
  server.start();

  struct Outcome {
    std::string slow;
    bool parked_before_stop = false;
    std::optional<RpcError> refused;
  };
  auto outcome = run_bounded(server.runtime(), [&]() -> asio::awaitable<Outcome> {
    auto client = co_await server.connect();
    auto executor = co_await asio::this_coro::executor;
    Outcome out;
    Completion slow_done(executor);
    auto slow = [&]() -> asio::awaitable<void> {
      auto r = co_await client.call("slow", {});
      out.slow = r ? to_string(*r) : r.error().to_string();
      slow_done.done();
    };
    asio::co_spawn(executor, std::move(slow), asio::detached);
    for (int i = 0; i < 1000 && !parking->parked.load(); ++i) (void)co_await client.call("echo", {});
    out.parked_before_stop = parking->parked.load();
    server.server().shutdown(10s);  // graceful: the parked call may still finish
    for (int i = 0; i < 1000 && !out.refused; ++i) {
      auto r = co_await client.call("echo", {});
      if (!r) out.refused = r.error();
    }
    parking->release.set();
    co_await slow_done.wait();
    co_return out;
  }());
  EXPECT_TRUE(outcome.parked_before_stop) << "the slow call was not in flight when stop() began";
  EXPECT_EQ(outcome.slow, "finished");
  ASSERT_TRUE(outcome.refused.has_value());
  EXPECT_THAT(outcome.refused, ErrorIs(ErrorKind::kStream, StatusCode::kUnavailable));
  EXPECT_TRUE(outcome.refused->not_started()) << "a refused call never ran: safe to retry elsewhere";
}

TEST(ShutdownTest, StoppingTheServerFailsCallsInFlightPromptly) {
  LoopbackServer server;
  auto observation = std::make_shared<Observation>();
  server.server().register_method("park", parking_handler(observation));
  server.server().register_method("echo", [](Bytes b) -> asio::awaitable<Result<Bytes>> { co_return b; });
  server.start();
  auto error = run_bounded(server.runtime(), [&]() -> asio::awaitable<std::optional<RpcError>> {
    auto client = co_await server.connect();
    auto executor = co_await asio::this_coro::executor;
    std::optional<RpcError> seen;
    Completion done(executor);
    auto parked_call = [&]() -> asio::awaitable<void> {
      CallOptions options;
      options.timeout = kNoDeadline;  // only the shutdown can end it
      auto r = co_await client.call("park", {}, options);
      if (!r) seen = r.error();
      done.done();
    };
    asio::co_spawn(executor, std::move(parked_call), asio::detached);
    (void)co_await client.call("echo", {});  // the park request is in before this returns
    server.server().shutdown(0ms);
    co_await done.wait();
    co_return seen;
  }());
  ASSERT_TRUE(error.has_value());
  // The stream reset (code kShutdown) goes out just before the CONNECTION_CLOSE.
  EXPECT_THAT(error, ErrorIs(ErrorKind::kStream, StatusCode::kUnavailable));
  EXPECT_EQ(observation->wait(), "cancelled");
}

TEST(ConnectionLifetimeTest, IdleConnectionClosesExactlyAtTheIdleTimeout) {
  InMemoryServer server(server_config().with_idle_timeout(300ms));
  server.server().register_method("echo", [](Bytes b) -> asio::awaitable<Result<Bytes>> { co_return b; });
  server.start();
  RpcClient client = server.connect(client_config().with_idle_timeout(300ms));
  auto first = server.run(client.call("echo", {}));
  ASSERT_TRUE(first) << first.error();
  // The client's last packet left when the reply was acknowledged, at the reply's instant.
  server.network().advance(299ms);
  EXPECT_TRUE(client.is_connected()) << "closed before the idle timeout";
  server.network().advance(1ms);
  EXPECT_FALSE(client.is_connected()) << "still open at the idle timeout";
  auto second = server.run(client.call("echo", {}));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().kind(), ErrorKind::kConnection);
}

TEST(ConnectionLifetimeTest, KeepAliveKeepsAnIdleConnectionOpen) {
  InMemoryServer server(server_config().with_idle_timeout(300ms).with_keep_alive_interval(100ms));
  server.server().register_method("echo", [](Bytes b) -> asio::awaitable<Result<Bytes>> { co_return b; });
  server.start();
  RpcClient client = server.connect(client_config().with_idle_timeout(300ms).with_keep_alive_interval(100ms));
  const auto before = server.network().datagrams_delivered();
  server.network().advance(10min);  // 2000 idle timeouts
  EXPECT_TRUE(client.is_connected());
  // A PING and its ACK at least every idle timeout, or the connection would have closed.
  EXPECT_GE(server.network().datagrams_delivered() - before, 2 * (10min / 300ms));
  auto call = server.run(client.call("echo", to_bytes("still")));
  ASSERT_TRUE(call) << call.error();
  EXPECT_EQ(to_string(*call), "still");
}

TEST(ShutdownTest, ACallStillRunningWhenTheGracePeriodEndsIsCancelledThen) {
  InMemoryServer server(server_config().with_event_loops(1));
  auto parked = std::make_shared<Parked>();
  server.server().register_method("park", parking_handler(server.network(), parked));
  server.server().register_method("echo", [](Bytes b) -> asio::awaitable<Result<Bytes>> { co_return b; });
  server.start();
  RpcClient client = server.connect();
  std::optional<Result<Bytes>> parked_call;
  CallOptions no_deadline;
  no_deadline.timeout = kNoDeadline;  // only the shutdown can end it
  asio::co_spawn(server.network().executor(), client.call("park", {}, no_deadline),
                 [&](std::exception_ptr, Result<Bytes> r) { parked_call = std::move(r); });
  ASSERT_TRUE(server.run(client.call("echo", {}))) << "the park request is in before this returns";
  const auto stopped = server.network().now();
  server.server().shutdown(2s);
  ASSERT_TRUE(server.network().run_until([&] { return parked_call.has_value() && parked->how; }));
  EXPECT_EQ(*parked->how, "cancelled");
  EXPECT_EQ(parked->when - stopped, 2s) << "cancelled exactly when the grace period ended";
  ASSERT_FALSE(parked_call->ok());
  EXPECT_EQ(parked_call->error().code(), StatusCode::kUnavailable);
}

TEST(ShutdownTest, ACallThatFinishesWithinTheGracePeriodFinishes) {
  InMemoryServer server(server_config().with_event_loops(1));
  InMemoryNetwork::time_point started_at{};
  InMemoryNetwork::time_point finished_at{};
  server.server().register_method("slow", [&](Bytes) -> asio::awaitable<Result<Bytes>> {
    started_at = server.network().now();
    co_await server.network().sleep(1500ms);
    finished_at = server.network().now();
    co_return to_bytes("finished");
  });
  server.start();
  RpcClient client = server.connect();
  std::optional<Result<Bytes>> slow;
  asio::co_spawn(server.network().executor(), client.call("slow", {}),
                 [&](std::exception_ptr, Result<Bytes> r) { slow = std::move(r); });
  server.network().advance(500ms);  // the call is 500 ms into its 1.5 s
  const auto stopped = server.network().now();
  server.server().shutdown(2s);
  ASSERT_TRUE(server.network().run_until([&] { return slow.has_value(); }));
  ASSERT_TRUE(*slow) << slow->error();
  EXPECT_EQ(to_string(**slow), "finished");
  EXPECT_EQ(finished_at - started_at, 1500ms) << "the handler ran its full 1.5 s";
  // The request arrived microseconds after the call began (ngtcp2 paces packets), so the
  // shutdown waited 1 s and those microseconds.
  EXPECT_GE(finished_at - stopped, 1s);
  EXPECT_LT(finished_at - stopped, 1001ms);
}

TEST(ConnectionLifetimeTest, ClosingTheClientFailsLaterCallsWithConnectionError) {
  LoopbackServer server;
  server.server().register_method("echo", [](Bytes b) -> asio::awaitable<Result<Bytes>> { co_return b; });
  server.start();
  auto result = run_bounded(server.runtime(), [&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server.connect();
    client.close();
    co_return co_await client.call("echo", {});
  }());
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result, ErrorIs(ErrorKind::kConnection, StatusCode::kUnavailable));
  EXPECT_TRUE(result.error().not_started());
}

}  // namespace
}  // namespace rpcnet::testing
