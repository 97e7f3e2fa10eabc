// The client's transport race (RpcConfig::with_transport(kAuto)) on a real link: a server serving
// QUIC and gRPC over TCP on the same port number (with_grpc_over_tcp) in one network namespace,
// a client in another, and nftables in the server's namespace blocking UDP, TCP or both. Where
// UDP is blocked the client must end up on HTTP/2; where nothing is, on QUIC; where everything
// is, connect must fail with kConnection.
#include <gtest/gtest.h>

#include <asio/experimental/awaitable_operators.hpp>
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "integration/harness.h"
#include "netns/netns_lab.h"
#include "rpcnet/log.h"

namespace rpcnet::testing {
namespace {

using namespace std::chrono_literals;
using netns::Lab;
using netns::made_in;

struct ConnectOutcome {
  std::optional<Transport> transport;  // set when connect succeeded
  std::optional<RpcError> error;       // set when it failed
  std::string reply;                   // the echo of a call made once connected, or its error
  std::chrono::milliseconds took{0};   // connect's duration, for the log only
  bool gave_up = false;                // connect_within's limit passed first
};

asio::awaitable<ConnectOutcome> connect_and_call(SocketAddress server, RpcConfig config) {
  ConnectOutcome out;
  const auto start = std::chrono::steady_clock::now();
  auto client = co_await RpcClient::connect(server, std::move(config));
  out.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  if (!client) {
    out.error = client.error();
    co_return out;
  }
  out.transport = client->transport();
  auto reply = co_await client->call("echo", to_bytes("ping"));
  out.reply = reply ? to_string(*reply) : "error: " + reply.error().to_string();
  co_return out;
}

// connect_and_call, abandoned (gave_up) if it has not finished within `limit`.
asio::awaitable<ConnectOutcome> connect_within(SocketAddress server, RpcConfig config,
                                               std::chrono::milliseconds limit) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor, limit);
  // Both named before the co_await (GCC 12).
  auto connecting = connect_and_call(server, std::move(config));
  auto expiring = timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  auto raced = co_await (std::move(connecting) || std::move(expiring));
  if (raced.index() == 1) {
    ConnectOutcome out;
    out.gave_up = true;
    co_return out;
  }
  co_return std::move(std::get<0>(raced));
}

std::string describe(const ConnectOutcome& outcome) {
  std::string text = "connect took " + std::to_string(outcome.took.count()) + " ms";
  if (outcome.transport) text += " over " + std::string(to_string(*outcome.transport));
  if (outcome.error) text += ", failed: " + outcome.error->to_string();
  if (!outcome.reply.empty()) text += ", call: " + outcome.reply;
  return text;
}

// Client QUIC connections that ended before their handshake completed, from the log record
// quic::Connection writes then (component quic, level info): how a test sees a losing QUIC
// attempt, which runs on the client's loop after connect() returned, come to its end. Replaces
// the process's log sink while it exists.
class FailedQuicHandshakes {
 public:
  FailedQuicHandshakes() {
    set_log_sink(LogLevel::kInfo, [this](const LogRecord& record) {
      if (record.component != LogComponent::kQuic ||
          record.message != "connection failed before its handshake completed") {
        return;
      }
      const std::string* side = record.field("side");
      const std::string* peer = record.field("peer");
      const std::string* reason = record.field("reason");
      if (side == nullptr || *side != "client" || peer == nullptr) return;
      std::lock_guard lock(mutex_);
      ended_.push_back({*peer, reason != nullptr ? *reason : ""});
      changed_.notify_all();
    });
  }
  ~FailedQuicHandshakes() { restore_default_log_sink(); }
  FailedQuicHandshakes(const FailedQuicHandshakes&) = delete;
  FailedQuicHandshakes& operator=(const FailedQuicHandshakes&) = delete;

  // The reason the first client attempt to `peer` ended with; nullopt if none ended within
  // `limit`.
  std::optional<std::string> wait_for(const SocketAddress& peer, std::chrono::milliseconds limit) {
    const std::string wanted = to_string(peer);
    std::optional<std::string> reason;
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, limit, [&] {
      for (const auto& [ended_peer, ended_reason] : ended_) {
        if (ended_peer == wanted) reason = ended_reason;
      }
      return reason.has_value();
    });
    return reason;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::pair<std::string, std::string>> ended_;  // peer, reason
};

class TransportFallbackNetns : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string reason = Lab::unavailable_reason();
    if (!reason.empty()) GTEST_SKIP() << reason;
    lab_ = std::make_unique<Lab>(2);
    ASSERT_TRUE(lab_->ok()) << "lab set-up failed; see /tmp/rpcnet-netns-last.log";
    // Until the links carry packets both transports' first packets would wait for the same ARP
    // retry and the race would start from a tie.
    ASSERT_TRUE(lab_->wait_for_path(1, 0) && lab_->wait_for_path(0, 1)) << "the lab's link carries no datagrams";
    server_ = made_in(lab_->name(0), [] {
      auto s = std::make_unique<LoopbackServer>(RpcConfig(certificates().main.server_cert, Lab::ip(0) + ":0")
                                                    .with_key_path(certificates().main.server_key)
                                                    .with_event_loops(1)
                                                    .with_grpc_over_tcp());
      s->server().register_method("echo", [](Bytes request) -> asio::awaitable<Result<Bytes>> { co_return request; });
      s->start();
      return s;
    });
    ASSERT_TRUE(server_) << "the server did not start in the namespace";
    ASSERT_TRUE(server_->server().grpc_address());
    ASSERT_EQ(server_->server().grpc_address()->port(), server_->address().port())
        << "TCP and UDP must share the port number for the client's fallback to find the server";
    client_runtime_ = made_in(lab_->name(1), [] { return std::make_unique<Runtime>(1); });
    ASSERT_TRUE(client_runtime_) << "no client runtime in the namespace";
  }

  void TearDown() override {
    client_runtime_.reset();  // abandons a losing attempt still running, before the server goes
    if (server_) server_->stop();
  }

  std::uint16_t port() const { return server_->address().port(); }

  static RpcConfig lab_client_config() {
    return RpcConfig(certificates().main.ca_cert, "0.0.0.0:0").with_server_name("localhost");
  }

  ConnectOutcome connect(RpcConfig config) {
    return run_bounded(*client_runtime_, connect_and_call(server_->address(), std::move(config)), 60s);
  }

  // Declared in this order so they go in reverse: the client's loop, the server, the namespaces.
  std::unique_ptr<Lab> lab_;
  std::unique_ptr<LoopbackServer> server_;
  std::unique_ptr<Runtime> client_runtime_;
};

TEST_F(TransportFallbackNetns, WithUdpAllowedTheClientUsesQuic) {
  const ConnectOutcome outcome = connect(lab_client_config());
  std::cout << describe(outcome) << "\n";
  ASSERT_FALSE(outcome.error) << describe(outcome);
  EXPECT_EQ(outcome.transport, Transport::kQuic);
  EXPECT_EQ(outcome.reply, "ping");
  EXPECT_EQ(server_->server().stats().connections_accepted, 1u) << "the QUIC connection";
}

TEST_F(TransportFallbackNetns, WithUdpSilentlyDroppedTheClientFallsBackToHttp2) {
  ASSERT_TRUE(lab_->drop_port(0, "udp", port()));
  FailedQuicHandshakes quic_attempts;
  // The default fallback delay (250 ms): HTTP/2 starts once it passed while QUIC still waits for
  // an answer.
  const ConnectOutcome outcome = connect(lab_client_config().with_connect_timeout(2s));
  std::cout << describe(outcome) << " (fallback delay " << lab_client_config().fallback_delay().count() << " ms)\n";
  ASSERT_FALSE(outcome.error) << describe(outcome);
  EXPECT_EQ(outcome.transport, Transport::kHttp2);
  EXPECT_EQ(outcome.reply, "ping");
  const ServerStats stats = server_->server().stats();
  EXPECT_EQ(stats.connections_accepted, 0u) << "no QUIC packet can have reached the server";
  EXPECT_EQ(stats.grpc_connections_accepted, 1u);
  const auto ended = quic_attempts.wait_for(server_->address(), 30s);
  ASSERT_TRUE(ended) << "the abandoned QUIC attempt never ended";
  std::cout << "the abandoned QUIC attempt ended: " << *ended << "\n";
}

// Once HTTP/2 has won, the QUIC attempt is cancelled (as RFC 8305 cancels losing attempts), not
// left sending Initials and holding its socket and TLS session until its own connect timeout; a
// client loop destroyed meanwhile would leak it (the frame awaiting the handshake holds the
// quic::Connection, whose waiter holds that frame). Fails when the race does not cancel it.
TEST_F(TransportFallbackNetns, TheLosingQuicAttemptEndsOnceHttp2HasConnected) {
  ASSERT_TRUE(lab_->drop_port(0, "udp", port()));
  FailedQuicHandshakes quic_attempts;
  // A connect timeout of 2 minutes: an attempt that is left to time out is still running when
  // this test stops waiting for its end.
  const ConnectOutcome outcome = connect(lab_client_config().with_connect_timeout(120s));
  std::cout << describe(outcome) << "\n";
  ASSERT_FALSE(outcome.error) << describe(outcome);
  ASSERT_EQ(outcome.transport, Transport::kHttp2);
  const auto ended = quic_attempts.wait_for(server_->address(), 20s);
  EXPECT_TRUE(ended) << "the QUIC attempt was still running 20 s after HTTP/2 had won";
  if (ended) std::cout << "the QUIC attempt ended: " << *ended << "\n";
}

TEST_F(TransportFallbackNetns, WithUdpRefusedHttp2StartsWithoutWaitingForTheFallbackDelay) {
  // Port unreachable for every datagram: the QUIC handshake fails at its first ICMP report, which
  // starts TCP at once. With a fallback delay and connect timeout of 2 minutes, a client that
  // ignored the report would still be waiting when this test gives up after 30 s.
  ASSERT_TRUE(lab_->reject_port(0, "udp", port()));
  const ConnectOutcome outcome = run_bounded(
      *client_runtime_,
      connect_within(server_->address(), lab_client_config().with_fallback_delay(120s).with_connect_timeout(120s), 30s),
      60s);
  std::cout << describe(outcome) << "\n";
  ASSERT_FALSE(outcome.gave_up) << "QUIC's refusal did not start the TCP attempt";
  ASSERT_FALSE(outcome.error) << describe(outcome);
  EXPECT_EQ(outcome.transport, Transport::kHttp2);
  EXPECT_EQ(outcome.reply, "ping");
  EXPECT_EQ(server_->server().stats().grpc_connections_accepted, 1u);
}

TEST_F(TransportFallbackNetns, WithUdpAndTcpDroppedConnectFailsWithAConnectionError) {
  ASSERT_TRUE(lab_->drop_port(0, "udp", port()));
  ASSERT_TRUE(lab_->drop_port(0, "tcp", port()));
  const ConnectOutcome outcome = connect(lab_client_config().with_connect_timeout(1s));
  std::cout << describe(outcome) << " (connect timeout 1000 ms, fallback delay 250 ms)\n";
  ASSERT_TRUE(outcome.error) << describe(outcome);
  EXPECT_EQ(outcome.error->kind(), ErrorKind::kConnection) << describe(outcome);
  EXPECT_FALSE(outcome.transport);
  const ServerStats stats = server_->server().stats();
  EXPECT_EQ(stats.connections_accepted + stats.grpc_connections_accepted, 0u);
}

}  // namespace
}  // namespace rpcnet::testing
