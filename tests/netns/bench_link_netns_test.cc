// `rpcnet_bench run --link veth-loss1`: the suite's real-link mode end to end (rpcnet side only
// in this build). Asserted: the run succeeds and reports the lossy link's sequential p99 under
// its own name, the physical-floor rows come with it, the pinning is recorded, and the two
// namespaces the orchestrator made are gone afterwards — also when it is stopped by SIGTERM in
// the middle of a run. Also `--link loopback-unpinned`, the secondary table. No timing is
// asserted.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "netns/netns_lab.h"

namespace rpcnet::netns {
namespace {

using namespace std::chrono_literals;

std::string netns_list() {
  std::string text;
  FILE* pipe = ::popen("ip netns list 2>/dev/null", "r");
  if (pipe == nullptr) return text;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) text += buffer;
  ::pclose(pipe);
  return text;
}

const nlohmann::json* scenario(const nlohmann::json& results, const std::string& name) {
  for (const auto& row : results.at("scenarios")) {
    if (row.at("name") == name) return &row;
  }
  return nullptr;
}

// Waits (bounded) until /run/netns/<name> exists, woken by inotify rather than polling.
bool wait_for_namespace(const std::string& name, std::chrono::milliseconds timeout) {
  const std::filesystem::path path = "/run/netns/" + name;
  const int watch = ::inotify_init1(IN_CLOEXEC);
  if (watch < 0) return false;
  ::inotify_add_watch(watch, "/run/netns", IN_CREATE | IN_MOVED_TO);
  const auto deadline = Clock::now() + timeout;
  bool found = std::filesystem::exists(path);
  while (!found && Clock::now() < deadline) {
    pollfd ready{watch, POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (::poll(&ready, 1, static_cast<int>(std::max<long>(1, left.count()))) > 0) {
      char events[4096];
      (void)::read(watch, events, sizeof events);
    }
    found = std::filesystem::exists(path);
  }
  ::close(watch);
  return found;
}

TEST(BenchLinkNetns, LossyVethRunReportsItsRowsPinningAndRemovesItsNamespaces) {
  const std::string reason = Lab::unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  const auto dir = std::filesystem::temp_directory_path() / ("rpcnet-bench-link-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string json_path = (dir / "out.json").string();
  const std::string md_path = (dir / "out.md").string();

  Process bench({RPCNET_BENCH_PATH, "run", "--quick", "--only", "unary_seq", "--link", "veth-loss1", "--reps", "1",
                 "--json", json_path, "--md", md_path});
  ASSERT_TRUE(bench.started());
  const std::string pid = std::to_string(bench.pid());  // pid() is cleared once the child is reaped
  ASSERT_TRUE(bench.wait_output_end(60s));
  ASSERT_EQ(bench.wait_exit(10s), 0);

  std::ifstream in(json_path);
  const auto results = nlohmann::json::parse(in);
  const auto* p99 = scenario(results, "veth_unary_seq_p99_loss1_us");
  ASSERT_NE(p99, nullptr);
  ASSERT_TRUE(p99->at("rpcnet").is_number());
  EXPECT_GT(p99->at("rpcnet").get<double>(), 0);
  EXPECT_EQ(p99->at("link"), "veth-loss1");
  for (const char* name : {"veth_udp_floor_p50_loss1_us", "veth_udp_floor_p99_loss1_us",
                           "veth_udp_floor_epoll_p50_loss1_us", "veth_udp_floor_epoll_p99_loss1_us"}) {
    const auto* row = scenario(results, name);
    ASSERT_NE(row, nullptr) << name;
    EXPECT_EQ(row->at("kind"), "floor") << name;
    ASSERT_TRUE(row->at("rpcnet").is_number()) << name;
    EXPECT_GT(row->at("rpcnet").get<double>(), 0) << name;
  }
  // Loopback rows are not produced by a veth-only run.
  EXPECT_EQ(scenario(results, "unary_seq_p99_us"), nullptr);
  // Same work: the link records the TLS 1.3 suite and group rpcnet's handshake negotiated there,
  // P-256 like gRPC's (the bench configures it; rpcnet's default would be X25519).
  ASSERT_EQ(results.at("links").size(), 1u);
  const auto& tls = results.at("links").at(0).at("tls").at("rpcnet");
  EXPECT_EQ(tls.at("tls_cipher_suite"), "TLS_AES_128_GCM_SHA256");
  EXPECT_EQ(tls.at("tls_group"), "P-256");
  EXPECT_EQ(tls.at("tls_source"), "negotiated (RpcClient::tls_parameters)");

  // Pinning: recorded in the JSON and in the table's header (the defaults: server 0, client 1).
  std::ifstream md_in(md_path);
  const std::string md((std::istreambuf_iterator<char>(md_in)), std::istreambuf_iterator<char>());
  if (std::thread::hardware_concurrency() >= 2) {
    EXPECT_EQ(results.at("pinning").at("server_cpu"), 0);
    EXPECT_EQ(results.at("pinning").at("client_cpu"), 1);
    EXPECT_NE(md.find("server pinned to CPU 0, client to CPU 1"), std::string::npos);
  } else {
    EXPECT_TRUE(results.at("pinning").is_null());
    EXPECT_NE(md.find("server and client not pinned"), std::string::npos);
  }

  // The namespaces it made: named in the output, carrying its pid, and gone now.
  const auto& namespaces = results.at("links").at(0).at("namespaces");
  ASSERT_EQ(namespaces.size(), 2u);
  const std::string listed = netns_list();
  for (const auto& name : namespaces) {
    EXPECT_NE(name.get<std::string>().find(pid), std::string::npos);
    EXPECT_EQ(listed.find(name.get<std::string>()), std::string::npos) << name << " still exists";
  }
  std::filesystem::remove_all(dir);
}

// No namespaces (and no root) needed: loopback with server and client left to the scheduler,
// the secondary table beside the pinned one.
TEST(BenchLinkNetns, UnpinnedLoopbackIsASecondaryTableWithRowsOfItsOwn) {
  const auto dir = std::filesystem::temp_directory_path() / ("rpcnet-bench-unpinned-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string json_path = (dir / "out.json").string();
  Process bench({RPCNET_BENCH_PATH, "run", "--quick", "--only", "unary_seq", "--link", "loopback,loopback-unpinned",
                 "--reps", "1", "--json", json_path, "--md", (dir / "out.md").string()});
  ASSERT_TRUE(bench.started());
  ASSERT_TRUE(bench.wait_output_end(60s));
  ASSERT_EQ(bench.wait_exit(10s), 0);
  std::ifstream in(json_path);
  const auto results = nlohmann::json::parse(in);
  for (const char* name : {"unpinned_unary_seq_p50_us", "unpinned_unary_seq_p99_us", "unary_seq_p50_us"}) {
    const auto* row = scenario(results, name);
    ASSERT_NE(row, nullptr) << name;
    ASSERT_TRUE(row->at("rpcnet").is_number()) << name;
    EXPECT_GT(row->at("rpcnet").get<double>(), 0) << name;
    EXPECT_EQ(row->at("link"), std::string(name).starts_with("unpinned_") ? "loopback-unpinned" : "loopback");
  }
  // Secondary: no goal on its rows (the pinned row keeps its own), no floor rows (the floor
  // belongs to pinned CPUs).
  std::ifstream md_in(dir / "out.md");
  const std::string md((std::istreambuf_iterator<char>(md_in)), std::istreambuf_iterator<char>());
  const auto row_of = [&md](const std::string& name) {
    const auto at = md.find("| " + name + " |");
    return at == std::string::npos ? std::string() : md.substr(at, md.find('\n', at) - at);
  };
  EXPECT_TRUE(row_of("unpinned_unary_seq_p50_us").ends_with("| – | – |")) << row_of("unpinned_unary_seq_p50_us");
  EXPECT_NE(row_of("unary_seq_p50_us").find("≤ 0.6×"), std::string::npos) << row_of("unary_seq_p50_us");
  EXPECT_EQ(scenario(results, "unpinned_udp_floor_p50_us"), nullptr);
  const auto& links = results.at("links");
  ASSERT_EQ(links.size(), 2u);
  EXPECT_EQ(links.at(0).at("id"), "loopback");
  EXPECT_EQ(links.at(1).at("id"), "loopback-unpinned");
  EXPECT_TRUE(links.at(1).at("pinning").is_null());
  if (std::thread::hardware_concurrency() >= 2) {
    EXPECT_EQ(links.at(0).at("pinning").at("client_cpu"), 1);
    EXPECT_EQ(results.at("pinning").at("server_cpu"), 0);  // the run's own pinning is unchanged
  }
  std::filesystem::remove_all(dir);
}

TEST(BenchLinkNetns, SigtermInTheMiddleOfARunRemovesTheNamespaces) {
  const std::string reason = Lab::unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  const auto dir = std::filesystem::temp_directory_path() / ("rpcnet-bench-sigterm-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  // Long enough that SIGTERM lands while a run is in progress.
  Process bench({RPCNET_BENCH_PATH, "run", "--only", "unary_seq", "--link", "veth", "--reps", "100", "--json",
                 (dir / "out.json").string(), "--md", (dir / "out.md").string()});
  ASSERT_TRUE(bench.started());
  const std::string prefix = "rpcnet-bench-" + std::to_string(bench.pid()) + "-veth-";
  ASSERT_TRUE(wait_for_namespace(prefix + "client", 20s));
  EXPECT_NE(netns_list().find(prefix + "server"), std::string::npos);

  bench.kill(SIGTERM);
  EXPECT_EQ(bench.exit_signal(), SIGTERM);
  const std::string listed = netns_list();
  EXPECT_EQ(listed.find(prefix + "server"), std::string::npos);
  EXPECT_EQ(listed.find(prefix + "client"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir / "out.json"));  // stopped before writing results
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rpcnet::netns
