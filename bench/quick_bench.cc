// A quick loopback benchmark in two processes: the server runs in a forked child, the client in
// the parent, both on loopback with a fresh development certificate.
//   sequential: 64-byte unary round trips one after another -> p50 / p99 in µs, calls/s
//   concurrent: 64 calls in flight on one connection for a few seconds -> calls/s
// Usage: quick_bench [--seconds N] [--sequential N] [--interceptors N] [--no-method-metrics]
//   --interceptors N: N no-op interceptors on the server and N on the client (their cost)
//   --no-method-metrics: both sides without the per-method metrics interceptor (its cost)
// The full side-by-side comparison with gRPC is `make bench` (its own issue); this is the
// number quoted for the core RPC work.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "rpcnet/rpcnet.h"
#include "runtime/event.h"  // bench-only use of an internal header

namespace {

using Clock = std::chrono::steady_clock;

// Interceptors that do nothing: what the chain itself costs.
class NoopServerInterceptor final : public rpcnet::ServerInterceptor {};
class NoopClientInterceptor final : public rpcnet::ClientInterceptor {};

int run_server(const rpcnet::DevCertificatePaths& certs, int ready_fd, int interceptors, bool method_metrics) {
  auto config = rpcnet::RpcConfig(certs.server_cert, "127.0.0.1:0").with_key_path(certs.server_key).with_event_loops(1);
  config.with_method_metrics(method_metrics);
  for (int i = 0; i < interceptors; ++i) config.with_server_interceptor(std::make_shared<NoopServerInterceptor>());
  rpcnet::RpcServer server(std::move(config));
  server.register_method("echo", [](rpcnet::Bytes request) -> asio::awaitable<rpcnet::Result<rpcnet::Bytes>> {
    co_return request;
  });
  auto bound = server.bind();
  if (!bound) {
    std::fprintf(stderr, "bind: %s\n", bound.error().to_string().c_str());
    return 1;
  }
  const unsigned short port = bound->port();
  if (::write(ready_fd, &port, sizeof port) != sizeof port) return 1;
  ::close(ready_fd);
  auto result = server.run();  // until SIGTERM ends the process
  return result ? 0 : 1;
}

struct Numbers {
  double p50_us = 0;
  double p99_us = 0;
  double sequential_per_s = 0;
  double concurrent_per_s = 0;
  int failures = 0;
};

asio::awaitable<Numbers> run_client(rpcnet::SocketAddress server, rpcnet::RpcConfig config,
                                    int sequential, double seconds) {
  Numbers numbers;
  auto client = co_await rpcnet::RpcClient::connect(server, std::move(config));
  if (!client) {
    std::fprintf(stderr, "connect: %s\n", client.error().to_string().c_str());
    numbers.failures = 1;
    co_return numbers;
  }
  const rpcnet::Bytes payload(64, 0x5a);
  for (int i = 0; i < 1000; ++i) (void)co_await client->call("echo", payload);  // warm up

  std::vector<double> latencies;
  latencies.reserve(static_cast<std::size_t>(sequential));
  const auto sequential_start = Clock::now();
  for (int i = 0; i < sequential; ++i) {
    const auto start = Clock::now();
    auto reply = co_await client->call("echo", payload);
    latencies.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    if (!reply || reply->size() != payload.size()) ++numbers.failures;
  }
  const double sequential_s = std::chrono::duration<double>(Clock::now() - sequential_start).count();
  std::sort(latencies.begin(), latencies.end());
  numbers.p50_us = latencies[latencies.size() / 2];
  numbers.p99_us = latencies[latencies.size() * 99 / 100];
  numbers.sequential_per_s = sequential / sequential_s;

  auto executor = co_await asio::this_coro::executor;
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  long completed = 0;
  int running = 64;
  rpcnet::runtime::Event all_done;
  const auto concurrent_start = Clock::now();
  for (int worker = 0; worker < 64; ++worker) {
    auto loop = [&]() -> asio::awaitable<void> {
      while (Clock::now() < deadline) {
        auto reply = co_await client->call("echo", payload);
        if (!reply) ++numbers.failures;
        ++completed;
      }
      if (--running == 0) all_done.set();
    };
    asio::co_spawn(executor, std::move(loop), asio::detached);
  }
  co_await all_done.wait();
  const double concurrent_s = std::chrono::duration<double>(Clock::now() - concurrent_start).count();
  numbers.concurrent_per_s = static_cast<double>(completed) / concurrent_s;
  co_return numbers;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  int sequential = 20000;
  int interceptors = 0;
  bool no_method_metrics = false;
  CLI::App app{"quick_bench: a two-process loopback benchmark of unary calls"};
  app.add_option("--seconds", seconds, "Seconds of the concurrent phase")
      ->check(CLI::Range(0.001, 86400.0))
      ->capture_default_str();
  app.add_option("--sequential", sequential, "Calls of the sequential phase")
      ->check(CLI::Range(1, 1000000000))
      ->capture_default_str();
  app.add_flag("--no-method-metrics", no_method_metrics, "Both sides without the per-method metrics interceptor");
  app.add_option("--interceptors", interceptors, "No-op interceptors on each side (their cost)")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : 2;
  }
  char dir_template[] = "/tmp/rpcnet-bench-XXXXXX";
  const char* dir = ::mkdtemp(dir_template);
  if (dir == nullptr) return 1;
  rpcnet::DevCertificateOptions options;
  options.directory = dir;
  auto certs = rpcnet::make_dev_certificates(options);
  if (!certs) return 1;

  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return 1;
  // fork(), not runtime::Process (the spawner the other tools use): the server is this same
  // program, already holding the certificates and the pipe, so a fork needs no second mode, no
  // argv round trip and no exec. It is safe because it comes before any thread exists here
  // (make_dev_certificates starts none; the client runtime is created after it).
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(pipe_fds[0]);
    std::_Exit(run_server(*certs, pipe_fds[1], interceptors, !no_method_metrics));
  }
  ::close(pipe_fds[1]);
  unsigned short port = 0;
  if (::read(pipe_fds[0], &port, sizeof port) != sizeof port) return 1;
  ::close(pipe_fds[0]);

  auto server = rpcnet::parse_socket_address("127.0.0.1:" + std::to_string(port));
  auto client_config = rpcnet::RpcConfig(certs->ca_cert, "127.0.0.1:0").with_server_name("localhost");
  client_config.with_method_metrics(!no_method_metrics);
  for (int i = 0; i < interceptors; ++i) client_config.with_client_interceptor(std::make_shared<NoopClientInterceptor>());
  rpcnet::Runtime runtime(1);
  const Numbers numbers = runtime.block_on(run_client(
      *server, client_config,
      sequential, seconds));
  ::kill(child, SIGTERM);
  ::waitpid(child, nullptr, 0);
  std::filesystem::remove_all(dir);

  std::printf("sequential 64 B unary: p50 %.1f us, p99 %.1f us, %.0f calls/s (%d calls)\n",
              numbers.p50_us, numbers.p99_us, numbers.sequential_per_s, sequential);
  std::printf("64 in flight, one connection: %.0f calls/s over %.1f s\n", numbers.concurrent_per_s,
              seconds);
  std::printf("failed calls: %d\n", numbers.failures);
  return numbers.failures == 0 ? 0 : 1;
}
