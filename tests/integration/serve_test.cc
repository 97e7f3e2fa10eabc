// RpcServer's lifecycle: run() blocks, co_await serve() waits, shutdown(grace) begins the end
// from any thread or coroutine, at most once, and returns at once. Loopback only: these tests are
// about run() blocking its caller and shutdown() racing real threads (blocking handlers on worker
// threads, futures); on an in-memory network run() would block the one thread that drives it.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>

#include "harness.h"

namespace rpcnet::testing {
namespace {

using namespace std::chrono_literals;

// A blocking handler ("park") that reports when it started, waits to be released, and then
// records whether its call had been cancelled (as a shutdown whose grace ran out does). It
// blocks a worker thread, never an event loop, so shutdown proceeds around it. Tests assert
// on what the handler saw, not on the reply: a shutdown may close the connection before a
// reply written just before it reaches the client.
class ParkedCall {
 public:
  explicit ParkedCall(RpcServer& server) {
    server.register_blocking("park", [this](Bytes, const CallContext& context) -> Result<Bytes> {
      started_.set_value();
      release_future_.wait();
      finished_.set_value(context.cancelled() ? "cancelled" : "finished");
      return to_bytes("done");
    });
  }
  // Whether the handler started within a bound (a hang fails instead of blocking the suite).
  bool wait_started() { return started_future_.wait_for(30s) == std::future_status::ready; }
  void release() { release_.set_value(); }
  // "finished" or "cancelled": how the released handler found its call.
  std::string outcome() {
    if (finished_future_.wait_for(30s) != std::future_status::ready) return "never finished";
    return finished_future_.get();
  }

 private:
  std::promise<void> started_;
  std::future<void> started_future_ = started_.get_future();
  std::promise<void> release_;
  std::shared_future<void> release_future_ = release_.get_future().share();
  std::promise<std::string> finished_;
  std::future<std::string> finished_future_ = finished_.get_future();
};

asio::awaitable<Result<Bytes>> call_once(SocketAddress address, std::string method) {
  auto client = co_await RpcClient::connect(address, client_config());
  if (!client) co_return client.error();
  co_return co_await client->call(method, {});
}

std::future<Result<Bytes>> start_call(Runtime& runtime, SocketAddress address, std::string method) {
  return asio::co_spawn(runtime.executor(0), call_once(address, std::move(method)), asio::use_future);
}

template <class T>
bool ready_within(std::future<T>& future, std::chrono::seconds limit = 30s) {
  return future.wait_for(limit) == std::future_status::ready;
}

template <class T>
bool still_pending(std::future<T>& future) {
  return future.wait_for(0s) == std::future_status::timeout;
}

// The call's reply as text, or what went wrong.
std::string reply_of(std::future<Result<Bytes>>& reply) {
  if (!ready_within(reply)) return "no reply";
  auto answered = reply.get();
  return answered ? to_string(*answered) : answered.error().to_string();
}

// "ok" when run() or serve() returned success, else what it returned.
std::string outcome_of(std::future<Result<void>>& served) {
  if (!ready_within(served)) return "still serving";
  auto result = served.get();
  return result ? "ok" : result.error().to_string();
}

TEST(ServeTest, RunBlocksUntilAShutdownFromAnotherThreadIsCompleteAndShutdownDoesNotWait) {
  RpcServer server(server_config());
  ParkedCall parked(server);
  auto address = server.bind();
  ASSERT_TRUE(address) << address.error();
  auto run_result = std::async(std::launch::async, [&server] { return server.run(); });

  Runtime runtime(1);
  auto reply = start_call(runtime, *address, "park");
  ASSERT_TRUE(parked.wait_started());
  // A call is in flight with 60 s of grace: shutdown() must return without waiting for it.
  server.shutdown(60s);
  EXPECT_TRUE(still_pending(run_result)) << "run() returned while a call was still draining";
  parked.release();
  EXPECT_EQ(parked.outcome(), "finished");
  EXPECT_EQ(outcome_of(run_result), "ok");
  EXPECT_TRUE(ready_within(reply));
  EXPECT_EQ(server.stats().calls_started, 1u);
}

TEST(ServeTest, ServeReturnsToTheAwaitingCoroutineWhenTheShutdownIsComplete) {
  RpcServer server(server_config());
  server.register_method("echo", [](Bytes request) -> asio::awaitable<Result<Bytes>> {
    co_return request;
  });
  auto address = server.bind();
  ASSERT_TRUE(address) << address.error();
  Runtime runtime(1);
  auto served = asio::co_spawn(runtime.executor(0), server.serve(), asio::use_future);
  auto reply = start_call(runtime, *address, "echo");
  EXPECT_EQ(reply_of(reply), "");  // the empty request, echoed
  EXPECT_TRUE(still_pending(served));
  // Begun from a coroutine on the loop serve() waits on: neither may wait for the other.
  auto begin_shutdown = [&server]() -> asio::awaitable<void> {
    server.shutdown(0ms);
    co_return;
  };
  run_bounded(runtime, begin_shutdown());
  EXPECT_EQ(outcome_of(served), "ok");
}

TEST(ServeTest, ShutdownBeforeServingMakesRunAndServeReturnAtOnceWithoutBinding) {
  RpcServer server(server_config());
  server.shutdown();
  auto ran = std::async(std::launch::async, [&server] { return server.run(); });
  EXPECT_EQ(outcome_of(ran), "ok");
  EXPECT_EQ(server.socket_addr(), std::nullopt) << "run() bound after shutdown()";
  Runtime runtime(1);
  auto served = run_bounded(runtime, server.serve());
  EXPECT_TRUE(served) << served.error();
  EXPECT_EQ(server.socket_addr(), std::nullopt) << "serve() bound after shutdown()";
}

TEST(ServeTest, ShutdownAfterBindButBeforeServingLeavesNothingToServe) {
  RpcServer server(server_config());
  auto address = server.bind();
  ASSERT_TRUE(address) << address.error();
  server.shutdown();
  Runtime runtime(1);
  auto served = run_bounded(runtime, server.serve());
  EXPECT_TRUE(served) << served.error();
  auto ran = std::async(std::launch::async, [&server] { return server.run(); });
  EXPECT_EQ(outcome_of(ran), "ok");
  EXPECT_EQ(server.stats().connections_accepted, 0u);
}

TEST(ServeTest, ASecondShutdownChangesNothingNotEvenTheGrace) {
  RpcServer server(server_config());
  ParkedCall parked(server);
  auto address = server.bind();
  ASSERT_TRUE(address) << address.error();
  Runtime runtime(1);
  auto served = asio::co_spawn(runtime.executor(0), server.serve(), asio::use_future);
  auto reply = start_call(runtime, *address, "park");
  ASSERT_TRUE(parked.wait_started());
  server.shutdown(60s);
  server.shutdown(0ms);  // would cancel the parked call at once if it took effect
  EXPECT_TRUE(still_pending(served));
  parked.release();
  EXPECT_EQ(parked.outcome(), "finished");
  EXPECT_EQ(outcome_of(served), "ok");
  EXPECT_TRUE(ready_within(reply));
  server.shutdown(0ms);  // after completion: still nothing
  EXPECT_TRUE(run_bounded(runtime, server.serve())) << "serve() after shutdown returns at once";
}

TEST(ServeTest, AHandlerMayShutDownItsOwnServer) {
  RpcServer server(server_config());
  std::promise<void> returned;
  server.register_method("quit", [&server, &returned](Bytes) -> asio::awaitable<Result<Bytes>> {
    server.shutdown(30s);  // its own call is in flight: it drains within the grace
    returned.set_value();  // shutdown() did not wait for the shutdown, which waits for us
    co_return to_bytes("bye");
  });
  auto address = server.bind();
  ASSERT_TRUE(address) << address.error();
  auto ran = std::async(std::launch::async, [&server] { return server.run(); });
  Runtime runtime(1);
  auto reply = start_call(runtime, *address, "quit");
  auto handler_returned = returned.get_future();
  EXPECT_TRUE(ready_within(handler_returned));
  EXPECT_EQ(outcome_of(ran), "ok");
  EXPECT_TRUE(ready_within(reply));
}

TEST(ServeTest, RunBindsWhenBindWasNotCalledAndReturnsItsError) {
  const auto& certs = certificates().main;
  RpcServer server(RpcConfig(certs.server_cert + ".missing", "127.0.0.1:0")
                       .with_key_path(certs.server_key));
  auto ran = server.run();
  ASSERT_FALSE(ran);
  EXPECT_EQ(ran.error().kind(), ErrorKind::kConfig);
  EXPECT_EQ(server.socket_addr(), std::nullopt);
  Runtime runtime(1);
  auto served = run_bounded(runtime, server.serve());
  ASSERT_FALSE(served);
  EXPECT_EQ(served.error().kind(), ErrorKind::kConfig);
}

}  // namespace
}  // namespace rpcnet::testing
