// Datagram sizes on a real link: server and client in two network namespaces joined through a
// bridge by veth pairs whose MTUs the test sets. The size comes from the route's MTU and path-MTU
// discovery (RpcConfig::with_max_udp_payload, src/quic/udp_payload.h), never from the address.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "integration/harness.h"
#include "netns/netns_lab.h"

namespace rpcnet::testing {
namespace {

using namespace std::chrono_literals;
using netns::Lab;
using netns::sh;

using netns::made_in;

// Member i's veth: its end inside the member (`v<i>a`) and its end on the hub's bridge (`v<i>b`).
bool set_mtu(const Lab& lab, int member, int inside, int on_bridge) {
  const std::string i = std::to_string(member);
  return sh(Lab::in(lab.name(member), "ip link set v" + i + "a mtu " + std::to_string(inside))) &&
         sh(Lab::in(lab.hub(), "ip link set v" + i + "b mtu " + std::to_string(on_bridge)));
}

struct PathOutcome {
  std::size_t max_udp_payload = 0;  // what the client's connection reached
  int calls_ok = 0;
  std::string first_error;
};

// Serves `echo` in member 0, calls it with 64 KiB messages from member 1 until the client's
// datagram size stops at `expected` (or 200 calls), then a few more calls to show the size holds.
PathOutcome echo_across(const Lab& lab, std::size_t expected) {
  auto server = made_in(lab.name(0), [] {
    auto s = std::make_unique<LoopbackServer>(
        RpcConfig(certificates().main.server_cert, Lab::ip(0) + ":0")
            .with_key_path(certificates().main.server_key)
            .with_event_loops(1));
    s->server().register_method("echo", [](Bytes request) -> asio::awaitable<Result<Bytes>> {
      co_return request;
    });
    s->start();
    return s;
  });
  if (!server) return {0, 0, "the server did not start in the namespace"};
  auto client_runtime = made_in(lab.name(1), [] { return std::make_unique<Runtime>(1); });
  if (!client_runtime) return {0, 0, "no client runtime in the namespace"};
  const SocketAddress address = server->address();
  PathOutcome outcome = run_bounded(*client_runtime, [&]() -> asio::awaitable<PathOutcome> {
    PathOutcome out;
    auto client = co_await RpcClient::connect(
        address, RpcConfig(certificates().main.ca_cert, "0.0.0.0:0").with_server_name("localhost"));
    if (!client) {
      out.first_error = client.error().to_string();
      co_return out;
    }
    const Bytes message(64 * 1024, 0x5a);
    int extra = 0;
    for (int i = 0; i < 200 && extra < 5; ++i) {
      auto reply = co_await client->call("echo", message);
      if (!reply || *reply != message) {
        if (out.first_error.empty()) out.first_error = reply ? "a reply that differs" : reply.error().to_string();
        continue;
      }
      ++out.calls_ok;
      if (client->max_udp_payload() == expected) ++extra;
      // Path-MTU discovery probes between calls too: give its timers a moment on the loop.
      asio::steady_timer pause(co_await asio::this_coro::executor, 5ms);
      co_await pause.async_wait(asio::use_awaitable);
    }
    out.max_udp_payload = client->max_udp_payload();
    co_return out;
  }(), 60s);
  server->stop();
  return outcome;
}

class PathMtuNetns : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string reason = Lab::unavailable_reason();
    if (!reason.empty()) GTEST_SKIP() << reason;
    lab_ = std::make_unique<Lab>(2);
    ASSERT_TRUE(lab_->ok()) << "lab set-up failed; see /tmp/rpcnet-netns-last.log";
  }
  std::unique_ptr<Lab> lab_;
};

TEST_F(PathMtuNetns, OnAnEthernetMtuDatagramsGrowToTheLinkAndNoFurther) {
  ASSERT_TRUE(set_mtu(*lab_, 0, 1500, 1500) && set_mtu(*lab_, 1, 1500, 1500));
  const PathOutcome outcome = echo_across(*lab_, 1472);
  EXPECT_EQ(outcome.first_error, "");
  EXPECT_EQ(outcome.max_udp_payload, 1472u) << "1500 - 20 (IPv4) - 8 (UDP)";
}

TEST_F(PathMtuNetns, OnAJumboMtuDatagramsGrowToTheJumboSize) {
  ASSERT_TRUE(set_mtu(*lab_, 0, 9000, 9000) && set_mtu(*lab_, 1, 9000, 9000));
  const PathOutcome outcome = echo_across(*lab_, 8972);
  EXPECT_EQ(outcome.first_error, "");
  EXPECT_EQ(outcome.max_udp_payload, 8972u);
}

TEST_F(PathMtuNetns, ASmallerMtuOnTheWayCostsProbesNotTheConnection) {
  // Both hosts have 9000-byte interfaces, but the bridge cannot forward frames over 1500 bytes to
  // the client's side: discovery must stop at 1472 and every call must still succeed.
  ASSERT_TRUE(set_mtu(*lab_, 0, 9000, 9000) && set_mtu(*lab_, 1, 9000, 1500));
  // A bridge and a veth pass a GSO packet train whatever their MTU (the kernel checks the size
  // of a train's segments only when it routes); a router would drop its oversized segments.
  // One segment per transmission makes the hosts split trains before the bridge sees them.
  for (int i : {0, 1}) {
    ASSERT_TRUE(sh(Lab::in(lab_->name(i), "ip link set v" + std::to_string(i) + "a gso_max_segs 1")));
  }
  const PathOutcome outcome = echo_across(*lab_, 1472);
  EXPECT_EQ(outcome.first_error, "");
  EXPECT_EQ(outcome.max_udp_payload, 1472u);
  EXPECT_GE(outcome.calls_ok, 5);
}

}  // namespace
}  // namespace rpcnet::testing
