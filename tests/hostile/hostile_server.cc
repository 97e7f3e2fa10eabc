// The server the hostile tests attack, as its own process: its RSS is its own, and "still
// alive" means something. Serves until its stdin closes, then shuts down gracefully and exits 0.
//
//   hostile_server cert=PATH key=PATH [port=N] [loops=N] [workers=N] [max_connections=N]
//                  [max_handshakes=N] [retry_threshold=N] [rate=PER_S] [burst=N]
//                  [memory=BYTES] [max_message=BYTES] [header_timeout_ms=N]
//                  [metadata_entries=N] [metadata_bytes=N] [blocking_queue=N]
//                  [max_streams=N] [connect_timeout_ms=N]
//
// Prints "PORT <port>" once it serves. Methods:
//   echo           unary: returns the request
//   stats          unary: "name=value" lines: ServerStats, the handler counters below, and
//                  vm_rss_kb / vm_hwm_kb from /proc/self/status
//   slow_blocking  blocking: works (sleeps) for 20 ms, or until cancelled; counts its runs
//   download       server streaming: request = count (u32) + size (u32): count messages of size
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "rpcnet/rpcnet.h"

namespace {

std::atomic<std::uint64_t> blocking_runs{0};
std::atomic<std::uint64_t> downloads_failed{0};

std::uint64_t proc_status_kb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string prefix = std::string(field) + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return std::stoull(line.substr(prefix.size()));
  }
  return 0;
}

std::string stats_text(const rpcnet::ServerStats& s) {
  std::ostringstream out;
#define RPCNET_STAT(name) out << #name "=" << s.name << "\n"
  RPCNET_STAT(connections_accepted);
  RPCNET_STAT(connections_open);
  RPCNET_STAT(handshakes_in_progress);
  RPCNET_STAT(calls_started);
  RPCNET_STAT(calls_active);
  RPCNET_STAT(datagrams_dropped);
  RPCNET_STAT(datagrams_forwarded);
  RPCNET_STAT(forwards_dropped);
  RPCNET_STAT(refused_connection_limit);
  RPCNET_STAT(refused_handshake_limit);
  RPCNET_STAT(refused_source_rate);
  RPCNET_STAT(retries_sent);
  RPCNET_STAT(invalid_tokens);
  RPCNET_STAT(stateless_resets_sent);
  RPCNET_STAT(close_packets_sent);
  RPCNET_STAT(close_packets_suppressed);
  RPCNET_STAT(header_timeouts);
  RPCNET_STAT(memory_budget_resets);
  RPCNET_STAT(blocking_calls_queued);
  RPCNET_STAT(blocking_calls_rejected);
  RPCNET_STAT(blocking_calls_skipped);
#undef RPCNET_STAT
  out << "blocking_runs=" << blocking_runs.load() << "\n";
  out << "downloads_failed=" << downloads_failed.load() << "\n";
  out << "vm_rss_kb=" << proc_status_kb("VmRSS") << "\n";
  out << "vm_hwm_kb=" << proc_status_kb("VmHWM") << "\n";
  return out.str();
}

std::uint32_t read_u32(const rpcnet::Bytes& bytes, std::size_t at) {
  std::uint32_t v = 0;
  if (bytes.size() >= at + 4) std::memcpy(&v, bytes.data() + at, 4);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto eq = arg.find('=');
    if (eq == std::string::npos) {
      std::cerr << "hostile_server: expected name=value, got " << arg << "\n";
      return 2;
    }
    args[arg.substr(0, eq)] = arg.substr(eq + 1);
  }
  const auto number = [&](const char* name, double fallback) {
    auto it = args.find(name);
    return it == args.end() ? fallback : std::stod(it->second);
  };
  const auto size = [&](const char* name, double fallback) {
    return static_cast<std::size_t>(number(name, fallback));
  };
  const rpcnet::RpcConfig defaults("", "");
  auto config =
      rpcnet::RpcConfig(args["cert"], "127.0.0.1:" + std::to_string(size("port", 0)))
          .with_key_path(args["key"])
          .with_event_loops(size("loops", 2))
          .with_worker_threads(size("workers", 2))
          .with_max_connections(size("max_connections", static_cast<double>(defaults.max_connections())))
          .with_max_handshakes(size("max_handshakes", static_cast<double>(defaults.max_handshakes())))
          .with_retry_threshold(size("retry_threshold", static_cast<double>(defaults.retry_threshold())))
          .with_handshake_rate_per_source(number("rate", defaults.handshakes_per_source_per_second()),
                                          number("burst", defaults.handshake_burst_per_source()))
          .with_max_connection_memory(size("memory", static_cast<double>(defaults.max_connection_memory())))
          .with_max_message_size(size("max_message", static_cast<double>(defaults.max_message_size())))
          .with_header_timeout(std::chrono::milliseconds(
              size("header_timeout_ms", static_cast<double>(defaults.header_timeout().count()))))
          .with_max_metadata(size("metadata_entries", static_cast<double>(defaults.max_metadata_entries())),
                             size("metadata_bytes", static_cast<double>(defaults.max_metadata_bytes())))
          .with_max_queued_blocking_calls(
              size("blocking_queue", static_cast<double>(defaults.max_queued_blocking_calls())))
          .with_max_concurrent_streams(size("max_streams", static_cast<double>(defaults.max_concurrent_streams())))
          .with_connect_timeout(std::chrono::milliseconds(
              size("connect_timeout_ms", static_cast<double>(defaults.connect_timeout().count()))));

  rpcnet::RpcServer server(config);
  server.register_method("echo", [](rpcnet::Bytes request) -> asio::awaitable<rpcnet::Result<rpcnet::Bytes>> {
    co_return request;
  });
  server.register_method("stats", [&server](rpcnet::Bytes) -> asio::awaitable<rpcnet::Result<rpcnet::Bytes>> {
    co_return rpcnet::to_bytes(stats_text(server.stats()));
  });
  server.register_blocking("slow_blocking",
                           [](rpcnet::Bytes, const rpcnet::CallContext& context) -> rpcnet::Result<rpcnet::Bytes> {
                             blocking_runs.fetch_add(1);
                             for (int i = 0; i < 20 && !context.cancelled(); ++i) {
                               std::this_thread::sleep_for(std::chrono::milliseconds(1));
                             }
                             return rpcnet::Bytes{};
                           });
  server.register_streaming("download", [](rpcnet::ServerStream stream) -> asio::awaitable<rpcnet::Result<void>> {
    auto request = co_await stream.read();
    if (!request || !*request) co_return rpcnet::ok();
    const std::uint32_t count = read_u32(**request, 0);
    const std::uint32_t bytes = read_u32(**request, 4);
    for (std::uint32_t i = 0; i < count; ++i) {
      if (auto written = co_await stream.write(rpcnet::Bytes(bytes, 0x42)); !written) {
        downloads_failed.fetch_add(1);
        co_return written;
      }
    }
    co_return rpcnet::ok();
  });

  auto bound = server.bind();
  if (!bound) {
    std::cerr << "hostile_server: " << bound.error() << "\n";
    return 1;
  }
  std::cout << "PORT " << bound->port() << std::endl;

  // stdin closing (the test ending, or dying) is the signal to shut down.
  std::thread watcher([&server] {
    char buffer[64];
    while (::read(0, buffer, sizeof buffer) > 0) {
    }
    server.shutdown(std::chrono::seconds(2));
  });
  auto served = server.run();
  watcher.join();
  if (!served) {
    std::cerr << "hostile_server: " << served.error() << "\n";
    return 1;
  }
  std::cout << "STOPPED" << std::endl;
  return 0;
}
