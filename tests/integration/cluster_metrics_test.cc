// What a member and a ClusterClient report to their registries, with a real worker on loopback.
#include <gtest/gtest.h>

#include "harness.h"
#include "support/exposition_sample.h"
#include "loopback_member.h"
#include "rpcnet/cluster/cluster_client.h"
#include "rpcnet/cluster/cluster_server.h"
#include "rpcnet/cluster/membership.h"
#include "rpcnet/cluster/worker_registry.h"
#include "rpcnet/metrics.h"

namespace rpcnet::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

TEST(ClusterMetrics, MemberAndClusterClientReportTheirFigures) {
  auto caller_metrics = std::make_shared<MetricsRegistry>();
  auto client_metrics = std::make_shared<MetricsRegistry>();
  auto caller_config = member_config("caller");
  caller_config.metrics_registry = caller_metrics;
  auto caller = cluster::ClusterMembership::start(caller_config, *cluster::KeyRing::from_text(kKey));
  ASSERT_TRUE(caller) << caller.error();

  LoopbackServer worker(server_config().with_metrics_registry(std::make_shared<MetricsRegistry>()));
  worker.server().register_method("work", [](Bytes request) -> asio::awaitable<Result<Bytes>> { co_return request; });
  worker.start();
  auto worker_config = member_config("w1");
  worker_config.metrics_registry = std::make_shared<MetricsRegistry>();
  auto worker_member = cluster::enable_cluster(worker.server(), worker_config, *cluster::KeyRing::from_text(kKey));
  ASSERT_TRUE(worker_member) << worker_member.error();
  ASSERT_TRUE(worker_member->update_tag("role", "worker"));
  ASSERT_TRUE(worker_member->join({caller->advertised_address()}));

  auto registry = std::make_shared<cluster::WorkerRegistry>(*caller);
  auto events = caller->subscribe();
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (registry->workers().size() != 1 && std::chrono::steady_clock::now() < deadline) {
    (void)events->next_blocking(50ms);  // wakes on membership changes
  }
  ASSERT_EQ(registry->workers().size(), 1u);

  Runtime runtime(1);
  cluster::ClusterClientConfig config;
  config.rpc = client_config().with_metrics_registry(client_metrics);
  {
    cluster::ClusterClient client(registry, std::move(config), runtime.executor(0));
    for (int i = 0; i < 3; ++i) {
      auto reply = run_bounded(runtime, client.call_worker("work", Bytes(1, 1), "role=worker"));
      ASSERT_TRUE(reply) << reply.error();
    }
    const std::string text = client_metrics->prometheus_text();
    EXPECT_EQ(sample(text, "rpcnet_cluster_client_attempts_total{worker=\"w1\"}"), 3);
    EXPECT_EQ(sample(text, "rpcnet_cluster_client_attempt_failures_total{worker=\"w1\"}"), 0);
    EXPECT_EQ(sample(text, "rpcnet_cluster_client_in_flight{worker=\"w1\"}"), 0);
    EXPECT_EQ(sample(text, "rpcnet_cluster_client_retries_total"), 0);
    EXPECT_EQ(sample(text, "rpcnet_cluster_client_ejections_total"), 0);
    EXPECT_EQ(sample(text, "rpcnet_cluster_client_budget_exhausted_total{kind=\"retry\"}"), 0);

    const std::string member = caller_metrics->prometheus_text();
    EXPECT_EQ(sample(member, "rpcnet_membership_members{state=\"alive\"}"), 2);
    EXPECT_EQ(sample(member, "rpcnet_membership_members{state=\"dead\"}"), 0);
    EXPECT_GT(sample(member, "rpcnet_membership_packets_in_total"), 0);
    EXPECT_EQ(sample(member, "rpcnet_membership_dropped_total{reason=\"auth\"}"), 0);

    // The worker vanishes without a word: its membership stops first, so the NOT_SERVING its
    // stopping server publishes (cluster_server.h) never reaches the caller, which still
    // selects it. The next call fails on its connection and ejects it.
    worker_member->stop();
    worker.stop();
    auto failed = run_bounded(runtime, client.call_worker("work", Bytes(1, 1), "role=worker"));
    EXPECT_FALSE(failed);
    // The retry policy tries again (the call never reached a handler); every failed attempt
    // ejects the worker again and counts.
    const std::string after = client_metrics->prometheus_text();
    const double failed_attempts = sample(after, "rpcnet_cluster_client_attempts_total{worker=\"w1\"}") - 3;
    EXPECT_GE(failed_attempts, 1);
    EXPECT_EQ(sample(after, "rpcnet_cluster_client_attempt_failures_total{worker=\"w1\"}"), failed_attempts);
    EXPECT_EQ(sample(after, "rpcnet_cluster_client_ejections_total"), failed_attempts);
    // Every attempt after the first is a retry. One more retry may have been decided and found
    // no worker: an ejected worker is still selected when it is the only one, until the caller
    // suspects it, which may happen in between.
    const double retries = sample(after, "rpcnet_cluster_client_retries_total");
    EXPECT_GE(retries, failed_attempts - 1);
    EXPECT_LE(retries, failed_attempts);
  }
  // The cluster client's collector left with it; the per-method series of its pooled
  // connections are the registry's own and stay, as Prometheus expects of counters.
  const std::string after_client = client_metrics->prometheus_text();
  EXPECT_EQ(after_client.find("rpcnet_cluster_client_"), std::string::npos);
  EXPECT_EQ(sample(after_client, "rpcnet_client_calls_finished_total{method=\"work\",code=\"OK\"}"), 3);

  caller->stop();
}

}  // namespace
}  // namespace rpcnet::testing
