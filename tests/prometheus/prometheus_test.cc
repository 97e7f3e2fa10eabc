// The real thing: Debian's Prometheus scrapes an rpcnet server under load; its HTTP API must then
// report a healthy target and exactly the calls the client made.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "integration/harness.h"
#include "rpcnet/metrics.h"
#include "runtime/child_process.h"
#include "support/http_client.h"

namespace rpcnet::testing {
namespace {

using Json = nlohmann::json;

// A TCP port nothing listens on right now (Prometheus needs a number, not port 0).
std::uint16_t free_tcp_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor probe(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return probe.local_endpoint().port();
}

// "GET path" on Prometheus's API; nullopt until it answers 200 with JSON.
std::optional<Json> api(std::uint16_t port, const std::string& path) {
  const auto exchange = http_get(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), path,
                                 std::chrono::seconds(5));
  if (exchange.status() != 200) return std::nullopt;
  Json parsed = Json::parse(exchange.body(), nullptr, false);
  if (parsed.is_discarded()) return std::nullopt;
  return parsed;
}

// The value of an instant query returning one series, or nullopt.
std::optional<double> query_one(std::uint16_t port, const std::string& encoded_query) {
  auto answer = api(port, "/api/v1/query?query=" + encoded_query);
  if (!answer || (*answer)["status"] != "success") return std::nullopt;
  const Json& result = (*answer)["data"]["result"];
  if (!result.is_array() || result.size() != 1) return std::nullopt;
  return std::stod(result[0]["value"][1].get<std::string>());
}

TEST(Prometheus, ScrapesAServerUnderLoadAndCountsEveryCall) {
  if (std::system("command -v prometheus >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "prometheus (Debian package prometheus, installed by scripts/install-deps.sh) is missing";
  }
  auto registry = std::make_shared<MetricsRegistry>();
  LoopbackServer server(server_config().with_metrics_address("127.0.0.1:0").with_metrics_registry(registry));
  server.server().register_method("echo", [](Bytes request) -> asio::awaitable<Result<Bytes>> { co_return request; });
  server.start();
  const SocketAddress metrics = *server.server().metrics_address();

  TempDir dir;
  std::ofstream(dir.path() / "prometheus.yml") << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                                                  "scrape_configs:\n  - job_name: rpcnet\n    static_configs:\n"
                                                  "      - targets: ['"
                                               << to_string(metrics) << "']\n";
  const std::uint16_t web_port = free_tcp_port();
  runtime::Process prometheus({"prometheus", "--config.file=" + (dir.path() / "prometheus.yml").string(),
                               "--storage.tsdb.path=" + (dir.path() / "data").string(),
                               "--web.listen-address=127.0.0.1:" + std::to_string(web_port), "--log.level=warn"});
  ASSERT_TRUE(prometheus.started());

  // Load while Prometheus starts and scrapes: several clients, many calls, all must succeed.
  constexpr int kClients = 4;
  constexpr int kCallsPerClient = 50;
  const int succeeded = run_bounded(server.runtime(), [&]() -> asio::awaitable<int> {
    int ok = 0;
    for (int c = 0; c < kClients; ++c) {
      auto client = co_await server.connect();
      const Bytes payload(1, 7);
      for (int i = 0; i < kCallsPerClient; ++i) {
        auto reply = co_await client.call("echo", payload);
        ok += reply.ok() ? 1 : 0;
      }
    }
    co_return ok;
  }());
  ASSERT_EQ(succeeded, kClients * kCallsPerClient);

  // Prometheus needs a few seconds to start and scrape after the last call: poll its API, bounded.
  std::optional<double> calls;
  std::optional<double> up;
  std::string target_health;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (std::chrono::steady_clock::now() < deadline) {
    calls = query_one(web_port, "rpcnet_server_streams_started_total%7Bjob%3D%22rpcnet%22%7D");
    up = query_one(web_port, "up%7Bjob%3D%22rpcnet%22%7D");
    if (auto targets = api(web_port, "/api/v1/targets"); targets && (*targets)["data"]["activeTargets"].size() == 1) {
      target_health = (*targets)["data"]["activeTargets"][0]["health"].get<std::string>();
    }
    if (calls == kClients * kCallsPerClient && up == 1 && target_health == "up") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));  // polling an external process
  }
  EXPECT_EQ(target_health, "up");
  EXPECT_EQ(up, 1);
  EXPECT_EQ(calls, kClients * kCallsPerClient);
  EXPECT_TRUE(prometheus.terminate(SIGTERM, std::chrono::seconds(10)));
}

}  // namespace
}  // namespace rpcnet::testing
