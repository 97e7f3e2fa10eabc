#include "rpc/server_metrics.h"

#include <asio/post.hpp>
#include <chrono>
#include <future>

#include "quic/server_endpoint.h"
#include "rpc/server_call.h"
#include "rpcnet/server.h"  // ServerStats

namespace rpcnet::detail {
namespace {

// A scrape waits this long for each loop's transport figures; a loop that is busy (or is the
// scraping thread itself) is left out of that scrape rather than stalling it.
constexpr std::chrono::milliseconds kLoopAnswerLimit{200};

using TransportSnapshot = quic::ServerEndpoint::TransportSnapshot;

TransportSnapshot transport_of_all_loops(ServerState& state) {
  std::vector<std::future<TransportSnapshot>> answers;
  for (auto& loop : state.loops) {
    auto promise = std::make_shared<std::promise<TransportSnapshot>>();
    answers.push_back(promise->get_future());
    asio::post(loop->executor, [promise, endpoint = loop->endpoint] {
      promise->set_value(endpoint->transport_snapshot());
    });
  }
  TransportSnapshot total;
  for (auto& answer : answers) {
    if (answer.wait_for(kLoopAnswerLimit) != std::future_status::ready) continue;
    const TransportSnapshot loop = answer.get();
    total.packets_sent += loop.packets_sent;
    total.packets_received += loop.packets_received;
    total.bytes_sent += loop.bytes_sent;
    total.bytes_received += loop.bytes_received;
    if (loop.open > 0) {
      total.smoothed_rtt_min_ns =
          total.open == 0 ? loop.smoothed_rtt_min_ns : std::min(total.smoothed_rtt_min_ns, loop.smoothed_rtt_min_ns);
      total.smoothed_rtt_max_ns = std::max(total.smoothed_rtt_max_ns, loop.smoothed_rtt_max_ns);
    }
    total.smoothed_rtt_sum_ns += loop.smoothed_rtt_sum_ns;
    total.cwnd_bytes += loop.cwnd_bytes;
    total.bytes_in_flight += loop.bytes_in_flight;
    total.open += loop.open;
  }
  return total;
}

void write_server_stats(MetricsWriter& out, const ServerStats& s) {
  const auto count = [&out](const char* name, const char* help, std::uint64_t value, const MetricLabels& labels = {}) {
    out.counter(name, help, labels, static_cast<double>(value));
  };
  const auto level = [&out](const char* name, const char* help, std::uint64_t value) {
    out.gauge(name, help, {}, static_cast<double>(value));
  };
  count("rpcnet_server_connections_accepted_total", "Connections accepted (handshake started).", s.connections_accepted);
  level("rpcnet_server_connections_open", "Connections open now.", s.connections_open);
  level("rpcnet_server_handshakes_in_progress", "TLS handshakes in progress now.", s.handshakes_in_progress);
  constexpr const char* kRefused = "New connections refused, by reason.";
  count("rpcnet_server_connections_refused_total", kRefused, s.refused_connection_limit, {{"reason", "connection_limit"}});
  count("rpcnet_server_connections_refused_total", kRefused, s.refused_handshake_limit, {{"reason", "handshake_limit"}});
  count("rpcnet_server_connections_refused_total", kRefused, s.refused_source_rate, {{"reason", "source_rate"}});
  count("rpcnet_server_connections_refused_total", kRefused, s.invalid_tokens, {{"reason", "invalid_token"}});
  // The gRPC-over-HTTP/2 listener's connections (RpcConfig::with_grpc_over_tcp), apart from QUIC's.
  count("rpcnet_server_grpc_connections_accepted_total", "TCP connections accepted by the gRPC listener.",
        s.grpc_connections_accepted);
  level("rpcnet_server_grpc_connections_open", "gRPC-over-HTTP/2 connections open now.", s.grpc_connections_open);
  count("rpcnet_server_grpc_connections_refused_total", "gRPC-over-HTTP/2 connections refused, by reason.",
        s.grpc_refused_connection_limit, {{"reason", "connection_limit"}});
  count("rpcnet_server_streams_started_total", "Call streams the server started serving.", s.calls_started);
  level("rpcnet_server_streams_open", "Call streams open now.", s.calls_active);
  count("rpcnet_server_datagrams_dropped_total", "Datagrams dropped: garbage, unknown connections, refused handshakes.", s.datagrams_dropped);
  count("rpcnet_server_datagrams_forwarded_total", "Datagrams forwarded to the loop owning their connection.", s.datagrams_forwarded);
  count("rpcnet_server_forwards_dropped_total", "Datagrams dropped because a loop's forward queue was full.", s.forwards_dropped);
  count("rpcnet_server_retries_sent_total", "Initials answered with a Retry (address validation).", s.retries_sent);
  count("rpcnet_server_stateless_resets_sent_total", "Stateless resets sent for unknown connections.", s.stateless_resets_sent);
  count("rpcnet_server_close_packets_sent_total", "CONNECTION_CLOSE packets re-sent to closing connections.", s.close_packets_sent);
  count("rpcnet_server_close_packets_suppressed_total", "CONNECTION_CLOSE answers withheld by the rate limit.", s.close_packets_suppressed);
  constexpr const char* kReset = "Call streams reset by a server limit, by reason.";
  count("rpcnet_server_stream_resets_total", kReset, s.header_timeouts, {{"reason", "header_timeout"}});
  count("rpcnet_server_stream_resets_total", kReset, s.memory_budget_resets, {{"reason", "connection_memory"}});
  level("rpcnet_server_blocking_calls_queued", "Blocking calls waiting for a worker thread now.", s.blocking_calls_queued);
  count("rpcnet_server_blocking_calls_rejected_total", "Blocking calls rejected: queue full.", s.blocking_calls_rejected);
  count("rpcnet_server_blocking_calls_skipped_total", "Blocking calls cancelled before a worker started them.", s.blocking_calls_skipped);
  count("rpcnet_server_client_chains_verified_total",
        "Client certificate chains verified in full under mutual TLS (not answered by the cache).",
        s.client_chains_verified);
}

void write_transport(MetricsWriter& out, const TransportSnapshot& t) {
  out.counter("rpcnet_transport_packets_sent_total", "QUIC packets sent.", {}, static_cast<double>(t.packets_sent));
  out.counter("rpcnet_transport_packets_received_total", "QUIC packets received.", {}, static_cast<double>(t.packets_received));
  out.counter("rpcnet_transport_bytes_sent_total", "UDP payload bytes sent.", {}, static_cast<double>(t.bytes_sent));
  out.counter("rpcnet_transport_bytes_received_total", "UDP payload bytes received.", {}, static_cast<double>(t.bytes_received));
  if (t.open > 0) {
    constexpr const char* kRtt = "Smoothed RTT over open connections (min, mean, max).";
    out.gauge("rpcnet_transport_smoothed_rtt_seconds", kRtt, {{"stat", "min"}}, static_cast<double>(t.smoothed_rtt_min_ns) * 1e-9);
    out.gauge("rpcnet_transport_smoothed_rtt_seconds", kRtt, {{"stat", "mean"}},
              t.smoothed_rtt_sum_ns / static_cast<double>(t.open) * 1e-9);
    out.gauge("rpcnet_transport_smoothed_rtt_seconds", kRtt, {{"stat", "max"}}, static_cast<double>(t.smoothed_rtt_max_ns) * 1e-9);
  }
  out.gauge("rpcnet_transport_congestion_window_bytes", "Congestion windows of open connections, summed.", {},
            static_cast<double>(t.cwnd_bytes));
  out.gauge("rpcnet_transport_bytes_in_flight", "Bytes sent and not yet acknowledged, summed over open connections.", {},
            static_cast<double>(t.bytes_in_flight));
}

}  // namespace

Result<std::unique_ptr<ServerMetrics>> ServerMetrics::start(const ServerState& state) {
  MetricsRegistry& registry = state.config.metrics_registry();
  Histogram& handshakes = registry.histogram("rpcnet_server_handshake_duration_seconds",
                                             "From a connection's first Initial to its completed handshake.",
                                             MetricsRegistry::latency_buckets());
  std::unique_ptr<ServerMetrics> metrics(new ServerMetrics(handshakes));
  if (!state.config.metrics_address().empty()) {
    auto address = parse_socket_address(state.config.metrics_address());
    if (!address) return RpcError::config("metrics address: " + address.error().message());
    auto endpoint = MetricsServer::start(*address, registry);
    if (!endpoint) return std::move(endpoint).error();
    metrics->endpoint_ = std::move(*endpoint);
  }
  return metrics;
}

void ServerMetrics::collect_from(ServerState& state) {
  collector_ = state.config.metrics_registry().add_collector([&state](MetricsWriter& out) {
    write_server_stats(out, state.stats());
    write_transport(out, transport_of_all_loops(state));
  });
}

std::optional<SocketAddress> ServerMetrics::endpoint_address() const {
  if (!endpoint_) return std::nullopt;
  return endpoint_->address();
}

}  // namespace rpcnet::detail
