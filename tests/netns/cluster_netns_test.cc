// The cluster example across network namespaces: a director, four workers and a load client,
// each an `rpcnet` process in its own namespace. While idempotent calls flow, one worker is
// killed with SIGKILL, another is partitioned away, and 10 % of the packets the director and
// two workers receive are dropped. Then the partition heals. Asserted: no call failed; no call
// was routed to the killed worker after the director declared it failed, nor to the partitioned
// one while it was declared failed; the partitioned worker receives calls again after healing.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <limits>
#include <string>

#include "netns/netns_lab.h"
#include "rpcnet/certs.h"

namespace rpcnet::netns {
namespace {

using namespace std::chrono_literals;

constexpr const char* kKey = "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f";

std::string field(const std::string& line, const std::string& name) {
  const auto at = line.find(" " + name + "=");
  if (at == std::string::npos) return {};
  const auto start = at + name.size() + 2;
  return line.substr(start, line.find(' ', start) - start);
}

long long number(const std::string& line, const std::string& name) {
  const std::string text = field(line, name);
  return text.empty() ? -1 : std::stoll(text);
}

// The director's latest routing line for `worker` at or before `before_ms` (its own clock).
std::optional<std::string> routing_at(const Process& director, const std::string& worker, long long before_ms) {
  std::optional<std::string> found;
  for (const auto& line : director.lines()) {
    if (line.rfind("routing ", 0) != 0 || field(line, "id") != worker) continue;
    if (number(line, "t_ms") > before_ms) break;
    found = line;
  }
  return found;
}

TEST(ClusterNetns, IdempotentCallsSurviveKillPartitionAndLossThenThePartitionedWorkerReturns) {
  const std::string reason = Lab::unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;

  constexpr int kDirector = 0, kLoad = 5, kKilled = 1, kPartitioned = 2;
  Lab lab(6);
  ASSERT_TRUE(lab.ok()) << "lab set-up failed; see /tmp/rpcnet-netns-last.log";
  const auto dir = std::filesystem::temp_directory_path() / ("rpcnet-cluster-netns-" + std::to_string(::getpid()));
  DevCertificateOptions cert_options;
  cert_options.directory = (dir / "certs").string();
  ASSERT_TRUE(make_dev_certificates(cert_options));
  const std::string certs = cert_options.directory;
  ::setenv("RPCNET_CLUSTER_KEY", kKey, 1);
  const auto in = [&](int i, std::vector<std::string> argv) {
    std::vector<std::string> full = {"ip", "netns", "exec", lab.name(i), RPCNET_CLI_PATH};
    full.insert(full.end(), argv.begin(), argv.end());
    return std::make_unique<Process>(full);
  };
  const auto ready = [](Process& p) {
    return p.wait_line([](const std::string& l) { return l.rfind("ready ", 0) == 0; }, 15s).has_value();
  };
  const std::string seed = Lab::ip(kDirector) + ":7946";

  auto director = in(kDirector, {"director", "--id", "director", "--gossip", seed, "--rpc", Lab::ip(kDirector) + ":9000",
                                 "--certs", certs, "--report-ms", "250"});
  ASSERT_TRUE(ready(*director));
  std::vector<std::unique_ptr<Process>> workers(5);
  for (int i = 1; i <= 4; ++i) {
    const std::string id = "w" + std::to_string(i);
    workers[static_cast<std::size_t>(i)] =
        in(i, {"worker", "--id", id, "--gossip", Lab::ip(i) + ":7946", "--rpc", Lab::ip(i) + ":9000", "--seed", seed,
               "--certs", certs});
    ASSERT_TRUE(ready(*workers[static_cast<std::size_t>(i)])) << id;
  }
  for (int i = 1; i <= 4; ++i) {
    const std::string expect = "event node_joined id=w" + std::to_string(i) + " ";
    ASSERT_TRUE(director->wait_line([&](const std::string& l) { return l.rfind(expect, 0) == 0; }, 30s)) << expect;
  }
  auto load = in(kLoad, {"load", "--director", Lab::ip(kDirector) + ":9000", "--certs", certs, "--concurrency", "8",
                         "--seconds", "240"});
  ASSERT_TRUE(ready(*load));
  ASSERT_TRUE(load->wait_line([](const std::string& l) { return l.rfind("tick t=2 ", 0) == 0; }, 10s));

  // Failures: kill -9 one worker, cut another off, drop 10 % at the director and two workers.
  workers[kKilled]->kill(SIGKILL);
  const std::vector<int> others = {0, 1, 3, 4, 5};
  ASSERT_TRUE(lab.drop_from(kPartitioned, others));
  for (int i : others) ASSERT_TRUE(lab.drop_from(i, {kPartitioned}));
  for (int i : {kDirector, 3, 4}) ASSERT_TRUE(lab.add_loss(i, 10));

  const auto failed_line = [&](const std::string& id) {
    return director->wait_line([&](const std::string& l) { return l.rfind("event node_failed id=" + id + " ", 0) == 0; },
                               90s);
  };
  auto killed_failed = failed_line("w1");
  auto cut_failed = failed_line("w2");
  ASSERT_TRUE(killed_failed) << "the director never declared the killed worker failed";
  ASSERT_TRUE(cut_failed) << "the director never declared the partitioned worker failed";
  const long long killed_failed_ms = number(director->lines(*killed_failed).front(), "t_ms");
  const long long cut_failed_ms = number(director->lines(*cut_failed).front(), "t_ms");

  // Let traffic run a while with w2 declared failed, then heal the partition (keep the loss).
  ASSERT_TRUE(load->wait_line([](const std::string& l) { return l.rfind("tick ", 0) == 0; }, 10s,
                              load->line_count() + 2));
  const std::size_t before_heal = director->line_count();
  // Every process reads the same CLOCK_MONOTONIC (steady_clock), so times compare directly.
  const long long heal_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now().time_since_epoch())
                                .count();
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(lab.clear_rules(i));
  for (int i : {kDirector, 3, 4}) ASSERT_TRUE(lab.add_loss(i, 10));

  auto back = director->wait_line(
      [](const std::string& l) {
        return l.rfind("event node_recovered id=w2 ", 0) == 0 || l.rfind("event node_joined id=w2 ", 0) == 0;
      },
      120s, before_heal);
  ASSERT_TRUE(back) << "the partitioned worker never rejoined";
  // It receives calls again: a routing line after its return shows it routed to after that.
  const long long back_ms = number(director->lines(*back).front(), "t_ms");
  auto routed_again = director->wait_line(
      [&](const std::string& l) {
        return l.rfind("routing ", 0) == 0 && field(l, "id") == "w2" && number(l, "last_routed_ms") > back_ms;
      },
      30s, *back);
  EXPECT_TRUE(routed_again) << "no call went to w2 after it came back";

  load->send("stop");
  auto done = load->wait_line([](const std::string& l) { return l.rfind("done ", 0) == 0; }, 30s);
  ASSERT_TRUE(done);
  const std::string summary = load->lines(*done).front();
  EXPECT_GT(number(summary, "calls"), 1000) << summary;
  EXPECT_EQ(number(summary, "failed"), 0) << summary;
  for (const auto& line : load->lines()) {
    if (line.rfind("failure ", 0) == 0) ADD_FAILURE() << line;
  }

  // Nothing was routed to w1 after it was declared failed.
  const auto last = routing_at(*director, "w1", std::numeric_limits<long long>::max());
  ASSERT_TRUE(last);
  EXPECT_LE(number(*last, "last_routed_ms"), killed_failed_ms) << *last;
  // Nor to w2 while it was declared failed (the last report before the heal).
  const auto during = routing_at(*director, "w2", heal_ms);
  ASSERT_TRUE(during);
  EXPECT_LE(number(*during, "last_routed_ms"), cut_failed_ms) << *during;
  std::printf("netns cluster: %s; w1 declared failed, w2 declared failed, w2 back %lld ms after the heal\n",
              summary.c_str(), back_ms - heal_ms);

  load->terminate(SIGTERM, 5s);
  for (auto& w : workers) {
    if (w) w->terminate(SIGTERM, 5s);
  }
  director->terminate(SIGTERM, 5s);
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

}  // namespace
}  // namespace rpcnet::netns
