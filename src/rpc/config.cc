#include "rpcnet/config.h"

#include "rpcnet/metrics.h"

namespace rpcnet {

RpcConfig::RpcConfig(std::string_view cert_path, std::string_view bind_address)
    : cert_path_(cert_path), bind_address_(bind_address) {}

RpcConfig& RpcConfig::with_key_path(std::string_view path) {
  key_path_ = path;
  return *this;
}
RpcConfig& RpcConfig::with_ca_path(std::string_view path) {
  ca_path_ = path;
  return *this;
}
RpcConfig& RpcConfig::with_server_name(std::string_view name) {
  server_name_ = name;
  return *this;
}
RpcConfig& RpcConfig::with_keep_alive_interval(std::chrono::milliseconds interval) {
  keep_alive_ = interval;
  return *this;
}
RpcConfig& RpcConfig::with_idle_timeout(std::chrono::milliseconds timeout) {
  idle_timeout_ = timeout;
  return *this;
}
RpcConfig& RpcConfig::with_connect_timeout(std::chrono::milliseconds timeout) {
  connect_timeout_ = timeout;
  return *this;
}
RpcConfig& RpcConfig::with_default_timeout(std::chrono::milliseconds timeout) {
  default_timeout_ = timeout;
  return *this;
}
RpcConfig& RpcConfig::with_max_message_size(std::size_t bytes) {
  max_message_size_ = bytes;
  return *this;
}
RpcConfig& RpcConfig::with_max_header_size(std::size_t bytes) {
  max_header_size_ = bytes;
  return *this;
}
RpcConfig& RpcConfig::with_max_concurrent_streams(std::uint64_t streams) {
  max_concurrent_streams_ = streams;
  return *this;
}
std::string_view to_string(Transport transport) noexcept {
  switch (transport) {
    case Transport::kQuic: return "QUIC";
    case Transport::kHttp2: return "HTTP/2";
  }
  return "unknown";
}

RpcConfig& RpcConfig::with_transport(TransportChoice choice) {
  transport_ = choice;
  return *this;
}

RpcConfig& RpcConfig::with_fallback_delay(std::chrono::milliseconds delay) {
  fallback_delay_ = delay;
  return *this;
}

RpcConfig& RpcConfig::with_grpc_over_tcp(std::optional<std::uint16_t> port) {
  grpc_over_tcp_ = true;
  grpc_port_ = port;
  return *this;
}

RpcConfig& RpcConfig::with_event_loops(std::size_t loops) {
  event_loops_ = loops;
  return *this;
}
RpcConfig& RpcConfig::with_worker_threads(std::size_t threads) {
  worker_threads_ = threads;
  return *this;
}

RpcConfig& RpcConfig::with_max_udp_payload(std::size_t bytes) {
  max_udp_payload_ = bytes;
  return *this;
}

std::string_view to_string(KeyExchange group) noexcept {
  switch (group) {
    case KeyExchange::kX25519:
      return "X25519";
    case KeyExchange::kP256:
      return "P-256";
    case KeyExchange::kP384:
      return "P-384";
  }
  return "unknown";
}

RpcConfig& RpcConfig::with_key_exchange(std::vector<KeyExchange> groups) {
  key_exchange_ = std::move(groups);
  return *this;
}

RpcConfig& RpcConfig::with_session_resumption(bool enabled) {
  session_resumption_ = enabled;
  return *this;
}

RpcConfig& RpcConfig::with_max_connections(std::size_t connections) {
  max_connections_ = connections;
  return *this;
}
RpcConfig& RpcConfig::with_max_handshakes(std::size_t handshakes) {
  max_handshakes_ = handshakes;
  return *this;
}
RpcConfig& RpcConfig::with_retry_threshold(std::size_t handshakes) {
  retry_threshold_ = handshakes;
  return *this;
}
RpcConfig& RpcConfig::with_handshake_rate_per_source(double per_second, double burst) {
  handshake_rate_ = per_second;
  handshake_burst_ = burst;
  return *this;
}
RpcConfig& RpcConfig::with_max_connection_memory(std::size_t bytes) {
  max_connection_memory_ = bytes;
  return *this;
}
RpcConfig& RpcConfig::with_header_timeout(std::chrono::milliseconds timeout) {
  header_timeout_ = timeout;
  return *this;
}
RpcConfig& RpcConfig::with_max_metadata(std::size_t entries, std::size_t bytes) {
  max_metadata_entries_ = entries;
  max_metadata_bytes_ = bytes;
  return *this;
}
RpcConfig& RpcConfig::with_max_queued_blocking_calls(std::size_t calls) {
  max_queued_blocking_calls_ = calls;
  return *this;
}
RpcConfig& RpcConfig::with_drain_delay(std::chrono::milliseconds delay) {
  drain_delay_ = delay;
  return *this;
}
RpcConfig& RpcConfig::with_max_health_watches(std::size_t watches) {
  max_health_watches_ = watches;
  return *this;
}

RpcConfig& RpcConfig::with_network(std::shared_ptr<testing::InMemoryNetwork> network) {
  network_ = std::move(network);
  return *this;
}

RpcConfig& RpcConfig::with_server_interceptor(std::shared_ptr<ServerInterceptor> interceptor) {
  if (interceptor) server_interceptors_.push_back(std::move(interceptor));
  return *this;
}

RpcConfig& RpcConfig::with_client_interceptor(std::shared_ptr<ClientInterceptor> interceptor) {
  if (interceptor) client_interceptors_.push_back(std::move(interceptor));
  return *this;
}

RpcConfig& RpcConfig::with_metrics_address(std::string_view address) {
  metrics_address_ = std::string(address);
  return *this;
}

RpcConfig& RpcConfig::with_metrics_registry(std::shared_ptr<MetricsRegistry> registry) {
  metrics_registry_ = std::move(registry);
  return *this;
}

RpcConfig& RpcConfig::with_method_metrics(bool enabled) {
  method_metrics_ = enabled;
  return *this;
}

MetricsRegistry& RpcConfig::metrics_registry() const noexcept {
  return metrics_registry_ ? *metrics_registry_ : default_metrics();
}

Result<SocketAddress> RpcConfig::parsed_bind_address() const {
  return parse_socket_address(bind_address_);
}

}  // namespace rpcnet
