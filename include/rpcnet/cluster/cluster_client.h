// rpcnet/cluster/cluster_client.h — call "some worker" instead of one server.
//
// Contract: ClusterClient picks a worker from a WorkerRegistry for every call (strategy,
// filter and health rules: worker_registry.h), keeps one pooled QUIC connection per worker
// (reused by all calls, closed by the transport's idle timeout when unused), counts in-flight
// calls and latencies for the balancer, and retries. A pooled connection is replaced by the next
// call that needs it once it is closed (a failure, the peer's close, a stateless reset from a
// worker restarted on the same port), once the worker publishes another address, or once the
// worker's membership incarnation carries another boot time (incarnation_boot_seconds: the
// worker restarted; the old connection is closed, its calls fail). A higher incarnation with
// the same boot time (a refuted suspicion, new tags) keeps the connection.
// Retries:
//   - a call that never reached a handler (connect failure, connection already closed, refused
//     unstarted — RpcError::not_started()) is retried on another worker, always;
//   - a call with WorkerCallOptions::idempotent is also retried after UNAVAILABLE or a timeout;
//   - retries draw on a retry budget (RetryPolicy: by default at most 20 % extra load plus
//     10 retries/s), and the caller's deadline spans all attempts (retry_policy.h);
//   - optional hedging (idempotent calls, ClusterClientConfig::hedge_percentile): when the
//     first attempt has not answered after that percentile of the latencies of recent attempts
//     (successful AND failed ones, so slow failures in a brownout raise it; hedge_policy.h), a
//     second one starts on another worker; the first answer wins and the loser is cancelled (its
//     stream is reset, so the worker stops working on it). A hedge spends a token of the same
//     retry budget when it fires; with the budget empty no hedge is sent, the first attempt
//     goes on alone, and ClusterClientStats::hedges_suppressed_by_budget counts it.
// A worker whose connection fails is ejected for ClusterClientConfig::ejection so the next calls
// do not try it while gossip is still confirming the failure.
// Streaming calls retry only while opening (connect failures); once a stream exists its errors
// are the caller's.
//
// Threading: a ClusterClient lives on the event loop given at construction; its calls may be
// awaited from any loop (they hop to it and back). worker_stats() and stats() are thread-safe.
//
// Example:
//   #include <asio/this_coro.hpp>
//
//   asio::awaitable<rpcnet::Result<rpcnet::Bytes>> compute(
//       rpcnet::cluster::ClusterMembership cluster, rpcnet::Bytes data) {
//     auto registry = std::make_shared<rpcnet::cluster::WorkerRegistry>(cluster);
//     registry->start();
//     rpcnet::cluster::ClusterClientConfig config;
//     config.rpc = rpcnet::RpcConfig("certs/ca.pem", "0.0.0.0:0").with_server_name("localhost");
//     rpcnet::cluster::ClusterClient client(registry, std::move(config),
//                                           co_await asio::this_coro::executor);
//     rpcnet::cluster::WorkerCallOptions options;
//     options.idempotent = true;  // may be retried on another worker, and hedged
//     co_return co_await client.call_worker("compute", std::move(data), "role=worker", options);
//   }
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rpcnet/bytes.h"
#include "rpcnet/client.h"
#include "rpcnet/metrics.h"
#include "rpcnet/cluster/retry_policy.h"
#include "rpcnet/cluster/worker_registry.h"
#include "rpcnet/config.h"
#include "rpcnet/metadata.h"
#include "rpcnet/result.h"
#include "rpcnet/trace_context.h"

namespace rpcnet::cluster {

struct ClusterClientConfig {
  // TLS trust (cert_path = the CA), server name and client certificate for connections to the
  // workers; the same for every worker.
  RpcConfig rpc{"", "0.0.0.0:0"};
  RetryPolicy retry;
  // How long a worker whose connection failed is not selected (unless nothing else matches).
  std::chrono::milliseconds ejection{std::chrono::seconds(2)};
  // Hedging for idempotent calls that ask for it: start a second attempt when the first has not
  // answered after this percentile of recent attempt latencies, failures included (e.g. 0.95),
  // if the retry budget has a token for it. nullopt: no hedging.
  std::optional<double> hedge_percentile;
  // Never hedge sooner than this.
  std::chrono::milliseconds hedge_min_delay{1};
};

struct WorkerCallOptions {
  // Safe to run twice: retried after UNAVAILABLE and timeouts, and may be hedged.
  bool idempotent = false;
  // Use hedging (ClusterClientConfig::hedge_percentile) for this idempotent call.
  bool hedge = false;
  // Deadline of the whole call, all attempts together. nullopt: the RpcConfig default (30 s).
  std::optional<std::chrono::milliseconds> timeout;
  // Idempotent calls: longest one attempt may take before it is abandoned (its stream reset)
  // and retried on another worker within what is left of `timeout` — how a call escapes a worker
  // that went silent (a partition sends no error). nullopt: an attempt may use all of `timeout`.
  std::optional<std::chrono::milliseconds> attempt_timeout;
  Metadata metadata;
  // The trace to continue: from inside a handler, `options.trace_parent = context.trace_context();`.
  // Every attempt (retries and hedges included) then sends a traceparent with the same trace id
  // and a fresh parent id of its own, as CallOptions::trace_parent does (trace_context.h).
  std::optional<TraceContext> trace_parent;
};

struct WorkerStats {
  std::string id;
  std::uint64_t attempts = 0;   // attempts routed to this worker (retries and hedges included)
  std::uint64_t failures = 0;   // attempts that failed
  std::optional<std::chrono::steady_clock::time_point> last_routed;  // last attempt started
};

// Totals over the client's life. "Suppressed by budget": the retry or hedge was otherwise due
// but the retry budget had no token.
struct ClusterClientStats {
  std::uint64_t retries = 0;
  std::uint64_t retries_suppressed_by_budget = 0;
  std::uint64_t hedges = 0;
  std::uint64_t hedges_suppressed_by_budget = 0;
  // Pooled connections closed because their worker's incarnation showed a new boot time.
  std::uint64_t connections_dropped_for_restart = 0;
  // Workers set aside after their connection failed (WorkerRegistry::eject).
  std::uint64_t ejections = 0;
};

class ClusterClient {
 public:
  ClusterClient(std::shared_ptr<WorkerRegistry> registry, ClusterClientConfig config,
                asio::any_io_executor executor);
  ~ClusterClient();
  ClusterClient(const ClusterClient&) = delete;
  ClusterClient& operator=(const ClusterClient&) = delete;

  // Unary call on a worker matching `filter`. Errors: the last attempt's error; kStatus with
  // kUnavailable when no worker matches; kConfig for a malformed filter.
  asio::awaitable<Result<Bytes>> call_worker(std::string_view method, Bytes data, std::string_view filter = {},
                                             WorkerCallOptions options = {});
  // Server streaming, bidirectional and client streaming on a worker matching `filter`.
  asio::awaitable<Result<ResponseStream>> call_worker_server_streaming(std::string_view method, Bytes data,
                                                                       std::string_view filter = {},
                                                                       WorkerCallOptions options = {});
  asio::awaitable<Result<ResponseStream>> call_worker_streaming(std::string_view method, RequestSource requests,
                                                                std::string_view filter = {},
                                                                WorkerCallOptions options = {});
  asio::awaitable<Result<Bytes>> call_worker_client_streaming(std::string_view method, RequestSource requests,
                                                              std::string_view filter = {},
                                                              WorkerCallOptions options = {});

  std::vector<WorkerStats> worker_stats() const;
  ClusterClientStats stats() const;
  const std::shared_ptr<WorkerRegistry>& registry() const noexcept { return registry_; }

  struct State;  // implementation

 private:
  std::shared_ptr<WorkerRegistry> registry_;
  std::shared_ptr<State> state_;
  // Reports worker_stats() and stats() to config.rpc's registry; declared last: removed first.
  CollectorHandle metrics_;
};

}  // namespace rpcnet::cluster
