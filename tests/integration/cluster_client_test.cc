// ClusterClient, WorkerRegistry, NodeRegistry and enable_cluster: workers are RpcServers that
// joined a gossip cluster; the caller is a separate member. Gossip always runs over loopback UDP
// in real time; the RPC traffic (worker servers, the client's pool) runs over loopback or, in the
// InMemory instances, on one in-memory network in virtual time.
#include <gtest/gtest.h>

#include <asio/steady_timer.hpp>
#include <atomic>
#include <future>
#include <map>
#include <optional>
#include <memory>
#include <set>

#include "integration/loopback_member.h"
#include "integration/transport_harness.h"
#include "rpcnet/cluster/cluster_client.h"
#include "rpcnet/cluster/cluster_server.h"
#include "rpcnet/cluster/node_registry.h"
#include "rpcnet/trace_context.h"
#include "support/error_matchers.h"

namespace rpcnet::testing {
namespace {

using namespace std::chrono_literals;
using cluster::ClusterClient;
using cluster::ClusterMembership;
using cluster::LoadBalancingStrategy;
using cluster::WorkerRegistry;

constexpr const char* kKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

cluster::KeyRing keys() { return *cluster::KeyRing::from_text(kKey); }

std::string text(const Bytes& bytes) { return std::string(bytes.begin(), bytes.end()); }

// A worker: an RpcServer whose `work` method answers with the worker's id (or runs `handler`),
// plus its cluster membership.
struct Worker {
  // `network`: the in-memory network the server joins; null for loopback.
  Worker(const std::string& name, const SocketAddress& seed, std::map<std::string, std::string> tags,
         UnaryHandler handler, std::shared_ptr<InMemoryNetwork> network)
      : id(name), server(std::move(network), server_config()) {
    if (!handler) {
      handler = [name](Bytes, CallContext&) -> asio::awaitable<Result<Bytes>> {
        co_return Bytes(name.begin(), name.end());
      };
    }
    server.server().register_method("work", std::move(handler));
    server.start();
    auto joined = cluster::enable_cluster(server.server(), member_config(name), keys());
    EXPECT_TRUE(joined) << joined.error();
    membership.emplace(std::move(*joined));
    for (const auto& [k, v] : tags) EXPECT_TRUE(membership->update_tag(k, v));
    EXPECT_TRUE(membership->join({seed}));
  }
  std::string id;
  TransportServer server;
  std::optional<ClusterMembership> membership;  // set once the server is bound
};

class ClusterClientTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    auto started = ClusterMembership::start(member_config("caller"), keys());
    ASSERT_TRUE(started) << started.error();
    caller_.emplace(std::move(*started));
  }

  Worker& add_worker(const std::string& id, std::map<std::string, std::string> tags = {{"role", "worker"}},
                     UnaryHandler handler = {}) {
    workers_.push_back(std::make_unique<Worker>(id, caller_->advertised_address(), std::move(tags),
                                                std::move(handler), network_));
    return *workers_.back();
  }

  // Runs `task` on the client's loop: bounded in real time on loopback, in virtual time in memory.
  template <class T>
  T run(asio::awaitable<T> task) {
    return network_ ? network_->run(std::move(task)) : run_bounded(runtime_, std::move(task));
  }
  asio::any_io_executor client_executor() { return network_ ? network_->executor() : runtime_.executor(0); }
  // The client's clock: virtual in memory, the steady clock on loopback.
  std::chrono::steady_clock::time_point now() const {
    return network_ ? network_->now() : std::chrono::steady_clock::now();
  }
  // Waits `duration` on that clock, from a handler on a worker's loop.
  asio::awaitable<void> sleep(std::chrono::nanoseconds duration) {
    if (network_) {
      co_await network_->sleep(duration);
      co_return;
    }
    asio::steady_timer timer(co_await asio::this_coro::executor, duration);
    (void)co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  }
  // Whether `future` is ready within `limit` (of real time; in memory, while the network runs).
  template <class T>
  bool ready_within(std::future<T>& future, std::chrono::seconds limit) {
    const auto ready = [&] { return future.wait_for(0s) == std::future_status::ready; };
    if (network_) return network_->run_until(ready);
    return future.wait_for(limit) == std::future_status::ready;
  }
  cluster::ClusterClientConfig with_transport(cluster::ClusterClientConfig config) const {
    config.rpc = client_config();
    if (network_) config.rpc.with_network(network_);
    return config;
  }

  // Waits (bounded) until the registry can see exactly `ids` as workers.
  static void wait_for_workers(WorkerRegistry& registry, std::set<std::string> ids) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    std::set<std::string> seen;
    auto events = registry.cluster().subscribe();
    while (std::chrono::steady_clock::now() < deadline) {
      seen.clear();
      for (const auto& w : registry.workers()) seen.insert(w.id);
      if (seen == ids) return;
      (void)events->next_blocking(50ms);  // wakes on membership changes
    }
    FAIL() << "registry saw " << seen.size() << " workers, expected " << ids.size();
  }

  // Waits (bounded) until the registry's view of worker `id` carries `incarnation`.
  static void wait_for_incarnation(WorkerRegistry& registry, const std::string& id, std::uint64_t incarnation) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    auto events = registry.cluster().subscribe();
    while (std::chrono::steady_clock::now() < deadline) {
      for (const auto& w : registry.workers()) {
        if (w.id == id && w.incarnation == incarnation) return;
      }
      (void)events->next_blocking(50ms);  // wakes on membership changes
    }
    FAIL() << "registry never saw " << id << " at incarnation " << incarnation;
  }

  ClusterClient make_client(const std::shared_ptr<WorkerRegistry>& registry, cluster::ClusterClientConfig config = {}) {
    return ClusterClient(registry, with_transport(std::move(config)), client_executor());
  }

  // Worker "w1", a registry that sees it, and a client whose pool holds a connection to it
  // (one call went through).
  struct PooledWorker {
    Worker& worker;
    std::shared_ptr<WorkerRegistry> registry;
    std::unique_ptr<ClusterClient> client;  // not movable: held by pointer
  };
  PooledWorker pooled_to_one_worker() {
    Worker& w = add_worker("w1");
    auto registry = std::make_shared<WorkerRegistry>(*caller_);
    wait_for_workers(*registry, {"w1"});
    auto client = std::make_unique<ClusterClient>(registry, with_transport({}), client_executor());
    auto first = run(client->call_worker("work", {}, "role=worker"));
    EXPECT_TRUE(first) << first.error();
    return PooledWorker{w, std::move(registry), std::move(client)};
  }

  std::optional<ClusterMembership> caller_;  // set in SetUp
  // The workers' servers and the client's pool share it (InMemory); null on loopback.
  std::shared_ptr<InMemoryNetwork> network_ =
      GetParam() == Transport::kInMemory ? std::make_shared<InMemoryNetwork>() : nullptr;
  std::vector<std::unique_ptr<Worker>> workers_;
  Runtime runtime_{1};
};

RPCNET_OVER_BOTH_TRANSPORTS(ClusterClientTest);

TEST_P(ClusterClientTest, EnableClusterPublishesTheRpcAddress) {
  Worker& w = add_worker("w1");
  const auto tags = w.membership->self().tags;
  ASSERT_TRUE(tags.contains("rpc_addr"));
  EXPECT_EQ(tags.at("rpc_addr"), to_string(w.server.address()));
}

TEST_P(ClusterClientTest, NodeRegistryFiltersByTags) {
  add_worker("w1", {{"role", "worker"}, {"gpu", "a100"}});
  add_worker("w2", {{"role", "worker"}});
  auto registry = std::make_shared<WorkerRegistry>(*caller_);
  wait_for_workers(*registry, {"w1", "w2"});
  cluster::NodeRegistry nodes(*caller_);
  auto gpu = nodes.nodes_with_tag("gpu");
  ASSERT_TRUE(gpu);
  ASSERT_EQ(gpu->size(), 1u);
  EXPECT_EQ(gpu->front().id, "w1");
  auto workers = nodes.nodes_with_tag("role=worker");
  ASSERT_TRUE(workers);
  EXPECT_EQ(workers->size(), 2u);
  EXPECT_EQ(nodes.nodes().size(), 3u);  // the caller itself too
  auto bad = nodes.nodes_with_tag("a=b=c");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad, ErrorIs(ErrorKind::kConfig, StatusCode::kInvalidArgument));
}

TEST_P(ClusterClientTest, RoundRobinSpreadsCallsExactlyOverOnePooledConnectionPerWorker) {
  for (const char* id : {"w1", "w2", "w3"}) add_worker(id);
  auto registry = std::make_shared<WorkerRegistry>(*caller_, LoadBalancingStrategy::kRoundRobin);
  wait_for_workers(*registry, {"w1", "w2", "w3"});
  auto client = make_client(registry);
  auto served = run([&]() -> asio::awaitable<std::map<std::string, int>> {
    std::map<std::string, int> counts;
    for (int i = 0; i < 300; ++i) {
      auto reply = co_await client.call_worker("work", {}, "role=worker");
      if (!reply) throw std::runtime_error(reply.error().to_string());
      ++counts[text(*reply)];
    }
    co_return counts;
  }());
  EXPECT_EQ(served, (std::map<std::string, int>{{"w1", 100}, {"w2", 100}, {"w3", 100}}));
  for (const auto& w : workers_) EXPECT_EQ(w->server.server().stats().connections_accepted, 1u) << w->id;
}

// The three streaming forms route like call_worker: to a worker matching the filter, over the
// pooled connection, and the stream is that worker's.
TEST_P(ClusterClientTest, StreamingCallsRunOnTheWorkerTheFilterSelects) {
  for (const char* id : {"cpu", "gpu"}) {
    std::map<std::string, std::string> tags{{"role", "worker"}};
    if (std::string(id) == "gpu") tags["gpu"] = "";
    Worker& w = add_worker(id, tags);
    const std::string name = id;
    // Answers every request message with "<worker>:<message>", then finishes OK.
    w.server.server().register_streaming("tag", [name](ServerStream stream) -> asio::awaitable<Result<void>> {
      for (;;) {
        auto next = co_await stream.read();
        if (!next) co_return next.error();
        if (!*next) co_return ok();
        if (auto written = co_await stream.write(to_bytes(name + ":" + text(**next))); !written) co_return written;
      }
    });
    // Reads every request message, then answers once with "<worker>:<all of them>".
    w.server.server().register_streaming("concat", [name](ServerStream stream) -> asio::awaitable<Result<void>> {
      std::string all;
      for (;;) {
        auto next = co_await stream.read();
        if (!next) co_return next.error();
        if (!*next) break;
        all += text(**next);
      }
      co_return co_await stream.write(to_bytes(name + ":" + all));
    });
  }
  auto registry = std::make_shared<WorkerRegistry>(*caller_);
  wait_for_workers(*registry, {"cpu", "gpu"});
  auto client = make_client(registry);
  // Drains a response stream into "a,b,..." (or the error's text).
  auto drain = [](ResponseStream& stream) -> asio::awaitable<std::string> {
    std::string out;
    for (;;) {
      auto next = co_await stream.next();
      if (!next) co_return out + "!" + next.error().to_string();
      if (!*next) co_return out;
      out += (out.empty() ? "" : ",") + text(**next);
    }
  };
  auto two_requests = [] {
    auto left = std::make_shared<std::vector<std::string>>(std::vector<std::string>{"y", "x"});
    return RequestSource([left]() -> asio::awaitable<std::optional<Bytes>> {
      if (left->empty()) co_return std::nullopt;
      std::string next = left->back();
      left->pop_back();
      co_return to_bytes(next);
    });
  };
  auto outcome = run([&]() -> asio::awaitable<std::vector<std::string>> {
    std::vector<std::string> out;
    // (No co_await inside ?: — GCC 12 miscompiles it.)
    auto server_streaming = co_await client.call_worker_server_streaming("tag", to_bytes("one"), "gpu");
    if (!server_streaming) co_return out;
    std::string drained = co_await drain(*server_streaming);
    out.push_back(drained);
    auto bidi = co_await client.call_worker_streaming("tag", two_requests(), "gpu");
    if (!bidi) co_return out;
    drained = co_await drain(*bidi);
    out.push_back(drained);
    auto client_streaming = co_await client.call_worker_client_streaming("concat", two_requests(), "gpu");
    out.push_back(client_streaming ? text(*client_streaming) : client_streaming.error().to_string());
    auto unmatched = co_await client.call_worker_server_streaming("tag", to_bytes("one"), "role=db");
    out.push_back(unmatched ? std::string("routed") : std::string(status_code_name(unmatched.error().code())));
    co_return out;
  }());
  ASSERT_EQ(outcome.size(), 4u);
  EXPECT_EQ(outcome[0], "gpu:one");
  EXPECT_EQ(outcome[1], "gpu:x,gpu:y");
  EXPECT_EQ(outcome[2], "gpu:xy");
  EXPECT_EQ(outcome[3], "UNAVAILABLE");
  for (const auto& w : workers_) {
    EXPECT_EQ(w->server.server().stats().connections_accepted, w->id == "gpu" ? 1u : 0u) << w->id;
  }
}

TEST_P(ClusterClientTest, FilterSelectsOnlyMatchingWorkersAndNoMatchIsUnavailable) {
  add_worker("cpu", {{"role", "worker"}});
  add_worker("gpu", {{"role", "worker"}, {"gpu", ""}});
  auto registry = std::make_shared<WorkerRegistry>(*caller_);
  wait_for_workers(*registry, {"cpu", "gpu"});
  auto client = make_client(registry);
  auto outcome = run([&]() -> asio::awaitable<std::pair<std::set<std::string>, Result<Bytes>>> {
    std::set<std::string> who;
    for (int i = 0; i < 20; ++i) {
      auto reply = co_await client.call_worker("work", {}, "role=worker,gpu");
      if (reply) who.insert(text(*reply));
    }
    auto none = co_await client.call_worker("work", {}, "role=db");
    co_return std::pair{who, std::move(none)};
  }());
  EXPECT_EQ(outcome.first, std::set<std::string>{"gpu"});
  ASSERT_FALSE(outcome.second);
  EXPECT_THAT(outcome.second, StatusIs(StatusCode::kUnavailable));
}

TEST_P(ClusterClientTest, CallThatNeverReachedAHandlerIsRetriedElsewhereEvenIfNotIdempotent) {
  add_worker("alive");
  // A member that advertises an RPC address nobody listens on: connecting fails.
  auto ghost = ClusterMembership::start(member_config("ghost"), keys());
  ASSERT_TRUE(ghost);
  SocketAddress nowhere;
  if (network_) {
    nowhere = *parse_socket_address("127.0.0.1:1");  // below the ports the network hands out
  } else {
    LoopbackServer closed;  // bind a port, then free it
    closed.start();
    nowhere = closed.address();
  }
  ASSERT_TRUE(ghost->update_tag("rpc_addr", to_string(nowhere)));
  ASSERT_TRUE(ghost->update_tag("role", "worker"));
  ASSERT_TRUE(ghost->join({caller_->advertised_address()}));
  auto registry = std::make_shared<WorkerRegistry>(*caller_, LoadBalancingStrategy::kRoundRobin);
  wait_for_workers(*registry, {"alive", "ghost"});
  auto client = make_client(registry);
  auto replies = run([&]() -> asio::awaitable<std::vector<Result<Bytes>>> {
    std::vector<Result<Bytes>> out;
    for (int i = 0; i < 4; ++i) out.push_back(co_await client.call_worker("work", {}, "role=worker"));
    co_return out;
  }());
  for (const auto& reply : replies) {
    ASSERT_TRUE(reply) << reply.error();
    EXPECT_EQ(text(*reply), "alive");
  }
  std::map<std::string, cluster::WorkerStats> stats;
  for (const auto& s : client.worker_stats()) stats[s.id] = s;
  EXPECT_GE(stats["ghost"].attempts, 1u) << "round robin must have tried the ghost";
  EXPECT_EQ(stats["ghost"].failures, stats["ghost"].attempts);
}

TEST_P(ClusterClientTest, UnavailableIsRetriedOnlyForIdempotentCalls) {
  auto flaky = [](Bytes, CallContext&) -> asio::awaitable<Result<Bytes>> {
    co_return RpcError::status(StatusCode::kUnavailable, "overloaded");
  };
  add_worker("a-flaky", {{"role", "worker"}}, flaky);
  add_worker("b-good");
  auto registry = std::make_shared<WorkerRegistry>(*caller_, LoadBalancingStrategy::kRoundRobin);
  wait_for_workers(*registry, {"a-flaky", "b-good"});
  auto client = make_client(registry);
  auto outcome = run([&]() -> asio::awaitable<std::pair<Result<Bytes>, Result<Bytes>>> {
    cluster::WorkerCallOptions once;
    auto plain = co_await client.call_worker("work", {}, "", once);  // round robin: a-flaky first
    cluster::WorkerCallOptions idempotent;
    idempotent.idempotent = true;
    (void)co_await client.call_worker("work", {}, "", once);  // b-good: the rotation is back at a-flaky
    auto retried = co_await client.call_worker("work", {}, "", idempotent);
    co_return std::pair{std::move(plain), std::move(retried)};
  }());
  ASSERT_FALSE(outcome.first);
  EXPECT_THAT(outcome.first, StatusIs(StatusCode::kUnavailable));
  EXPECT_FALSE(outcome.first.error().not_started());
  ASSERT_TRUE(outcome.second) << outcome.second.error();
  EXPECT_EQ(text(*outcome.second), "b-good");
}

TEST_P(ClusterClientTest, DeadlineSpansAllAttemptsOfAHangingCall) {
  auto hang = [](Bytes, CallContext&) -> asio::awaitable<Result<Bytes>> {
    // Never expires (virtual time ignores it): only the call's cancellation ends the wait.
    asio::steady_timer timer(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
    (void)co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    co_return Bytes{};
  };
  for (const char* id : {"h1", "h2", "h3", "h4"}) add_worker(id, {{"role", "worker"}}, hang);
  auto registry = std::make_shared<WorkerRegistry>(*caller_);
  wait_for_workers(*registry, {"h1", "h2", "h3", "h4"});
  auto client = make_client(registry);
  // Handlers hang until cancelled; run() fails the test if the call outlives its bound.
  const auto called = now();
  auto reply = run([&]() -> asio::awaitable<Result<Bytes>> {
    cluster::WorkerCallOptions options;
    options.idempotent = true;
    options.timeout = 600ms;
    options.attempt_timeout = 150ms;
    co_return co_await client.call_worker("work", {}, "", options);
  }());
  ASSERT_FALSE(reply);
  EXPECT_THAT(reply, ErrorIs(ErrorKind::kCall, StatusCode::kDeadlineExceeded));
  if (network_) {
    // Three attempts of 150 ms each, with retry pauses between them, all within the 600 ms.
    EXPECT_GE(now() - called, 450ms);
    EXPECT_LE(now() - called, 600ms) << "the deadline spans all attempts";
  }
  std::uint64_t attempts = 0;
  std::set<std::string> tried;
  for (const auto& s : client.worker_stats()) {
    attempts += s.attempts;
    if (s.attempts) tried.insert(s.id);
  }
  EXPECT_EQ(attempts, 3u) << "max_attempts (3) bounds the attempts";
  EXPECT_EQ(tried.size(), 3u) << "each retry goes to another worker";
}

TEST_P(ClusterClientTest, HedgedCallTakesTheFasterWorkerAndCancelsTheSlowOne) {
  auto cancelled = std::make_shared<std::promise<bool>>();
  // Slow only for non-empty requests, so the test can open its connection first: a hedge that
  // fires while the first attempt is still connecting cancels a call no handler ever saw.
  auto slow = [cancelled](Bytes request, CallContext& context) -> asio::awaitable<Result<Bytes>> {
    if (request.empty()) co_return Bytes{'a'};
    // Never expires (virtual time ignores it): only the call's cancellation ends the wait.
    asio::steady_timer timer(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
    (void)co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    cancelled->set_value(context.cancelled());
    co_return Bytes{'s'};
  };
  add_worker("a-slow", {{"role", "worker"}, {"speed", "slow"}}, slow);
  add_worker("b-fast", {{"role", "worker"}, {"speed", "fast"}});
  auto registry = std::make_shared<WorkerRegistry>(*caller_, LoadBalancingStrategy::kRoundRobin);
  wait_for_workers(*registry, {"a-slow", "b-fast"});
  cluster::ClusterClientConfig config;
  config.hedge_percentile = 0.95;
  auto client = make_client(registry, config);
  auto reply = run([&]() -> asio::awaitable<Result<Bytes>> {
    for (int i = 0; i < 32; ++i) (void)co_await client.call_worker("work", {}, "speed=fast");  // latency history
    (void)co_await client.call_worker("work", {}, "speed=slow");  // connects to a-slow (answers at once)
    cluster::WorkerCallOptions options;
    options.idempotent = true;
    options.hedge = true;
    options.timeout = 10s;
    Bytes slow_request(1, 'x');
    co_return co_await client.call_worker("work", std::move(slow_request), "role=worker", options);  // a-slow first
  }());
  ASSERT_TRUE(reply) << reply.error();
  EXPECT_EQ(text(*reply), "b-fast");
  // The loser's stream was reset: only that ends the slow handler.
  auto outcome = cancelled->get_future();
  ASSERT_TRUE(ready_within(outcome, 10s)) << "the slow attempt was not cancelled";
  EXPECT_TRUE(outcome.get());
}

TEST_P(ClusterClientTest, HedgesSpendRetryBudgetTokensAndNoneIsSentWhenTheBudgetIsEmpty) {
  // Slow only for non-empty requests (so the test can open the connection first), and slow
  // enough that the hedge delay — a percentile of loopback latencies — passes long before.
  auto slow = [this](Bytes request, CallContext&) -> asio::awaitable<Result<Bytes>> {
    if (request.empty()) co_return Bytes{'a'};
    co_await sleep(500ms);
    co_return Bytes{'s', 'l', 'o', 'w'};
  };
  add_worker("a-slow", {{"role", "worker"}, {"speed", "slow"}}, slow);
  add_worker("b-fast", {{"role", "worker"}, {"speed", "fast"}});
  auto registry = std::make_shared<WorkerRegistry>(*caller_, LoadBalancingStrategy::kRoundRobin);
  wait_for_workers(*registry, {"a-slow", "b-fast"});
  cluster::ClusterClientConfig config;
  config.hedge_percentile = 0.95;
  // Tokens come only from calls (0.02 each, no refill over time), so the balance is exact: 101
  // warm-up calls leave 2.02 tokens; the hedged calls add 0.02 each. Hedged call 1 finds 2.04
  // and hedges, 2 finds 1.06 and hedges, 3 finds 0.08 and 4 finds 0.10: no hedge.
  config.retry.budget_ratio = 0.02;
  config.retry.budget_min_per_second = 0;
  auto client = make_client(registry, config);
  auto replies = run([&]() -> asio::awaitable<std::vector<std::string>> {
    for (int i = 0; i < 100; ++i) (void)co_await client.call_worker("work", {}, "speed=fast");  // latency history
    (void)co_await client.call_worker("work", {}, "speed=slow");  // connects to a-slow (answers at once)
    std::vector<std::string> out;
    cluster::WorkerCallOptions options;
    options.idempotent = true;
    options.hedge = true;
    options.timeout = 20s;
    for (int i = 0; i < 4; ++i) {
      // Round robin: a-slow first every time (the hedge, sent or not, selected b-fast last).
      auto reply = co_await client.call_worker("work", Bytes(1, 'x'), "role=worker", options);
      out.push_back(reply ? text(*reply) : reply.error().to_string());
    }
    co_return out;
  }());
  EXPECT_EQ(replies, (std::vector<std::string>{"b-fast", "b-fast", "slow", "slow"}));
  const auto stats = client.stats();
  EXPECT_EQ(stats.hedges, 2u);
  EXPECT_EQ(stats.hedges_suppressed_by_budget, 2u);
  EXPECT_EQ(stats.retries, 0u);
}

TEST_P(ClusterClientTest, ATagChangeRaisesTheIncarnationButKeepsThePooledConnection) {
  auto [w, registry, client] = pooled_to_one_worker();
  const std::uint64_t before = w.membership->self().incarnation;
  ASSERT_TRUE(w.membership->update_tag("zone", "b"));
  const std::uint64_t after = w.membership->self().incarnation;
  ASSERT_GT(after, before);
  ASSERT_EQ(cluster::incarnation_boot_seconds(after), cluster::incarnation_boot_seconds(before));
  wait_for_incarnation(*registry, "w1", after);
  auto second = run(client->call_worker("work", {}, "role=worker"));
  ASSERT_TRUE(second) << second.error();
  EXPECT_EQ(text(*second), "w1");
  EXPECT_EQ(w.server.server().stats().connections_accepted, 1u);
  EXPECT_EQ(client->stats().connections_dropped_for_restart, 0u);
}

// Loopback only: the test rebinds a port the stopped server's socket released. (An in-memory
// server keeps its port until the RpcServer is destroyed, not when its shutdown completes.)
class ClusterClientLoopbackTest : public ClusterClientTest {};

INSTANTIATE_TEST_SUITE_P(, ClusterClientLoopbackTest, ::testing::Values(Transport::kLoopback), transport_name);

TEST_P(ClusterClientLoopbackTest, AWorkerWhoseServerRestartedOnTheSamePortGetsANewConnectionAtTheNextCall) {
  auto [w, registry, client] = pooled_to_one_worker();
  const SocketAddress address = w.server.address();
  w.server.stop();
  const auto& certs = certificates().main;
  LoopbackServer restarted(
      RpcConfig(certs.server_cert, to_string(address)).with_key_path(certs.server_key).with_event_loops(2));
  restarted.server().register_method("work", [](Bytes, CallContext&) -> asio::awaitable<Result<Bytes>> {
    co_return Bytes{'n', 'e', 'w'};
  });
  restarted.start();
  ASSERT_EQ(restarted.address(), address);
  // The stopped server published NOT_SERVING through the membership it shares with the test;
  // a restarted process would publish SERVING again, so the test does.
  ASSERT_TRUE(w.membership->update_tag(std::string(cluster::kRpcHealthTag), "SERVING"));
  wait_for_incarnation(*registry, "w1", w.membership->self().incarnation);
  // Idempotent: the old connection may still look open when the call starts — then the new
  // server's stateless reset closes it and the retry reconnects. Either way one new connection.
  cluster::WorkerCallOptions idempotent;
  idempotent.idempotent = true;
  auto replies = run([&]() -> asio::awaitable<std::vector<std::string>> {
    std::vector<std::string> out;
    auto reply = co_await client->call_worker("work", {}, "role=worker", idempotent);
    out.push_back(reply ? text(*reply) : reply.error().to_string());
    reply = co_await client->call_worker("work", {}, "role=worker");
    out.push_back(reply ? text(*reply) : reply.error().to_string());
    co_return out;
  }());
  EXPECT_EQ(replies, (std::vector<std::string>{"new", "new"}));
  EXPECT_EQ(restarted.server().stats().connections_accepted, 1u);
}

TEST_P(ClusterClientTest, FailedWorkerIsDroppedAndCallsFailOverWithoutErrors) {
  for (const char* id : {"w1", "w2", "w3"}) add_worker(id);
  auto registry = std::make_shared<WorkerRegistry>(*caller_, LoadBalancingStrategy::kRoundRobin);
  wait_for_workers(*registry, {"w1", "w2", "w3"});
  auto client = make_client(registry);
  // w2 vanishes without a word: membership stopped, server stopped.
  workers_[1]->membership->stop();
  workers_[1]->server.stop();
  wait_for_workers(*registry, {"w1", "w3"});
  auto served = run([&]() -> asio::awaitable<std::set<std::string>> {
    std::set<std::string> who;
    cluster::WorkerCallOptions options;
    options.idempotent = true;
    for (int i = 0; i < 50; ++i) {
      auto reply = co_await client.call_worker("work", {}, "", options);
      if (!reply) throw std::runtime_error(reply.error().to_string());
      who.insert(text(*reply));
    }
    co_return who;
  }());
  EXPECT_EQ(served, (std::set<std::string>{"w1", "w3"}));
}


// A director is an RpcServer whose handler calls workers through a ClusterClient: the caller's
// traceparent reaches the worker with the same trace id and a new parent id (the director's
// outgoing span), for unary and streaming calls alike. Loopback only: the director's handlers
// run on its own loops and await the ClusterClient there, and nothing would drive an in-memory
// network's virtual time meanwhile.
TEST_P(ClusterClientLoopbackTest, TraceIdSurvivesDirectorToWorker) {
  Worker& worker = add_worker("w1", {{"role", "worker"}}, [](Bytes, CallContext& context) -> asio::awaitable<Result<Bytes>> {
    auto trace = context.trace_context();
    co_return to_bytes(trace ? format_traceparent(*trace) : std::string("none"));
  });
  worker.server.server().register_streaming("work_stream", [](ServerStream stream) -> asio::awaitable<Result<void>> {
    auto trace = stream.context().trace_context();
    const std::string seen = trace ? format_traceparent(*trace) : "none";  // not in co_await (GCC 12)
    (void)co_await stream.read();
    co_return co_await stream.write(to_bytes(seen));
  });
  auto registry = std::make_shared<WorkerRegistry>(*caller_);
  wait_for_workers(*registry, {"w1"});
  auto client = make_client(registry);

  LoopbackServer director;
  director.server().register_method("direct", [&client](Bytes data, CallContext& context) -> asio::awaitable<Result<Bytes>> {
    cluster::WorkerCallOptions options;
    options.trace_parent = context.trace_context();
    co_return co_await client.call_worker("work", std::move(data), "role=worker", options);
  });
  director.server().register_method("direct_stream", [&client](Bytes data, CallContext& context) -> asio::awaitable<Result<Bytes>> {
    cluster::WorkerCallOptions options;
    options.trace_parent = context.trace_context();
    auto stream = co_await client.call_worker_server_streaming("work_stream", std::move(data), "role=worker", options);
    if (!stream) co_return stream.error();
    auto first = co_await stream->next();
    if (!first) co_return first.error();
    if (!*first) co_return RpcError::status(StatusCode::kInternal, "no message");
    co_return std::move(**first);
  });
  director.start();

  const std::string incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  auto seen = run_bounded(director.runtime(), [&]() -> asio::awaitable<std::vector<std::string>> {
    auto caller = co_await director.connect();
    std::vector<std::string> out;
    const std::vector<std::string> methods{"direct", "direct_stream", "direct"};
    const Bytes empty;
    for (std::size_t i = 0; i < methods.size(); ++i) {
      CallOptions options;
      if (i < 2) options.metadata.emplace_back("traceparent", incoming);  // the last call has no trace
      auto reply = co_await caller.call(methods[i], empty, options);
      out.push_back(reply ? text(*reply) : reply.error().to_string());
    }
    co_return out;
  }());
  ASSERT_EQ(seen.size(), 3u);
  const TraceContext original = *parse_traceparent(incoming);
  std::set<std::string> parent_ids;
  for (std::size_t i = 0; i < 2; ++i) {
    auto at_worker = parse_traceparent(seen[i]);
    ASSERT_TRUE(at_worker) << seen[i];
    EXPECT_EQ(at_worker->trace_id_hex(), original.trace_id_hex());
    EXPECT_EQ(at_worker->flags, original.flags);
    EXPECT_NE(at_worker->parent_id_hex(), original.parent_id_hex());
    parent_ids.insert(at_worker->parent_id_hex());
  }
  EXPECT_EQ(parent_ids.size(), 2u);  // every outgoing call is a span of its own
  EXPECT_EQ(seen[2], "none");
}

}  // namespace
}  // namespace rpcnet::testing
