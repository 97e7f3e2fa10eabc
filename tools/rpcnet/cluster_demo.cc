// `rpcnet cluster-demo` (what `make demo` runs): the seed's complete cluster example, live.
//   - development certificates and a cluster key are made in a temporary directory;
//   - a director and three workers start as separate processes (`rpcnet director`, `rpcnet
//     worker`) on loopback; the workers are discovered through gossip;
//   - this process is the load client: it calls `compute` on the director, whose ClusterClient
//     routes each call to a worker, and prints calls/s, p50/p99 and each worker's share;
//   - a few seconds in, one worker is killed with SIGKILL; later a new worker joins;
//   - a summary ends it, and for scripts one last line
//       summary: calls=<n> failed=<n> dead_worker_last_call_ms=<n>
//     where dead_worker_last_call_ms is how long after the kill the director still routed a
//     call attempt to the dead worker (from the director's own counters).
// Exit code 0 when calls were made and none failed.
#include <gnutls/crypto.h>
#include <unistd.h>

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/use_future.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/percentile.h"
#include "cluster_tool.h"
#include "commands.h"
#include "rpcnet/certs.h"
#include "rpcnet/client.h"
#include "rpcnet/runtime.h"
#include "runtime/child_process.h"

namespace rpcnet::tool {

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using runtime::Process;

std::string field(const std::string& line, const std::string& name) {
  const auto at = line.find(name + "=");
  if (at == std::string::npos) return {};
  const auto start = at + name.size() + 1;
  return line.substr(start, line.find(' ', start) - start);
}

std::string self_path() {
  std::error_code error;
  auto path = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? std::string("rpcnet") : path.string();
}

double percentile_ms(const std::vector<Clock::duration>& samples, double fraction) {
  return std::chrono::duration<double, std::milli>(percentile(samples, fraction).value_or(Clock::duration{}))
      .count();
}

// What the load client saw, per reporting window and in total.
struct LoadStats {
  std::mutex mutex;
  std::vector<Clock::duration> window;
  std::vector<Clock::duration> all;
  std::map<std::string, std::uint64_t> window_share;
  std::map<std::string, std::uint64_t> share;
  std::uint64_t calls = 0;
  std::uint64_t failed = 0;
  std::vector<std::string> failures;  // the first few, for the summary

  void record(Clock::duration latency, const Result<Bytes>& reply) {
    std::lock_guard lock(mutex);
    ++calls;
    if (!reply) {
      ++failed;
      if (failures.size() < 5) failures.push_back(reply.error().to_string());
      return;
    }
    const std::string text(reply->begin(), reply->end());
    const std::string worker = text.substr(0, text.find(':'));
    window.push_back(latency);
    all.push_back(latency);
    ++window_share[worker];
    ++share[worker];
  }
};

std::string shares_text(const std::map<std::string, std::uint64_t>& share) {
  std::uint64_t total = 0;
  for (const auto& [w, n] : share) total += n;
  std::ostringstream out;
  for (const auto& [w, n] : share) {
    out << "  " << w << " " << (total ? (100 * n + total / 2) / total : 0) << "%";
  }
  return out.str();
}

asio::awaitable<void> load_caller(RpcClient client, std::shared_ptr<LoadStats> stats, std::shared_ptr<std::atomic<bool>> stop,
                                  int index) {
  const Bytes payload(64, static_cast<std::uint8_t>(index));
  CallOptions options;
  options.timeout = 5s;
  while (!stop->load()) {
    const auto started = Clock::now();
    auto reply = co_await client.call("compute", payload, options);
    stats->record(Clock::now() - started, reply);
  }
}

// `concurrency` callers of director.compute on an event loop of their own.
class Load {
 public:
  static Result<std::unique_ptr<Load>> start(const std::string& director, const std::string& ca_path,
                                             int concurrency) {
    auto address = parse_socket_address(director);
    if (!address) return address.error();
    std::unique_ptr<Load> load(new Load());
    auto client = load->runtime_.block_on(
        RpcClient::connect(*address, RpcConfig(ca_path, "0.0.0.0:0").with_server_name("localhost")));
    if (!client) return client.error();
    load->client_ = *client;
    for (int i = 0; i < concurrency; ++i) {
      load->callers_.push_back(asio::co_spawn(load->runtime_.executor(0),
                                              load_caller(*load->client_, load->stats_, load->stop_, i),
                                              asio::use_future));
    }
    return load;
  }
  ~Load() { finish(); }

  LoadStats& stats() { return *stats_; }
  bool stopping() const { return stop_->load(); }
  void request_stop() { stop_->store(true); }
  // Stops the callers and waits for the calls in flight.
  void finish() {
    stop_->store(true);
    for (auto& caller : callers_) caller.wait();
    callers_.clear();
  }
  // A call on the same connection (e.g. the director's `stats`), from this thread.
  Result<Bytes> call(std::string_view method) { return runtime_.block_on(client_->call(method, {})); }
  void close() {
    if (client_) client_->close();
  }

 private:
  Load() = default;
  Runtime runtime_{1};
  std::optional<RpcClient> client_;
  std::shared_ptr<LoadStats> stats_ = std::make_shared<LoadStats>();
  std::shared_ptr<std::atomic<bool>> stop_ = std::make_shared<std::atomic<bool>>(false);
  std::vector<std::future<void>> callers_;
};

}  // namespace

int run_load(const LoadOptions& options) {
  auto load = Load::start(options.director, options.certs + "/ca.pem", options.concurrency);
  if (!load) {
    std::cerr << "rpcnet load: " << load.error().message() << "\n";
    return 1;
  }
  LoadStats* stats = &(*load)->stats();
  print_line("ready director=" + options.director);
  Load* running = load->get();
  std::thread input([running] {
    std::string line;
    while (std::getline(std::cin, line) && line != "stop") {
    }
    running->request_stop();
  });
  const auto started = Clock::now();
  for (int tick = 1; tick <= options.seconds && !running->stopping(); ++tick) {
    std::this_thread::sleep_until(started + std::chrono::seconds(tick));
    std::lock_guard lock(stats->mutex);
    print_line("tick t=" + std::to_string(tick) + " calls=" + std::to_string(stats->calls) +
               " failed=" + std::to_string(stats->failed) + shares_text(stats->window_share));
    stats->window.clear();
    stats->window_share.clear();
  }
  running->finish();
  {
    std::lock_guard lock(stats->mutex);
    for (const auto& f : stats->failures) print_line("failure " + f);
    print_line("done calls=" + std::to_string(stats->calls) + " failed=" + std::to_string(stats->failed));
  }
  running->close();
  input.detach();  // blocked on stdin; the process exits
  return 0;
}

int run_cluster_demo(const ClusterDemoOptions& options) {
  const int seconds = options.quick ? 8 : std::max(options.seconds, 8);
  const auto kill_after = options.quick ? 3s : 4s;
  const auto join_after = options.quick ? 5s : 8s;
  const std::string exe = self_path();

  const auto dir = std::filesystem::temp_directory_path() / ("rpcnet-cluster-demo-" + std::to_string(::getpid()));
  DevCertificateOptions cert_options;
  cert_options.directory = (dir / "certs").string();
  auto certs = make_dev_certificates(cert_options);
  const auto key = random_cluster_key();
  if (!certs || !key) {
    std::cerr << "cluster-demo: cannot make certificates or a key: " << (certs ? key.error() : certs.error()) << "\n";
    return 1;
  }
  ::setenv("RPCNET_CLUSTER_KEY", key->c_str(), 1);
  const std::string certs_dir = cert_options.directory;

  std::cout << "rpcnet cluster demo: a director, three workers and a load client, separate processes on loopback\n"
            << "  certificates and cluster key: " << dir.string() << " (removed at the end)\n\n";
  std::cout.flush();

  Process director({exe, "director", "--id", "director", "--certs", certs_dir, "--grpc-over-tcp"});
  auto ready = director.wait_line([](const std::string& l) { return l.rfind("ready ", 0) == 0; }, 10s);
  if (!ready) {
    std::cerr << "cluster-demo: the director did not start\n";
    return 1;
  }
  const std::string ready_line = director.lines(*ready).front();
  const std::string director_rpc = field(ready_line, "rpc");
  const std::string seed = field(ready_line, "gossip");
  std::cout << "director    rpc " << director_rpc << ", gossip " << seed << "\n";

  std::map<std::string, std::unique_ptr<Process>> workers;
  const auto start_worker = [&](const std::string& id) {
    auto worker = std::make_unique<Process>(
        std::vector<std::string>{exe, "worker", "--id", id, "--seed", seed, "--certs", certs_dir});
    auto up = worker->wait_line([](const std::string& l) { return l.rfind("ready ", 0) == 0; }, 10s);
    if (up) {
      const std::string line = worker->lines(*up).front();
      std::cout << id << "    rpc " << field(line, "rpc") << ", gossip " << field(line, "gossip") << "\n";
    }
    workers[id] = std::move(worker);
    return up.has_value();
  };
  for (const char* id : {"worker-1", "worker-2", "worker-3"}) {
    if (!start_worker(id)) {
      std::cerr << "cluster-demo: " << id << " did not start\n";
      return 1;
    }
  }
  for (const char* id : {"worker-1", "worker-2", "worker-3"}) {
    const std::string expect = std::string("event node_joined id=") + id + " ";
    if (!director.wait_line([&](const std::string& l) { return l.rfind(expect, 0) == 0; }, 20s)) {
      std::cerr << "cluster-demo: the director never discovered " << id << "\n";
      return 1;
    }
  }
  std::cout << "director discovered worker-1, worker-2 and worker-3 through gossip\n";
  // The same server also speaks gRPC over HTTP/2 + TLS on TCP: what a client uses where UDP is
  // blocked, and what stock gRPC clients in other languages call.
  {
    const std::string grpc_address = field(ready_line, "grpc");
    Runtime runtime(1);
    auto over_http2 = runtime.block_on([&]() -> asio::awaitable<Result<Bytes>> {
      auto address = parse_socket_address(director_rpc);
      if (!address) co_return address.error();
      auto client = co_await RpcClient::connect(
          *address, RpcConfig(certs->ca_cert, "0.0.0.0:0").with_server_name("localhost").with_transport(TransportChoice::kHttp2Only));
      if (!client) co_return client.error();
      CallOptions call_options;
      call_options.timeout = 5s;
      co_return co_await client->call("compute", Bytes(64, 1), call_options);
    }());
    std::cout << "a compute call over gRPC (HTTP/2 + TLS, TCP " << grpc_address << "): "
              << (over_http2 ? "ok" : "failed: " + over_http2.error().message()) << "\n\n";
  }

  auto load = Load::start(director_rpc, certs->ca_cert, options.concurrency);
  if (!load) {
    std::cerr << "cluster-demo: cannot connect to the director: " << load.error().message() << "\n";
    return 1;
  }
  LoadStats* stats = &(*load)->stats();
  std::cout << "load: " << options.concurrency << " concurrent callers -> director.compute -> ClusterClient (P2C) -> a worker\n";

  const auto started = Clock::now();
  std::optional<Clock::time_point> killed;
  std::optional<long long> detected_ms;
  bool joined = false;
  const std::size_t director_mark = director.line_count();
  for (int tick = 1; tick <= seconds; ++tick) {
    std::this_thread::sleep_until(started + std::chrono::seconds(tick));
    std::vector<Clock::duration> window;
    std::map<std::string, std::uint64_t> share;
    std::uint64_t failed = 0;
    {
      std::lock_guard lock(stats->mutex);
      window.swap(stats->window);
      share.swap(stats->window_share);
      failed = stats->failed;
    }
    std::printf("[%2ds] %7zu calls/s  p50 %5.2f ms  p99 %6.2f ms  failed %llu %s\n", tick, window.size(),
                percentile_ms(window, 0.50), percentile_ms(window, 0.99), static_cast<unsigned long long>(failed),
                shares_text(share).c_str());
    std::fflush(stdout);
    const auto elapsed = Clock::now() - started;
    if (!killed && elapsed >= kill_after) {
      workers["worker-2"]->kill(SIGKILL);
      killed = Clock::now();
      std::printf("       !! worker-2 killed with SIGKILL\n");
    }
    if (killed && !detected_ms) {
      if (auto line = director.wait_line([](const std::string& l) { return l.rfind("event node_failed id=worker-2 ", 0) == 0; },
                                         0ms, director_mark)) {
        detected_ms = std::stoll(field(director.lines(*line).front(), "t_ms")) - steady_ms(*killed);
        std::printf("       !! the director's membership declared worker-2 failed %lld ms after the kill\n", *detected_ms);
      }
    }
    if (!joined && elapsed >= join_after) {
      joined = start_worker("worker-4");
      std::printf("       ++ worker-4 started and joins through gossip\n");
    }
    std::fflush(stdout);
  }
  (*load)->finish();

  // How long after the kill did the director still route to worker-2?
  auto director_stats = (*load)->call("stats");
  long long dead_worker_last_call_ms = -1;
  std::string routing;
  if (director_stats) {
    routing.assign(director_stats->begin(), director_stats->end());
    std::istringstream lines(routing);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.rfind("worker-2 ", 0) == 0 && killed) {
        dead_worker_last_call_ms = std::max(0LL, std::stoll(field(line, "last_routed_ms")) - steady_ms(*killed));
      }
    }
  }
  (*load)->close();
  for (auto& [id, worker] : workers) worker->terminate(SIGTERM, 5s);
  director.terminate(SIGTERM, 5s);

  std::uint64_t calls = 0, failed = 0;
  std::vector<Clock::duration> all;
  std::map<std::string, std::uint64_t> share;
  std::vector<std::string> failures;
  {
    std::lock_guard lock(stats->mutex);
    calls = stats->calls;
    failed = stats->failed;
    all = stats->all;
    share = stats->share;
    failures = stats->failures;
  }
  std::printf("\nsummary\n");
  std::printf("  calls made           %llu in %d s (%llu/s), failed %llu\n", static_cast<unsigned long long>(calls), seconds,
              static_cast<unsigned long long>(calls / static_cast<std::uint64_t>(seconds)),
              static_cast<unsigned long long>(failed));
  std::printf("  latency              p50 %.2f ms, p99 %.2f ms\n", percentile_ms(all, 0.50), percentile_ms(all, 0.99));
  std::printf("  share per worker    %s\n", shares_text(share).c_str());
  if (detected_ms) std::printf("  worker-2 declared failed by gossip %lld ms after SIGKILL\n", *detected_ms);
  std::printf("  worker-2 last routed %lld ms after SIGKILL (the client ejects a worker whose connection fails)\n",
              dead_worker_last_call_ms);
  std::printf("  director routing counters:\n");
  std::istringstream routed(routing);
  for (std::string line; std::getline(routed, line);) std::printf("    %s\n", line.c_str());
  for (const auto& f : failures) std::printf("  failure: %s\n", f.c_str());
  std::printf("summary: calls=%llu failed=%llu dead_worker_last_call_ms=%lld\n", static_cast<unsigned long long>(calls),
              static_cast<unsigned long long>(failed), dead_worker_last_call_ms);
  std::fflush(stdout);
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return calls > 0 && failed == 0 ? 0 : 1;
}

}  // namespace rpcnet::tool
