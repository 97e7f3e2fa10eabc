// A cluster worker's graceful shutdown with a drain delay, end to end over loopback (gossip and
// RPC in real time): its health says NOT_SERVING (a Watch hears it), the caller's WorkerRegistry
// deselects it from the rpc_health tag while it still serves, and only after that does it refuse
// new calls — so a caller routing through ClusterClient to two workers sees no failed call.
#include <gtest/gtest.h>

#include <asio/this_coro.hpp>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "health/client.hpp"
#include "integration/harness.h"
#include "integration/loopback_member.h"
#include "rpcnet/cluster/cluster_client.h"
#include "rpcnet/cluster/cluster_server.h"
#include "rpcnet/health_service.h"
#include "support/error_matchers.h"

namespace rpcnet::testing {
namespace {

using namespace std::chrono_literals;
using cluster::ClusterClient;
using cluster::ClusterMembership;
using cluster::WorkerRegistry;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using grpc::health::v1::HealthClient;

constexpr const char* kKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
// Long enough for a few gossip rounds of the Local preset, with a wide margin for sanitizers.
constexpr auto kDrainDelay = 6s;
constexpr auto kEventWait = 20s;  // a bound per awaited membership event, never a sleep
constexpr auto kRecheck = 200ms;  // how long a wait for an event goes before re-reading state

// A worker: an RpcServer (health service on) whose `work` method answers with the worker's id,
// in the cluster through enable_cluster.
struct Worker {
  Worker(const std::string& name, const SocketAddress& seed, std::chrono::milliseconds drain)
      : id(name), loopback(server_config().with_drain_delay(drain)) {
    enable_health_service(loopback.server());
    loopback.server().register_method("work", [name](Bytes) -> asio::awaitable<Result<Bytes>> {
      co_return Bytes(name.begin(), name.end());
    });
    // Held until released: keeps the shutdown's grace period, and so the connections, open
    // (with no call left they close at once, possibly before a watch's last frames arrive).
    loopback.server().register_method("hold", [this](Bytes r) -> asio::awaitable<Result<Bytes>> {
      hold_entered.set();
      co_await hold_release.wait();
      co_return r;
    });
    loopback.start();
    auto joined = cluster::enable_cluster(loopback.server(), member_config(name),
                                          *cluster::KeyRing::from_text(kKey));
    EXPECT_TRUE(joined) << joined.error();
    membership.emplace(std::move(*joined));
    EXPECT_TRUE(membership->join({seed}));
  }
  std::string id;
  runtime::Event hold_entered;
  runtime::Event hold_release;
  LoopbackServer loopback;
  std::optional<ClusterMembership> membership;
};

std::set<std::string> worker_ids(WorkerRegistry& registry) {
  std::set<std::string> ids;
  for (const auto& worker : registry.workers()) ids.insert(worker.id);
  return ids;
}

// A call to `hold`, its outcome left in `result`; parameters live in the coroutine's own frame.
asio::awaitable<void> hold_call(RpcClient client, std::optional<Result<Bytes>>& result,
                                runtime::Event& done) {
  result = co_await client.call("hold", Bytes());
  done.set();
}

std::string text(const Bytes& bytes) { return std::string(bytes.begin(), bytes.end()); }

TEST(ClusterDrainTest, ADrainingWorkerIsDeselectedBeforeItRefusesAndNoRoutedCallFails) {
  Runtime runtime(1);  // the caller's loop; declared first, destroyed last
  auto caller = ClusterMembership::start(member_config("caller"), *cluster::KeyRing::from_text(kKey));
  ASSERT_TRUE(caller) << caller.error();
  auto events = caller->subscribe();  // before anyone joins: no change is missed
  // Round robin: both workers take calls until one is deselected (P2C would favour the faster).
  auto registry = std::make_shared<WorkerRegistry>(*caller, cluster::LoadBalancingStrategy::kRoundRobin);
  registry->start();
  Worker a("a", caller->advertised_address(), kDrainDelay);
  Worker b("b", caller->advertised_address(), 0ms);  // stays; its teardown need not drain
  cluster::ClusterClientConfig client_config_for_workers;
  client_config_for_workers.rpc = client_config();
  ClusterClient client(registry, std::move(client_config_for_workers), runtime.executor(0));

  std::vector<std::string> order;
  std::size_t routed = 0;
  std::size_t failed = 0;
  std::size_t served_by_a_after_deselection = 0;
  run_bounded(runtime, [&]() -> asio::awaitable<void> {
    // Both workers callable: each step waits for the next membership event, or re-reads the
    // registry after kRecheck (it may have applied the last event before this loop looked).
    const auto both_deadline = std::chrono::steady_clock::now() + kEventWait;
    while (worker_ids(*registry) != std::set<std::string>{"a", "b"}) {
      if (std::chrono::steady_clock::now() >= both_deadline) {
        ADD_FAILURE() << "the registry never saw both workers; it has " << worker_ids(*registry).size();
        co_return;
      }
      (void)co_await events->next(kRecheck);
    }
    // A routed call, counted; returns the worker that served it.
    auto route = [&]() -> asio::awaitable<std::string> {
      ++routed;
      auto reply = co_await client.call_worker("work", Bytes{});
      if (!reply) {
        ++failed;
        ADD_FAILURE() << "routed call failed: " << reply.error();
        co_return "";
      }
      co_return text(*reply);
    };
    std::set<std::string> served;
    for (int i = 0; i < 50; ++i) served.insert(co_await route());
    EXPECT_EQ(served, (std::set<std::string>{"a", "b"})) << "both workers take calls before the drain";

    auto direct = co_await RpcClient::connect(a.loopback.address(), client_config());
    if (!direct) {
      ADD_FAILURE() << direct.error();
      co_return;
    }
    runtime::Event held_done;
    std::optional<Result<Bytes>> held;
    asio::co_spawn(co_await asio::this_coro::executor, hold_call(*direct, held, held_done),
                   asio::detached);
    co_await a.hold_entered.wait();
    HealthClient health(*direct);
    HealthCheckRequest overall;
    auto watch = co_await health.Watch(overall);
    if (!watch) {
      ADD_FAILURE() << watch.error();
      co_return;
    }
    auto first = co_await watch->next();
    EXPECT_TRUE(first && *first && (**first).status() == HealthCheckResponse::SERVING);

    const auto shutdown_began = std::chrono::steady_clock::now();
    a.loopback.server().shutdown(10s);
    auto not_serving = co_await watch->next();
    if (not_serving && *not_serving && (**not_serving).status() == HealthCheckResponse::NOT_SERVING) {
      order.push_back("watch: NOT_SERVING");
    }
    // Calls keep flowing while the tag travels; each step waits for a membership event.
    for (int i = 0; i < 1000 && worker_ids(*registry).contains("a"); ++i) {
      (void)co_await route();
      auto event = co_await events->next(kEventWait);
      if (!event) {
        ADD_FAILURE() << "the registry never deselected a: " << event.error();
        co_return;
      }
    }
    order.push_back("registry: a deselected");
    const auto deselected_after = std::chrono::steady_clock::now() - shutdown_began;
    ::testing::Test::RecordProperty(
        "deselected_after_ms",
        static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deselected_after).count()));
    EXPECT_EQ(worker_ids(*registry), (std::set<std::string>{"b"}));
    auto still_served = co_await direct->call("work", Bytes{});
    if (still_served) order.push_back("a: serves a new call");

    for (int i = 0; i < 100; ++i) {
      if (co_await route() == "a") ++served_by_a_after_deselection;
    }
    // The drain ends: the watch ends with OK, and from then on a refuses.
    auto ended = co_await watch->next();
    if (ended && !*ended) order.push_back("watch: ended OK");
    auto refused = co_await direct->call("work", Bytes{});
    if (!refused && refused.error().code() == StatusCode::kUnavailable) order.push_back("a: refuses");
    for (int i = 0; i < 50; ++i) {
      if (co_await route() == "a") ++served_by_a_after_deselection;
    }
    a.hold_release.set();
    co_await held_done.wait();
    EXPECT_TRUE(held && *held) << "the call in flight finishes within the grace period";
  }());
  const std::vector<std::string> expected = {"watch: NOT_SERVING", "registry: a deselected",
                                             "a: serves a new call", "watch: ended OK", "a: refuses"};
  EXPECT_EQ(order, expected);
  EXPECT_EQ(failed, 0u) << "of " << routed << " routed calls";
  EXPECT_GE(routed, 200u);
  EXPECT_EQ(served_by_a_after_deselection, 0u);
  EXPECT_EQ(client.stats().retries, 0u) << "no call needed a retry to succeed";
  a.membership->leave(0ms);
  b.membership->leave(0ms);
}

}  // namespace
}  // namespace rpcnet::testing
