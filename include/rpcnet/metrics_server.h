// rpcnet/metrics_server.h — serves a MetricsRegistry at GET /metrics over plain HTTP, for
// Prometheus to scrape.
//
// RpcServer starts one by itself when its config has RpcConfig::with_metrics_address; start one
// yourself in a process that has no RpcServer (a director that only runs a ClusterClient).
//
// Contract: the server runs on a thread of its own until destroyed. It answers exactly
// "GET /metrics" (a query string is ignored) with 200 and the registry's Prometheus text; any
// other path is 404, any other method 405 (with "Allow: GET"), a malformed request 400, a
// request head over max_request_bytes 431, one not complete within request_timeout 408. Every
// response closes its connection. At most max_connections are served at once; further ones are
// closed unanswered. Plain HTTP: bind it to an address only your monitoring can reach.
//
// Example:
//   #include <iostream>
//
//   // Keep the returned server alive as long as metrics should be served.
//   rpcnet::Result<std::unique_ptr<rpcnet::MetricsServer>> serve_director_metrics() {
//     auto address = rpcnet::parse_socket_address("127.0.0.1:0");  // 0: the OS picks the port
//     if (!address) return address.error();
//     auto metrics = rpcnet::MetricsServer::start(*address);  // serves rpcnet::default_metrics()
//     if (metrics) std::cout << "scrape http://" << rpcnet::to_string((*metrics)->address()) << "/metrics\n";
//     return metrics;
//   }
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>

#include "rpcnet/address.h"
#include "rpcnet/metrics.h"
#include "rpcnet/result.h"

namespace rpcnet {

struct MetricsServerOptions {
  std::size_t max_request_bytes = 8192;
  std::chrono::milliseconds request_timeout{5000};
  std::size_t max_connections = 16;
};

class MetricsServer {
 public:
  // Binds a TCP listener on `address` (the port rpcnet's address type carries; 0 lets the OS
  // choose) and starts serving `registry`, which must outlive the server.
  // Errors: kIo when the address cannot be bound (e.g. the port is taken).
  static Result<std::unique_ptr<MetricsServer>> start(const SocketAddress& address,
                                                      MetricsRegistry& registry = default_metrics(),
                                                      MetricsServerOptions options = {});
  // Stops listening, closes open connections and joins the thread.
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The bound address (with the chosen port).
  SocketAddress address() const;

  struct Stats {
    std::uint64_t requests = 0;          // answered, any status
    std::uint64_t connections_refused = 0;  // over max_connections
  };
  Stats stats() const;

 private:
  struct State;
  explicit MetricsServer(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace rpcnet
