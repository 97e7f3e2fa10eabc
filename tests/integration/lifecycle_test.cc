// Deadlines, cancellation in both directions, shutdown and connection lifetime: what depends on
// time runs on an in-memory network in virtual time (exact instants), the rest over loopback.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
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

// How a handler ended, and when (in virtual time).
struct HandlerEnd {
  std::optional<std::string> how;
  InMemoryNetwork::time_point when{};
  void record(InMemoryNetwork& network, std::string what) {
    if (how) return;
    how = std::move(what);
    when = network.now();
  }
};

// A handler that parks until its call is cancelled, and records when and how it woke.

UnaryHandler parking_handler(InMemoryNetwork& network, std::shared_ptr<HandlerEnd> parked) {
  return [&network, parked](Bytes, CallContext& context) -> asio::awaitable<Result<Bytes>> {
    // A timer that never expires: only a cancellation ends the wait (virtual time ignores it).
    asio::steady_timer timer(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
    auto [error] = co_await timer.async_wait(as_tuple(asio::use_awaitable));
    parked->record(network, error == asio::error::operation_aborted && context.cancelled() ? "cancelled" : "not cancelled");
    co_return Bytes{};
  };
}

TEST(DeadlineTest, CallPastItsDeadlineTimesOutAtItsDeadlineAndTheHandlerIsCancelledThen) {
  InMemoryServer server;
  auto parked = std::make_shared<HandlerEnd>();
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
  auto parked = std::make_shared<HandlerEnd>();
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

TEST(CancellationTest, CancellingACallWithAsioCancelsTheHandlerThen) {
  InMemoryServer server;
  auto parked = std::make_shared<HandlerEnd>();
  server.server().register_method("park", parking_handler(server.network(), parked));
  server.server().register_method("echo", [](Bytes b) -> asio::awaitable<Result<Bytes>> { co_return b; });
  server.start();
  RpcClient client = server.connect();
  const auto called = server.network().now();
  auto outcome = server.run([&]() -> asio::awaitable<std::string> {
    CallOptions no_deadline;  // only the cancellation can end this call
    no_deadline.timeout = kNoDeadline;
    auto raced = co_await (client.call("park", {}, no_deadline) || server.network().sleep(100ms));
    std::string out = raced.index() == 1 ? "timer won" : "call finished first";
    auto after = co_await client.call("echo", to_bytes("alive"));
    co_return out + "," + (after ? to_string(*after) : after.error().to_string());
  }());
  EXPECT_EQ(outcome, "timer won,alive");
  ASSERT_TRUE(server.network().run_until([&] { return parked->how.has_value(); }));
  EXPECT_EQ(*parked->how, "cancelled");
  // The cancellation reaches the server microseconds after it left (ngtcp2 paces packets).
  EXPECT_GE(parked->when - called, 100ms);
  EXPECT_LT(parked->when - called, 101ms) << "the handler was cancelled when the caller cancelled";
}

// A handler that streams "0", "1", ... with a 1 ms pause between messages until something
// stops it, and records how: "cancelled" when a write failed while its context said cancelled,
// "threw when cancelled" when Asio ended it by throwing at its next co_await (which of these
// happens depends on where the cancellation catches the handler).
StreamingHandler ticker_handler(InMemoryNetwork& network, std::shared_ptr<HandlerEnd> ended,
                                bool opt_out_of_throwing) {
  return [&network, ended, opt_out_of_throwing](ServerStream stream) -> asio::awaitable<Result<void>> {
    if (opt_out_of_throwing) co_await asio::this_coro::throw_if_cancelled(false);
    try {
      for (int i = 0;; ++i) {
        auto written = co_await stream.write(to_bytes(std::to_string(i)));
        if (!written) {
          ended->record(network, stream.context().cancelled() ? "cancelled" : "write failed only");
          co_return written;
        }
        co_await network.sleep(1ms);
      }
    } catch (const std::system_error& error) {
      ended->record(network, error.code() == asio::error::operation_aborted && stream.context().cancelled()
                                 ? "threw when cancelled"
                                 : std::string("threw: ") + error.what());
      throw;
    }
  };
}

struct DroppedTicker {
  std::string first;  // the message read before dropping the stream
  std::string ending;  // how the handler ended
  std::chrono::nanoseconds ended_after_drop{};
};

// Serves the ticker, reads its first message as a client and drops the stream; reports that
// message and how and when the handler ended.
DroppedTicker drop_a_ticker_stream(bool opt_out_of_throwing) {
  InMemoryServer server;
  auto ended = std::make_shared<HandlerEnd>();
  server.server().register_streaming("ticker", ticker_handler(server.network(), ended, opt_out_of_throwing));
  server.start();
  RpcClient client = server.connect();
  InMemoryNetwork::time_point dropped{};
  auto first = server.run([&]() -> asio::awaitable<std::string> {
    auto stream = co_await client.call_server_streaming("ticker", {});
    if (!stream) co_return stream.error().to_string();
    auto next = co_await stream->next();
    dropped = server.network().now();
    co_return next && *next ? to_string(**next) : "nothing";
    // `stream` is dropped here, mid-stream.
  }());
  if (!server.network().run_until([&] { return ended->how.has_value(); })) return {first, "never ended", {}};
  return {first, *ended->how, ended->when - dropped};
}

TEST(CancellationTest, DroppingAResponseStreamCancelsTheServerHandler) {
  const auto dropped = drop_a_ticker_stream(false);
  EXPECT_EQ(dropped.first, "0");
  // Either way the handler stopped, and its context said why.
  EXPECT_THAT(dropped.ending, ::testing::AnyOf("cancelled", "threw when cancelled"));
  // At its first write after the drop: 1 ms after it wrote the message the client read, which
  // arrived microseconds after it left (ngtcp2 paces packets).
  EXPECT_LE(dropped.ended_after_drop, 1ms);
  EXPECT_GT(dropped.ended_after_drop, 999us);
}

TEST(CancellationTest, AHandlerThatOptsOutOfThrowingSeesTheCancellationAsAnError) {
  const auto dropped = drop_a_ticker_stream(true);
  EXPECT_EQ(dropped.first, "0");
  EXPECT_EQ(dropped.ending, "cancelled");
  EXPECT_LE(dropped.ended_after_drop, 1ms);
  EXPECT_GT(dropped.ended_after_drop, 999us);
}

TEST(CancellationTest, AssigningOverALiveResponseStreamCancelsItsCallOnly) {
  InMemoryServer server;
  auto first_ended = std::make_shared<HandlerEnd>();
  auto second_ended = std::make_shared<HandlerEnd>();
  server.server().register_streaming("first", ticker_handler(server.network(), first_ended, false));
  server.server().register_streaming("second", ticker_handler(server.network(), second_ended, false));
  server.start();
  RpcClient client = server.connect();
  auto seen = server.run([&]() -> asio::awaitable<std::string> {
    auto stream = co_await client.call_server_streaming("first", {});
    auto other = co_await client.call_server_streaming("second", {});
    if (!stream || !other) co_return "call failed";
    auto a = co_await stream->next();
    auto b = co_await other->next();
    if (!a || !*a || !b || !*b) co_return "no first message";
    *stream = std::move(*other);  // the "first" call's handle is overwritten
    co_await server.network().sleep(5ms);
    std::string out = first_ended->how.value_or("first still running");
    out += second_ended->how ? "," + *second_ended->how : ",second still running";
    auto next = co_await stream->next();  // the assigned stream is the live "second" call
    co_return out + "," + (next && *next ? to_string(**next) : "no message");
  }());
  EXPECT_THAT(seen, ::testing::AnyOf("cancelled,second still running,1", "threw when cancelled,second still running,1"));
}

TEST(CancellationTest, ExplicitCancelFailsLaterReadsWithCancelled) {
  InMemoryServer server;
  auto ended = std::make_shared<HandlerEnd>();
  server.server().register_streaming("hold", [&server, ended](ServerStream stream) -> asio::awaitable<Result<void>> {
    // Tell the client the handler is running, then wait for a request that never comes.
    if (auto w = co_await stream.write(to_bytes("ready")); !w) co_return w;
    auto next = co_await stream.read();
    const bool cancelled = ::testing::Value(next, ErrorIs(ErrorKind::kCall, StatusCode::kCancelled));
    ended->record(server.network(), cancelled ? "cancelled" : "read returned");
    co_return ok();
  });
  server.start();
  RpcClient client = server.connect();
  InMemoryNetwork::time_point cancelled_at{};
  auto result = server.run([&]() -> asio::awaitable<Result<std::optional<Bytes>>> {
    auto call = co_await client.open_call("hold");
    if (!call) co_return call.error();
    auto ready = co_await call->read();
    if (!ready || !*ready) co_return RpcError::stream("handler did not start");
    cancelled_at = server.network().now();
    call->cancel();
    co_return co_await call->read();
  }());
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result, ErrorIs(ErrorKind::kCall, StatusCode::kCancelled));
  EXPECT_EQ(server.network().now(), cancelled_at) << "the read failed at once, with nothing to wait for";
  ASSERT_TRUE(server.network().run_until([&] { return ended->how.has_value(); }));
  EXPECT_EQ(*ended->how, "cancelled");
  // The cancellation reaches the server microseconds after it left (ngtcp2 paces packets).
  EXPECT_LT(ended->when - cancelled_at, 1ms);
}

TEST(ServerCancellationTest, ServerDeadlineResetIsAnErrorNotACleanEnd) {
  // The handler streams forever; the deadline resets the stream, and the client must see that as
  // an error even though some messages arrived.
  InMemoryServer server;
  server.server().register_streaming("forever", [&server](ServerStream stream) -> asio::awaitable<Result<void>> {
    for (;;) {
      if (auto w = co_await stream.write(to_bytes("tick")); !w) co_return w;
      co_await server.network().sleep(1ms);
    }
  });
  server.start();
  RpcClient client = server.connect();
  CallOptions options;
  options.timeout = 200ms;
  const auto called = server.network().now();
  int ticks = 0;
  auto error = server.run([&]() -> asio::awaitable<std::optional<RpcError>> {
    auto stream = co_await client.call_server_streaming("forever", {}, options);
    if (!stream) co_return stream.error();
    for (;;) {
      auto next = co_await stream->next();
      if (!next) co_return next.error();
      if (!*next) co_return std::nullopt;
      ++ticks;
    }
  }());
  ASSERT_TRUE(error.has_value()) << "a deadline-reset stream ended cleanly";
  EXPECT_THAT(error, StatusIs(StatusCode::kDeadlineExceeded));
  EXPECT_EQ(server.network().now() - called, 200ms) << "the stream failed at its deadline";
  EXPECT_GE(ticks, 190) << "messages kept arriving until then";
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

TEST(ShutdownTest, StoppingTheServerFailsCallsInFlightAtOnce) {
  InMemoryServer server;
  auto parked = std::make_shared<HandlerEnd>();
  server.server().register_method("park", parking_handler(server.network(), parked));
  server.server().register_method("echo", [](Bytes b) -> asio::awaitable<Result<Bytes>> { co_return b; });
  server.start();
  RpcClient client = server.connect();
  std::optional<Result<Bytes>> parked_call;
  InMemoryNetwork::time_point failed_at{};
  CallOptions no_deadline;
  no_deadline.timeout = kNoDeadline;  // only the shutdown can end it
  asio::co_spawn(server.network().executor(), client.call("park", {}, no_deadline),
                 [&](std::exception_ptr, Result<Bytes> r) {
                   parked_call = std::move(r);
                   failed_at = server.network().now();
                 });
  ASSERT_TRUE(server.run(client.call("echo", {}))) << "the park request is in before this returns";
  const auto stopped = server.network().now();
  server.server().shutdown(0ms);
  ASSERT_TRUE(server.network().run_until([&] { return parked_call.has_value() && parked->how; }));
  ASSERT_FALSE(parked_call->ok());
  // The stream reset (code kShutdown) goes out just before the CONNECTION_CLOSE.
  EXPECT_THAT(*parked_call, ErrorIs(ErrorKind::kStream, StatusCode::kUnavailable));
  EXPECT_EQ(*parked->how, "cancelled");
  EXPECT_EQ(parked->when, stopped) << "no grace: the handler is cancelled at once";
  EXPECT_LT(failed_at - stopped, 1ms) << "the reset reaches the client microseconds later";
}

TEST(ConnectionLifetimeTest, IdleConnectionClosesExactlyAtTheIdleTimeout) {
  InMemoryServer server(server_config().with_idle_timeout(300ms));
  server.server().register_method("echo", [](Bytes b) -> asio::awaitable<Result<Bytes>> { co_return b; });
  server.start();
  RpcClient client = server.connect(client_config().with_idle_timeout(300ms));
  auto first = server.run(client.call("echo", {}));
  ASSERT_TRUE(first) << first.error();
  // QUIC's idle timer runs from the last packet received (RFC 9000 §10.1). The reply is the
  // last one when its acknowledgment goes at once; when the client delays it (up to the peer's
  // max_ack_delay, 25 ms), the server's answer to that ACK (e.g. new stream credit) arrives that
  // much later, and the timer starts there. Which of the two happens depends on the order of
  // events at one virtual instant, so the bound is the reply's instant plus one ACK delay.
  server.network().advance(299ms);
  EXPECT_TRUE(client.is_connected()) << "closed before the idle timeout";
  auto open_for = 299ms;
  while (client.is_connected() && open_for < 300ms + 26ms) {
    server.network().advance(1ms);
    open_for += 1ms;
  }
  EXPECT_FALSE(client.is_connected()) << "still open one ACK delay after the idle timeout";
  EXPECT_GE(open_for, 300ms);
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
  auto parked = std::make_shared<HandlerEnd>();
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
