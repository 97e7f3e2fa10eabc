// Unary calls over real QUIC: payloads, errors, limits, concurrency, configuration. UnaryTest runs
// over loopback and over the in-memory network; the rest, about threads, ports and limits, over
// loopback.
#include <gtest/gtest.h>

#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <cstring>
#include <thread>

#include "runtime/event.h"
#include "transport_harness.h"
#include "support/error_matchers.h"

namespace rpcnet::testing {
namespace {

using namespace std::chrono_literals;

Bytes encode_pair(std::int32_t a, std::int32_t b) {
  Bytes out(8);
  std::memcpy(out.data(), &a, 4);
  std::memcpy(out.data() + 4, &b, 4);
  return out;
}

std::int32_t decode_int(const Bytes& bytes) {
  std::int32_t value = 0;
  std::memcpy(&value, bytes.data(), std::min<std::size_t>(bytes.size(), 4));
  return value;
}

asio::awaitable<Result<Bytes>> echo(Bytes request) { co_return request; }

class UnaryTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    server_.server().register_method("echo", echo);
    server_.server().register_method("add", [](Bytes request) -> asio::awaitable<Result<Bytes>> {
      if (request.size() != 8) {
        co_return RpcError::serialization("add expects two 32-bit integers");
      }
      std::int32_t a = 0;
      std::int32_t b = 0;
      std::memcpy(&a, request.data(), 4);
      std::memcpy(&b, request.data() + 4, 4);
      const std::int32_t sum = a + b;
      Bytes out(4);
      std::memcpy(out.data(), &sum, 4);
      co_return out;
    });
    server_.start();
  }

  TransportServer server_{GetParam()};
};

RPCNET_OVER_BOTH_TRANSPORTS(UnaryTest);

TEST_P(UnaryTest, AddReturnsTheSumAsInTheGuide) {
  auto result = server_.run([&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server_.connect();
    co_return co_await client.call("add", encode_pair(21, 21));
  }());
  ASSERT_TRUE(result) << result.error();
  EXPECT_EQ(decode_int(*result), 42);
}

TEST_P(UnaryTest, TheHandlerSeesTheClientsAddressAsItsPeer) {
  server_.server().register_method("whoami", [](Bytes, CallContext& context) -> asio::awaitable<Result<Bytes>> {
    co_return to_bytes(to_string(context.peer_address()));
  });
  auto result = server_.run([&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server_.connect();
    co_return co_await client.call("whoami", {});
  }());
  ASSERT_TRUE(result) << result.error();
  auto peer = parse_socket_address(to_string(*result));
  ASSERT_TRUE(peer) << to_string(*result);
  // The client's socket: the server's loopback IP, a port of its own.
  EXPECT_EQ(peer->address(), server_.address().address());
  EXPECT_NE(peer->port(), 0);
  EXPECT_NE(peer->port(), server_.address().port());
}

TEST_P(UnaryTest, EmptyRequestAndEmptyResponseAreLegal) {
  auto result = server_.run([&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server_.connect();
    co_return co_await client.call("echo", Bytes{});
  }());
  ASSERT_TRUE(result) << result.error();
  EXPECT_TRUE(result->empty());
}

TEST_P(UnaryTest, SerializationErrorFromHandlerArrivesAsInvalidArgument) {
  auto result = server_.run([&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server_.connect();
    co_return co_await client.call("add", to_bytes("not two ints"));
  }());
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result, ErrorIs(ErrorKind::kStatus, StatusCode::kInvalidArgument));
  EXPECT_TRUE(result.error().is_remote());
  EXPECT_EQ(result.error().message(), "add expects two 32-bit integers");
}

TEST_P(UnaryTest, UnknownMethodIsNotFoundAndTheConnectionKeepsWorking) {
  auto results = server_.run(
                             [&]() -> asio::awaitable<std::pair<Result<Bytes>, Result<Bytes>>> {
                               auto client = co_await server_.connect();
                               auto missing = co_await client.call("no.such/Method", Bytes(1, 1));
                               auto after = co_await client.call("echo", to_bytes("still here"));
                               co_return std::pair{std::move(missing), std::move(after)};
                             }());
  ASSERT_FALSE(results.first.ok());
  EXPECT_THAT(results.first, StatusIs(StatusCode::kNotFound));
  EXPECT_EQ(results.first.error().message(), "unknown method \"no.such/Method\"");
  ASSERT_TRUE(results.second) << results.second.error();
  EXPECT_EQ(to_string(*results.second), "still here");
}

TEST_P(UnaryTest, HandlerStatusCarriesCodeMessageAndDetails) {
  server_.server().register_method("deny", [](Bytes) -> asio::awaitable<Result<Bytes>> {
    co_return RpcError::status(StatusCode::kPermissionDenied, "not yours", to_bytes("detail-blob"));
  });
  auto result = server_.run([&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server_.connect();
    co_return co_await client.call("deny", {});
  }());
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result, StatusIs(StatusCode::kPermissionDenied));
  EXPECT_EQ(result.error().message(), "not yours");
  EXPECT_EQ(to_string(result.error().details()), "detail-blob");
}

TEST_P(UnaryTest, HandlerThatThrowsIsInternalWithTheExceptionMessage) {
  server_.server().register_method("boom", [](Bytes) -> asio::awaitable<Result<Bytes>> {
    throw std::runtime_error("kaboom");
    co_return Bytes{};
  });
  auto results = server_.run(
                             [&]() -> asio::awaitable<std::pair<Result<Bytes>, Result<Bytes>>> {
                               auto client = co_await server_.connect();
                               auto boom = co_await client.call("boom", {});
                               auto after = co_await client.call("echo", to_bytes("ok"));
                               co_return std::pair{std::move(boom), std::move(after)};
                             }());
  ASSERT_FALSE(results.first.ok());
  EXPECT_THAT(results.first, StatusIs(StatusCode::kInternal));
  EXPECT_FALSE(results.first.error().not_started()) << "the handler ran";
  EXPECT_EQ(results.first.error().message(), "handler threw: kaboom");
  EXPECT_TRUE(results.second) << results.second.error();
}

TEST_P(UnaryTest, RegisteringAgainWhileServingReplacesTheHandler) {
  auto results = server_.run(
                             [&]() -> asio::awaitable<std::pair<Result<Bytes>, Result<Bytes>>> {
                               auto client = co_await server_.connect();
                               auto before = co_await client.call("echo", to_bytes("x"));
                               server_.server().register_method(
                                   "echo", [](Bytes) -> asio::awaitable<Result<Bytes>> {
                                     co_return to_bytes("replaced");
                                   });
                               auto after = co_await client.call("echo", to_bytes("x"));
                               co_return std::pair{std::move(before), std::move(after)};
                             }());
  ASSERT_TRUE(results.first && results.second);
  EXPECT_EQ(to_string(*results.first), "x");
  EXPECT_EQ(to_string(*results.second), "replaced");
}

TEST_P(UnaryTest, TenThousandConcurrentCallsShareOneConnection) {
  constexpr int kCalls = 10'000;
  struct Outcome {
    int ok = 0;
    int wrong = 0;
    std::uint64_t ids_used = 0;
    std::uint64_t connections = 0;
    std::string first_error;
  };
  auto outcome = server_.run([&]() -> asio::awaitable<Outcome> {
    auto client = co_await server_.connect();
    const std::uint64_t first_id = client.next_request_id();
    auto executor = co_await asio::this_coro::executor;
    Outcome out;
    int finished = 0;
    Completion all_done(executor);
    for (int i = 0; i < kCalls; ++i) {
      auto one = [&, i]() -> asio::awaitable<void> {
        const std::string text = "call-" + std::to_string(i);
        auto reply = co_await client.call("echo", to_bytes(text));
        if (reply && to_string(*reply) == text) {
          ++out.ok;
        } else {
          if (out.wrong++ == 0) out.first_error = reply ? "wrong reply" : reply.error().to_string();
        }
        if (++finished == kCalls) all_done.done();
      };
      asio::co_spawn(executor, std::move(one), asio::detached);
    }
    co_await all_done.wait();
    out.ids_used = client.next_request_id() - first_id;
    const ServerStats stats = server_.server().stats();
    out.connections = over_http2() ? stats.grpc_connections_accepted : stats.connections_accepted;
    co_return out;
  }(), std::chrono::seconds(120));
  EXPECT_EQ(outcome.ok, kCalls);
  EXPECT_EQ(outcome.wrong, 0) << "the first failure: " << outcome.first_error;
  EXPECT_EQ(outcome.ids_used, static_cast<std::uint64_t>(kCalls));
  EXPECT_EQ(outcome.connections, 1u);
}

TEST_P(UnaryTest, EightMebibytePayloadRoundTripsIntact) {
  Bytes big(8u << 20);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 131 + 7);
  auto result = server_.run([&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server_.connect();
    co_return co_await client.call("echo", big);
  }());
  ASSERT_TRUE(result) << result.error();
  EXPECT_TRUE(*result == big);
}

TEST_P(UnaryTest, RequestOverTheClientLimitFailsLocallyWithResourceExhausted) {
  auto result = server_.run([&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server_.connect(client_config().with_max_message_size(1024));
    co_return co_await client.call("echo", Bytes(1025));
  }());
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result, StatusIs(StatusCode::kResourceExhausted));
  EXPECT_FALSE(result.error().is_remote());
}

TEST_P(UnaryTest, CallsFromAnotherThreadHopToTheConnectionLoop) {
  if (GetParam() == Transport::kInMemory) {
    GTEST_SKIP() << "threads: virtual time does not wait for another thread's loop";
  }
  Runtime other(1);
  auto result = server_.run([&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server_.connect();
    // Call from a coroutine on a different loop; the client hops to its own loop and back.
    auto elsewhere = [client]() -> asio::awaitable<Result<Bytes>> {
      co_return co_await client.call("echo", to_bytes("hop"));
    };
    co_return co_await asio::co_spawn(other.executor(0), std::move(elsewhere), asio::use_awaitable);
  }());
  ASSERT_TRUE(result) << result.error();
  EXPECT_EQ(to_string(*result), "hop");
}

// ---- limits with a server that accepts less than the client sends ----------------------------

TEST(UnaryLimitsTest, OversizedRequestIsResourceExhaustedForThatCallOnly) {
  LoopbackServer server(server_config().with_max_message_size(64 * 1024));
  server.server().register_method("echo", echo);
  server.start();
  auto results = run_bounded(server.runtime(),
                             [&]() -> asio::awaitable<std::pair<Result<Bytes>, Result<Bytes>>> {
                               auto client = co_await server.connect();
                               auto big = co_await client.call("echo", Bytes(64 * 1024 + 1));
                               auto small = co_await client.call("echo", Bytes(64 * 1024));
                               co_return std::pair{std::move(big), std::move(small)};
                             }());
  ASSERT_FALSE(results.first.ok());
  EXPECT_THAT(results.first, StatusIs(StatusCode::kResourceExhausted));
  EXPECT_TRUE(results.first.error().is_remote());
  ASSERT_TRUE(results.second) << results.second.error();
  EXPECT_EQ(results.second->size(), 64u * 1024);
}

TEST(UnaryLimitsTest, RequestLargerThanTheFlowControlWindowStillGetsResourceExhausted) {
  // 4 MiB is far over the 1 MiB stream window: the server answers before the client could send
  // it all, and the client must still report the server's status, not its own failed write.
  LoopbackServer server(server_config().with_max_message_size(1u << 20));
  server.server().register_method("echo", echo);
  server.start();
  auto result = run_bounded(server.runtime(), [&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server.connect();
    co_return co_await client.call("echo", Bytes(4u << 20));
  }());
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result, StatusIs(StatusCode::kResourceExhausted));
  EXPECT_TRUE(result.error().is_remote());
}

TEST(UnaryLimitsTest, OversizedResponseIsResourceExhausted) {
  LoopbackServer server(server_config().with_max_message_size(1024));
  server.server().register_method("big", [](Bytes) -> asio::awaitable<Result<Bytes>> {
    co_return Bytes(2048);
  });
  server.start();
  auto result = run_bounded(server.runtime(), [&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server.connect();
    co_return co_await client.call("big", {});
  }());
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result, StatusIs(StatusCode::kResourceExhausted));
}

// ---- worker pool and concurrency -----------------------------------------------------------------

TEST(UnaryConcurrencyTest, BlockingHandlersRunOnTheWorkerPool) {
  LoopbackServer server;
  std::atomic<std::size_t> loop_thread_hash{0};
  server.server().register_method("loop_thread", [&](Bytes) -> asio::awaitable<Result<Bytes>> {
    loop_thread_hash = std::hash<std::thread::id>()(std::this_thread::get_id());
    co_return Bytes{};
  });
  server.server().register_blocking("blocking", [&](Bytes request, const CallContext& context) {
    const auto here = std::hash<std::thread::id>()(std::this_thread::get_id());
    return Result<Bytes>(to_bytes(here == loop_thread_hash.load() ? "on-loop" : "on-worker:" +
                                                                          context.method() + ":" +
                                                                          to_string(request)));
  });
  server.start();
  auto result = run_bounded(server.runtime(), [&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server.connect(client_config());
    // Same connection, so same server loop as the blocking call's coroutine.
    (void)co_await client.call("loop_thread", {});
    co_return co_await client.call("blocking", to_bytes("x"));
  }());
  ASSERT_TRUE(result) << result.error();
  EXPECT_EQ(to_string(*result), "on-worker:blocking:x");
}

TEST(UnaryConcurrencyTest, ASlowAsyncHandlerDoesNotBlockOtherCalls) {
  LoopbackServer server(server_config().with_event_loops(1));
  auto release = std::make_shared<runtime::Event>();
  auto parked = std::make_shared<std::atomic<bool>>(false);
  server.server().register_method("slow", [release, parked](Bytes, CallContext&) -> asio::awaitable<Result<Bytes>> {
    parked->store(true);
    co_await release->wait();
    co_return to_bytes("slow done");
  });
  server.server().register_method("fast", [release](Bytes) -> asio::awaitable<Result<Bytes>> {
    // The slow call is still parked; finishing this one first proves calls run independently.
    release->set();
    co_return to_bytes("fast done");
  });
  server.start();
  bool parked_before_fast = false;
  auto order = run_bounded(server.runtime(), [&]() -> asio::awaitable<std::string> {
    auto client = co_await server.connect();
    auto executor = co_await asio::this_coro::executor;
    std::string log;
    Completion slow_done(executor);
    auto slow = [&]() -> asio::awaitable<void> {
      auto r = co_await client.call("slow", {});
      log += r ? to_string(*r) + ";" : r.error().to_string();
      slow_done.done();
    };
    asio::co_spawn(executor, std::move(slow), asio::detached);
    // Retry until the slow handler has parked (it sets `release`), without sleeping.
    for (int i = 0; i < 1000 && !parked->load(); ++i) {
      (void)co_await client.call("echo_missing", {});
    }
    parked_before_fast = parked->load();
    auto fast = co_await client.call("fast", {});
    log += fast ? to_string(*fast) + ";" : fast.error().to_string();
    co_await slow_done.wait();
    co_return log;
  }());
  EXPECT_TRUE(parked_before_fast) << "the slow handler never parked: the order proves nothing";
  EXPECT_EQ(order, "fast done;slow done;");
}

// ---- configuration and connection errors ---------------------------------------------------------

TEST(ConfigTest, MissingCertificateFileIsAConfigErrorNamingIt) {
  RpcServer server(RpcConfig("/nonexistent/server.pem", "127.0.0.1:0")
                       .with_key_path(certificates().main.server_key));
  auto bound = server.bind();
  ASSERT_FALSE(bound.ok());
  EXPECT_THAT(bound, ErrorIs(ErrorKind::kConfig, StatusCode::kInvalidArgument));
  EXPECT_NE(bound.error().message().find("/nonexistent/server.pem"), std::string::npos)
      << bound.error().message();
}

TEST(ConfigTest, KeyThatDoesNotMatchTheCertificateIsAConfigError) {
  RpcServer server(RpcConfig(certificates().main.server_cert, "127.0.0.1:0")
                       .with_key_path(certificates().main.client_key));
  auto bound = server.bind();
  ASSERT_FALSE(bound.ok());
  EXPECT_THAT(bound, ErrorIs(ErrorKind::kConfig, StatusCode::kInvalidArgument));
  EXPECT_NE(bound.error().message().find(certificates().main.client_key), std::string::npos);
}

TEST(ConfigTest, GarbageKeyFileIsAConfigError) {
  TempDir dir;
  const auto key = (dir.path() / "bad-key.pem").string();
  {
    std::FILE* f = std::fopen(key.c_str(), "w");
    std::fputs("-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n", f);
    std::fclose(f);
  }
  RpcServer server(RpcConfig(certificates().main.server_cert, "127.0.0.1:0").with_key_path(key));
  auto bound = server.bind();
  ASSERT_FALSE(bound.ok());
  EXPECT_THAT(bound, ErrorIs(ErrorKind::kConfig, StatusCode::kInvalidArgument));
}

TEST(ConfigTest, ServerWithoutKeyIsAConfigError) {
  RpcServer server(RpcConfig(certificates().main.server_cert, "127.0.0.1:0"));
  auto bound = server.bind();
  ASSERT_FALSE(bound.ok());
  EXPECT_THAT(bound, ErrorIs(ErrorKind::kConfig, StatusCode::kInvalidArgument));
  EXPECT_NE(bound.error().message().find("with_key_path"), std::string::npos);
}

TEST(ConfigTest, BadBindAddressIsAConfigErrorNamingIt) {
  RpcServer server(RpcConfig(certificates().main.server_cert, "127.0.0.1:http")
                       .with_key_path(certificates().main.server_key));
  auto bound = server.bind();
  ASSERT_FALSE(bound.ok());
  EXPECT_THAT(bound, ErrorIs(ErrorKind::kConfig, StatusCode::kInvalidArgument));
  EXPECT_NE(bound.error().message().find("127.0.0.1:http"), std::string::npos);
}

TEST(ConfigTest, AMaxUdpPayloadOutsideWhatQuicAndUdpAllowIsAConfigErrorNamingIt) {
  for (std::size_t bytes : {std::size_t{1199}, std::size_t{65528}}) {
    RpcServer server(server_config().with_max_udp_payload(bytes));
    auto bound = server.bind();
    ASSERT_FALSE(bound.ok()) << bytes;
    EXPECT_THAT(bound, ErrorIs(ErrorKind::kConfig, StatusCode::kInvalidArgument));
    EXPECT_NE(bound.error().message().find("max_udp_payload"), std::string::npos) << bound.error();
  }
}

TEST(DatagramSizeTest, LoopbackUsesSixteenKibibyteDatagramsUnlessConfiguredSmaller) {
  if (over_http2()) GTEST_SKIP() << "QUIC datagrams only";
  LoopbackServer server;
  server.server().register_method("echo", [](Bytes request) -> asio::awaitable<Result<Bytes>> {
    co_return request;
  });
  server.start();
  const auto reached = [&](RpcConfig config) {
    return run_bounded(server.runtime(), [&]() -> asio::awaitable<std::size_t> {
      RpcClient client = co_await server.connect(std::move(config));
      auto reply = co_await client.call("echo", Bytes(100'000, 1));
      if (!reply) co_return 0;
      co_return client.max_udp_payload();
    }());
  };
  EXPECT_EQ(reached(client_config()), 16384u) << "loopback: the automatic ceiling at once";
  EXPECT_EQ(reached(client_config().with_max_udp_payload(4096)), 4096u);
}

TEST(ConfigTest, PortZeroBindsAnOsChosenPortReportedBySocketAddr) {
  RpcServer server(server_config());
  EXPECT_FALSE(server.socket_addr().has_value());
  auto bound = server.bind();
  ASSERT_TRUE(bound) << bound.error();
  EXPECT_NE(bound->port(), 0);
  ASSERT_TRUE(server.socket_addr().has_value());
  EXPECT_EQ(*server.socket_addr(), *bound);
}

TEST(ConfigTest, PortInUseIsAnIoError) {
  RpcServer first(server_config().with_event_loops(1));
  auto bound = first.bind();
  ASSERT_TRUE(bound) << bound.error();
  RpcServer second(RpcConfig(certificates().main.server_cert, to_string(*bound))
                       .with_key_path(certificates().main.server_key)
                       .with_event_loops(1));
  auto again = second.bind();
  ASSERT_FALSE(again.ok());
  EXPECT_THAT(again, ErrorIs(ErrorKind::kIo, StatusCode::kUnavailable));
}

TEST(ConfigTest, ClientWithUnreadableTrustFileIsAConfigError) {
  Runtime runtime(1);
  auto result = run_bounded(runtime, []() -> asio::awaitable<Result<RpcClient>> {
    co_return co_await RpcClient::connect(*parse_socket_address("127.0.0.1:9"),
                                          RpcConfig("/nonexistent/ca.pem", "127.0.0.1:0"));
  }());
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result, ErrorIs(ErrorKind::kConfig, StatusCode::kInvalidArgument));
  EXPECT_NE(result.error().message().find("/nonexistent/ca.pem"), std::string::npos);
}

TEST(ConnectTest, NothingListeningIsAConnectionErrorWithinTheConnectTimeout) {
  // Claim a port, then free it, so nothing listens there.
  SocketAddress target;
  {
    RpcServer placeholder(server_config().with_event_loops(1));
    auto bound = placeholder.bind();
    ASSERT_TRUE(bound);
    target = *bound;
  }
  Runtime runtime(1);
  // Bounded well above the connect timeout: a hang fails the test.
  auto result = run_bounded(runtime, [&]() -> asio::awaitable<Result<RpcClient>> {
    co_return co_await RpcClient::connect(target, client_config().with_connect_timeout(3s));
  }(), std::chrono::seconds(20));
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result, ErrorIs(ErrorKind::kConnection, StatusCode::kUnavailable));
}

}  // namespace
}  // namespace rpcnet::testing
