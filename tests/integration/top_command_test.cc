// `rpcnet top` end to end: the built binary scrapes a real MetricsServer whose registry carries
// the per-method server metrics, and prints a frame per interval; an endpoint that is not
// there, or answers something other than 200, ends it with exit code 1 and a message.
//
// The registry is driven deterministically: a collector adds one fixed batch of calls to the
// real counters and histograms on every scrape, so each interval holds exactly that batch
// whatever the timing, and the quantiles printed are exact. The command is the one
// doc/operations.md shows.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "rpcnet/metrics_server.h"
#include "runtime/child_process.h"
#include "support/local_tcp_port.h"

namespace rpcnet {
namespace {

using namespace std::chrono_literals;
using runtime::Process;

std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string word; in >> word;) out.push_back(word);
  return out;
}

// Per scrape: echo gets 60 calls (10 NOT_FOUND): 25 at 0.3 ms, 25 at 0.7 ms, 9 at 3 ms, 1 at
// 20 s (beyond the last bucket). p50 = rank 30 of 60: 5 of the 25 into (0.5 ms, 1 ms] = 600µs;
// p99 = rank 59.4 lands in +Inf, reported as the highest bound, 10 s. lookup gets 5 calls.
struct DrivenRegistry {
  MetricsRegistry registry;
  CollectorHandle driver;
  std::unique_ptr<MetricsServer> server;

  DrivenRegistry() {
    const auto latency = MetricsRegistry::latency_buckets();
    auto* echo_started = &registry.counter("rpcnet_server_calls_started_total", "Calls started.", {{"method", "echo"}});
    auto* echo_ok = &registry.counter("rpcnet_server_calls_finished_total", "Calls finished.",
                                     {{"method", "echo"}, {"code", "OK"}});
    auto* echo_not_found = &registry.counter("rpcnet_server_calls_finished_total", "Calls finished.",
                                            {{"method", "echo"}, {"code", "NOT_FOUND"}});
    auto* echo_latency = &registry.histogram("rpcnet_server_call_duration_seconds", "Call latency.", latency,
                                            {{"method", "echo"}});
    auto* lookup_ok = &registry.counter("rpcnet_server_calls_finished_total", "Calls finished.",
                                       {{"method", "lookup"}, {"code", "OK"}});
    auto* lookup_latency = &registry.histogram("rpcnet_server_call_duration_seconds", "Call latency.", latency,
                                              {{"method", "lookup"}});
    driver = registry.add_collector([=](MetricsWriter&) {
      echo_started->inc(60);
      echo_ok->inc(50);
      echo_not_found->inc(10);
      for (int i = 0; i < 25; ++i) echo_latency->observe(0.0003);
      for (int i = 0; i < 25; ++i) echo_latency->observe(0.0007);
      for (int i = 0; i < 9; ++i) echo_latency->observe(0.003);
      echo_latency->observe(20);
      lookup_ok->inc(5);
      for (int i = 0; i < 5; ++i) lookup_latency->observe(0.02);
    });
    auto started = MetricsServer::start(*parse_socket_address("127.0.0.1:0"), registry);
    EXPECT_TRUE(started) << started.error();
    server = std::move(*started);
  }
  std::string address() const { return to_string(server->address()); }
};

// Runs the tool with stderr folded into stdout; its lines and exit code.
struct ToolRun {
  std::vector<std::string> lines;
  std::optional<int> exit_code;
};
ToolRun run_top(const std::vector<std::string>& arguments) {
  std::string command = "exec '" RPCNET_CLI_PATH "' top";
  for (const auto& argument : arguments) command += " '" + argument + "'";
  Process process({"sh", "-c", command + " 2>&1"});
  EXPECT_TRUE(process.started());
  ToolRun run;
  run.exit_code = process.wait_exit(30s);
  process.wait_line([](const std::string&) { return false; }, 5s);  // until EOF: all lines read
  run.lines = process.lines();
  return run;
}

// The arguments of the documented two-refresh command in doc/operations.md, with the
// documented address replaced by `address`: the page shows what this test runs.
std::vector<std::string> documented_arguments(const std::string& address) {
  std::ifstream doc(RPCNET_SOURCE_DIR "/doc/operations.md");
  const std::string documented_address = "127.0.0.1:9464";
  for (std::string line; std::getline(doc, line);) {
    if (line.rfind("rpcnet top --metrics " + documented_address + " --iterations", 0) != 0) continue;
    auto arguments = words(line.substr(0, line.find('#')));
    arguments.erase(arguments.begin(), arguments.begin() + 2);  // "rpcnet top"
    for (auto& argument : arguments) {
      if (argument == documented_address) argument = address;
    }
    return arguments;
  }
  return {};
}

TEST(TopCommand, ShowsPerMethodRatesAndQuantilesEveryInterval) {
  DrivenRegistry driven;
  const auto arguments = documented_arguments(driven.address());
  ASSERT_EQ(arguments, (std::vector<std::string>{"--metrics", driven.address(), "--iterations", "2", "--interval-ms",
                                                 "200"}))
      << "doc/operations.md no longer shows the command this test runs";
  const ToolRun run = run_top(arguments);
  ASSERT_EQ(run.exit_code, 0);

  std::string output;
  for (const auto& line : run.lines) output += line + "\n";
  EXPECT_EQ(output.find('\x1b'), std::string::npos) << "no screen clearing when stdout is not a terminal";

  std::vector<std::size_t> titles, headers, echo_rows, lookup_rows, blanks;
  for (std::size_t i = 0; i < run.lines.size(); ++i) {
    const auto& line = run.lines[i];
    if (line.rfind("rpcnet top  http://" + driven.address() + "/metrics  server calls over the last ", 0) == 0) {
      titles.push_back(i);
    }
    if (words(line) == std::vector<std::string>{"METHOD", "CALLS/S", "ERR/S", "P50", "P99"}) headers.push_back(i);
    if (line.rfind("echo ", 0) == 0) echo_rows.push_back(i);
    if (line.rfind("lookup ", 0) == 0) lookup_rows.push_back(i);
    if (line.empty()) blanks.push_back(i);
  }
  ASSERT_EQ(titles.size(), 2u) << output;
  ASSERT_EQ(headers.size(), 2u) << output;
  ASSERT_EQ(echo_rows.size(), 2u) << output;
  ASSERT_EQ(lookup_rows.size(), 2u) << output;
  for (int frame = 0; frame < 2; ++frame) {
    // Sorted by calls/s: echo (60 per interval) above lookup (5).
    EXPECT_EQ(echo_rows[frame], headers[frame] + 1) << output;
    EXPECT_EQ(lookup_rows[frame], headers[frame] + 2) << output;
    const auto echo = words(run.lines[echo_rows[frame]]);
    ASSERT_EQ(echo.size(), 5u) << output;
    const double calls = std::stod(echo[1]), errors = std::stod(echo[2]);
    EXPECT_GT(calls, 0) << output;
    // 10 of 60 failed: one sixth, up to the one-decimal rounding of both numbers.
    EXPECT_NEAR(errors, calls / 6, 0.1) << output;
    EXPECT_EQ(echo[3], "600µs") << output;
    EXPECT_EQ(echo[4], "10.0s") << output;
    EXPECT_EQ(words(run.lines[lookup_rows[frame]])[3], "17.5ms") << output;
  }
  // Frames are separated by one blank line (plus the one under each title).
  EXPECT_EQ(blanks.size(), 3u) << output;
  EXPECT_EQ(titles[1], lookup_rows[0] + 2) << output;
}

TEST(TopCommand, ClientSideWithoutClientMetricsSaysSo) {
  DrivenRegistry driven;
  const ToolRun run = run_top({"--metrics", driven.address(), "--iterations", "1", "--interval-ms", "10", "--side", "client"});
  ASSERT_EQ(run.exit_code, 0);
  ASSERT_FALSE(run.lines.empty());
  EXPECT_EQ(run.lines.back(), "(no rpcnet_client_* call metrics here yet)");
}

TEST(TopCommand, UnreachableEndpointExitsWithAMessage) {
  const testing::LocalTcpPort refusing(false);
  ASSERT_TRUE(refusing.ok());
  const std::string address = refusing.address();

  const ToolRun run = run_top({"--metrics", address, "--iterations", "1"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.lines, std::vector<std::string>{"rpcnet top: cannot scrape http://" + address + "/metrics: cannot connect to " +
                                                address + ": Connection refused"});
}

TEST(TopCommand, Non200AnswerExitsWithAMessage) {
  const testing::LocalTcpPort listening(true);
  ASSERT_TRUE(listening.ok());
  const int listener = listening.fd();
  const std::string address = listening.address();
  // Answers the first request with 503, then closes; gives up if no one connects within 30 s.
  std::thread answerer([listener] {
    pollfd ready{listener, POLLIN, 0};
    if (::poll(&ready, 1, 30'000) != 1) return;
    const int connection = ::accept(listener, nullptr, nullptr);
    char request[4096];
    (void)!::recv(connection, request, sizeof request, 0);
    const std::string_view answer = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n\r\nbusy\n";
    (void)!::send(connection, answer.data(), answer.size(), MSG_NOSIGNAL);
    ::close(connection);
  });

  const ToolRun run = run_top({"--metrics", address, "--iterations", "1"});
  answerer.join();
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.lines, std::vector<std::string>{"rpcnet top: cannot scrape http://" + address +
                                                "/metrics: answered 503 Service Unavailable instead of 200"});
}

}  // namespace
}  // namespace rpcnet
