// What an RpcServer reports to its MetricsRegistry: RpcServer::stats() and the transport view of
// every loop, written by a collector at scrape time, the handshake-duration histogram, and the
// /metrics endpoint when the config names an address. Metric names: doc/operations.md.
#pragma once

#include <memory>
#include <optional>

#include "rpcnet/metrics.h"
#include "rpcnet/metrics_server.h"
#include "rpcnet/result.h"

namespace rpcnet::detail {

class ServerState;

class ServerMetrics {
 public:
  // Creates the server's series and, if the config has a metrics address, starts serving
  // /metrics. Errors: kConfig (malformed metrics address), kIo (it cannot be listened on).
  static Result<std::unique_ptr<ServerMetrics>> start(const ServerState& state);
  // Registers the scrape-time collector of `state`'s stats; once its loops are complete.
  void collect_from(ServerState& state);

  Histogram& handshake_seconds() noexcept { return handshake_seconds_; }
  std::optional<SocketAddress> endpoint_address() const;

 private:
  explicit ServerMetrics(Histogram& handshake_seconds) : handshake_seconds_(handshake_seconds) {}
  Histogram& handshake_seconds_;
  CollectorHandle collector_;                // removed before the endpoint stops
  std::unique_ptr<MetricsServer> endpoint_;  // declared last: destroyed first
};

}  // namespace rpcnet::detail
