// RpcClient::connect's transport choice on loopback (RpcConfig::with_transport): kAuto takes QUIC
// when it connects, and gRPC over HTTP/2 + TLS on TCP when QUIC cannot (no answer within the
// fallback delay, or refused at once); the choice is visible and counted. The same with nftables
// dropping UDP between two network namespaces is in tests/netns.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <optional>

#include "integration/harness.h"
#include "rpcnet/metrics.h"

namespace rpcnet::testing {
namespace {

using namespace std::chrono_literals;

asio::awaitable<Result<Bytes>> echo(Bytes request, CallContext&) { co_return request; }

// A UDP socket that takes datagrams and never answers: a network that drops QUIC.
class UdpBlackHole {
 public:
  explicit UdpBlackHole(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bound_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  }
  ~UdpBlackHole() {
    if (fd_ >= 0) ::close(fd_);
  }
  UdpBlackHole(const UdpBlackHole&) = delete;
  UdpBlackHole& operator=(const UdpBlackHole&) = delete;
  bool bound() const { return bound_; }

 private:
  int fd_ = -1;
  bool bound_ = false;
};

struct LoopOutcome {
  std::optional<Result<Transport>> transport;
  std::optional<Result<Bytes>> reply;
};

asio::awaitable<LoopOutcome> connect_and_call_on_loop(SocketAddress address, RpcConfig config) {
  LoopOutcome outcome;
  auto client = co_await RpcClient::connect(address, std::move(config));
  if (!client) {
    outcome.transport.emplace(client.error());
    co_return outcome;
  }
  outcome.transport.emplace(client->transport());
  const Bytes request{'h', 'i'};
  outcome.reply.emplace(co_await client->call("echo", request));
  co_return outcome;
}

// What connect chose (or its error), and the reply to one call over it.
struct ConnectOutcome {
  Result<Transport> transport;
  Result<Bytes> reply;
};

ConnectOutcome connect_and_call(LoopbackServer& server, SocketAddress address, RpcConfig config) {
  LoopOutcome outcome = run_bounded(server.runtime(), connect_and_call_on_loop(address, std::move(config)));
  Result<Bytes> reply = outcome.reply ? std::move(*outcome.reply) : Result<Bytes>(RpcError::connection("no call"));
  return ConnectOutcome{std::move(*outcome.transport), std::move(reply)};
}

std::uint64_t connections_over(MetricsRegistry& registry, const char* transport) {
  return registry.counter("rpcnet_client_connections_total", "", {{"transport", transport}}).value();
}

TEST(TransportFallback, AutoTakesQuicWhenItConnects) {
  LoopbackServer server(server_config().with_grpc_over_tcp());
  server.server().register_method("echo", echo);
  server.start();
  auto registry = std::make_shared<MetricsRegistry>();
  const ConnectOutcome outcome = connect_and_call(
      server, server.address(), client_config().with_transport(TransportChoice::kAuto).with_metrics_registry(registry));
  ASSERT_TRUE(outcome.transport) << outcome.transport.error();
  EXPECT_EQ(*outcome.transport, Transport::kQuic);
  ASSERT_TRUE(outcome.reply) << outcome.reply.error();
  EXPECT_EQ(connections_over(*registry, "quic"), 1u);
  EXPECT_EQ(connections_over(*registry, "http2"), 0u);
  EXPECT_EQ(server.server().stats().grpc_connections_accepted, 0u);
}

TEST(TransportFallback, AutoFallsBackToHttp2WhenUdpGoesUnanswered) {
  // The gRPC listener on its own TCP port; on that port's UDP twin a socket swallows the QUIC
  // handshake. A client told that address gets no QUIC answer and must use TCP.
  LoopbackServer server(server_config().with_grpc_over_tcp(0));
  server.server().register_method("echo", echo);
  server.start();
  const SocketAddress tcp = *server.server().grpc_address();
  UdpBlackHole black_hole(tcp.port());
  ASSERT_TRUE(black_hole.bound());
  auto registry = std::make_shared<MetricsRegistry>();
  const ConnectOutcome outcome = connect_and_call(
      server, tcp,
      client_config().with_transport(TransportChoice::kAuto).with_fallback_delay(100ms).with_metrics_registry(registry));
  ASSERT_TRUE(outcome.transport) << outcome.transport.error();
  EXPECT_EQ(*outcome.transport, Transport::kHttp2);
  ASSERT_TRUE(outcome.reply) << outcome.reply.error();
  EXPECT_EQ(to_string(*outcome.reply), "hi");
  EXPECT_EQ(connections_over(*registry, "http2"), 1u);
  EXPECT_EQ(connections_over(*registry, "quic"), 0u);
  EXPECT_EQ(server.server().stats().grpc_connections_accepted, 1u);
}

TEST(TransportFallback, AutoFallsBackAtOnceWhenQuicIsRefused) {
  // Nothing on the UDP port: the kernel's ICMP error fails QUIC at once, and TCP starts without
  // waiting for the fallback delay (an hour here, so only that path can pass).
  LoopbackServer server(server_config().with_grpc_over_tcp(0));
  server.server().register_method("echo", echo);
  server.start();
  const ConnectOutcome outcome = connect_and_call(
      server, *server.server().grpc_address(),
      client_config().with_transport(TransportChoice::kAuto).with_fallback_delay(std::chrono::hours(1)));
  ASSERT_TRUE(outcome.transport) << outcome.transport.error();
  EXPECT_EQ(*outcome.transport, Transport::kHttp2);
  ASSERT_TRUE(outcome.reply) << outcome.reply.error();
}

TEST(TransportFallback, QuicOnlyDoesNotFallBack) {
  LoopbackServer server(server_config().with_grpc_over_tcp(0));
  server.server().register_method("echo", echo);
  server.start();
  const ConnectOutcome outcome = connect_and_call(
      server, *server.server().grpc_address(),
      client_config().with_transport(TransportChoice::kQuicOnly).with_connect_timeout(2s));
  ASSERT_FALSE(outcome.transport);
  EXPECT_EQ(outcome.transport.error().kind(), ErrorKind::kConnection);
  EXPECT_EQ(server.server().stats().grpc_connections_accepted, 0u);
}

TEST(TransportFallback, WhenNeitherConnectsTheErrorIsQuics) {
  // A server without the gRPC listener, reached at a port where nothing listens at all.
  // A TCP socket bound but not listening holds a port where TCP connects are refused; nothing
  // is bound to its UDP twin.
  LoopbackServer server;
  server.start();
  const int closed_tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(closed_tcp, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
  socklen_t length = sizeof address;
  ASSERT_EQ(::getsockname(closed_tcp, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const ConnectOutcome outcome = connect_and_call(
      server, SocketAddress(asio::ip::make_address("127.0.0.1"), ntohs(address.sin_port)),
      client_config().with_transport(TransportChoice::kAuto).with_fallback_delay(50ms).with_connect_timeout(2s));
  ::close(closed_tcp);
  ASSERT_FALSE(outcome.transport);
  EXPECT_EQ(outcome.transport.error().kind(), ErrorKind::kConnection);
}

}  // namespace
}  // namespace rpcnet::testing
