// Deadlines, cancellation in both directions, shutdown and connection lifetime over loopback.
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

TEST(DeadlineTest, CallPastItsDeadlineTimesOutAndTheHandlerIsCancelled) {
  LoopbackServer server;
  auto observation = std::make_shared<Observation>();
  server.server().register_method("park", parking_handler(observation));
  server.start();
  CallOptions options;
  options.timeout = 100ms;
  auto result = run_bounded(server.runtime(), [&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server.connect();
    co_return co_await client.call("park", {}, options);
  }());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().kind(), ErrorKind::kTimeout);
  EXPECT_EQ(result.error().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(observation->wait(), "cancelled");
}

TEST(DeadlineTest, ClientDefaultTimeoutComesFromTheConfig) {
  LoopbackServer server;
  auto observation = std::make_shared<Observation>();
  server.server().register_method("park", parking_handler(observation));
  server.start();
  auto result = run_bounded(server.runtime(), [&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server.connect(client_config().with_default_timeout(150ms));
    co_return co_await client.call("park", {});
  }());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().kind(), ErrorKind::kTimeout);
  EXPECT_EQ(observation->wait(), "cancelled");
}

TEST(DeadlineTest, TheDeadlineTravelsToTheHandler) {
  LoopbackServer server;
  server.server().register_method("budget", [](Bytes, CallContext& context) -> asio::awaitable<Result<Bytes>> {
    const auto left = context.deadline() - std::chrono::steady_clock::now();
    // Reports whether the remaining budget is within (0, 5 s]: the client asked for 5 s.
    co_return to_bytes(left > 0s && left <= 5s ? "bounded" : "unbounded");
  });
  server.server().register_method("none", [](Bytes, CallContext& context) -> asio::awaitable<Result<Bytes>> {
    co_return to_bytes(context.deadline() == std::chrono::steady_clock::time_point::max() ? "none" : "set");
  });
  server.start();
  auto results = run_bounded(server.runtime(), [&]() -> asio::awaitable<std::string> {
    auto client = co_await server.connect();
    CallOptions five;
    five.timeout = 5s;
    CallOptions unlimited;
    unlimited.timeout = kNoDeadline;
    auto a = co_await client.call("budget", {}, five);
    auto b = co_await client.call("none", {}, unlimited);
    co_return (a ? to_string(*a) : a.error().to_string()) + "," + (b ? to_string(*b) : b.error().to_string());
  }());
  EXPECT_EQ(results, "bounded,none");
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
    observation->record(!next && next.error().kind() == ErrorKind::kCancelled ? "cancelled"
                                                                            : "read returned");
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
  EXPECT_EQ(result.error().kind(), ErrorKind::kCancelled);
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
  EXPECT_EQ(error->code(), StatusCode::kDeadlineExceeded);
}

TEST(ShutdownTest, GracefulShutdownFinishesInFlightCallsAndRefusesNewOnes) {
  LoopbackServer server(server_config().with_event_loops(1));
  struct Parking {
    std::optional<asio::steady_timer> timer;  // touched on the server loop only
    asio::any_io_executor executor;           // written before `parked` is set
    std::atomic<bool> parked{false};
  };
  auto parking = std::make_shared<Parking>();
  server.server().register_method("slow", [parking](Bytes, CallContext&) -> asio::awaitable<Result<Bytes>> {
    parking->executor = co_await asio::this_coro::executor;
    parking->timer.emplace(parking->executor, asio::steady_timer::time_point::max());
    parking->parked.store(true);
    (void)co_await parking->timer->async_wait(as_tuple(asio::use_awaitable));
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
    server.server().stop(10s);  // graceful: the parked call may still finish
    for (int i = 0; i < 1000 && !out.refused; ++i) {
      auto r = co_await client.call("echo", {});
      if (!r) out.refused = r.error();
    }
    asio::post(parking->executor, [parking] { parking->timer->cancel(); });
    co_await slow_done.wait();
    co_return out;
  }());
  EXPECT_TRUE(outcome.parked_before_stop) << "the slow call was not in flight when stop() began";
  EXPECT_EQ(outcome.slow, "finished");
  ASSERT_TRUE(outcome.refused.has_value());
  EXPECT_EQ(outcome.refused->code(), StatusCode::kUnavailable);
  EXPECT_EQ(outcome.refused->kind(), ErrorKind::kStream);
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
    server.server().stop(0ms);
    co_await done.wait();
    co_return seen;
  }());
  ASSERT_TRUE(error.has_value());
  // The stream reset (code kShutdown) goes out just before the CONNECTION_CLOSE.
  EXPECT_EQ(error->kind(), ErrorKind::kStream);
  EXPECT_EQ(error->code(), StatusCode::kUnavailable);
  EXPECT_EQ(observation->wait(), "cancelled");
}

TEST(ConnectionLifetimeTest, IdleConnectionClosesAfterTheIdleTimeout) {
  LoopbackServer server(server_config().with_idle_timeout(300ms));
  server.server().register_method("echo", [](Bytes b) -> asio::awaitable<Result<Bytes>> { co_return b; });
  server.start();
  auto outcome = run_bounded(server.runtime(), [&]() -> asio::awaitable<std::string> {
    auto client = co_await server.connect(client_config().with_idle_timeout(300ms));
    auto first = co_await client.call("echo", {});
    asio::steady_timer idle(co_await asio::this_coro::executor, 1500ms);  // time must pass here
    co_await idle.async_wait(asio::use_awaitable);
    auto second = co_await client.call("echo", {});
    co_return std::string(first ? "ok" : "fail") + "," + (client.is_connected() ? "connected" : "closed") +
              "," + (second ? "ok" : std::string(error_kind_name(second.error().kind())));
  }());
  EXPECT_EQ(outcome, "ok,closed,connection");
}

TEST(ConnectionLifetimeTest, KeepAliveKeepsAnIdleConnectionOpen) {
  LoopbackServer server(server_config().with_idle_timeout(300ms).with_keep_alive_interval(100ms));
  server.server().register_method("echo", [](Bytes b) -> asio::awaitable<Result<Bytes>> { co_return b; });
  server.start();
  auto outcome = run_bounded(server.runtime(), [&]() -> asio::awaitable<std::string> {
    auto client = co_await server.connect(
        client_config().with_idle_timeout(300ms).with_keep_alive_interval(100ms));
    asio::steady_timer idle(co_await asio::this_coro::executor, 1500ms);  // time must pass here
    co_await idle.async_wait(asio::use_awaitable);
    auto call = co_await client.call("echo", to_bytes("still"));
    co_return std::string(client.is_connected() ? "connected" : "closed") + "," +
              (call ? to_string(*call) : call.error().to_string());
  }());
  EXPECT_EQ(outcome, "connected,still");
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
  EXPECT_EQ(result.error().kind(), ErrorKind::kConnection);
  EXPECT_TRUE(result.error().not_started());
}

}  // namespace
}  // namespace rpcnet::testing
