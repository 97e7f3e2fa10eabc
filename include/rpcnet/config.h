// rpcnet/config.h — RpcConfig: TLS material, addresses and limits, shared by servers and clients.
//
// Certificates (PEM files):
//   Server: cert_path + key_path are the server's identity. Setting ca_path turns on mutual TLS:
//           clients must then present a certificate issued by that CA, or the handshake fails.
//   Client: the certificate to trust is ca_path if set, otherwise cert_path (so a client config
//           can simply name the CA or the server's own certificate). A client
//           that sets key_path presents cert_path/key_path as its own certificate (mutual TLS),
//           and then needs ca_path for the server's CA.
// server_name is what the client verifies in the server certificate (a DNS name or an IP
// literal); empty means "the IP address connected to". Development certificates for all of this
// come from `rpcnet certs` (rpcnet/certs.h).
//
// Every setter returns *this, so configs read as builder chains. Text parameters are
// std::string_view on purpose: GCC 12 miscompiles a std::string parameter initialised from a
// string literal inside a co_await expression ("array used as initializer"), and configs are
// often built right inside `co_await RpcClient::connect(...)`. Invalid values are
// reported when the config is used (RpcServer::bind, RpcClient::connect) as kConfig errors that
// name the culprit.
//
// Example:
//   rpcnet::RpcConfig server_config() {
//     return rpcnet::RpcConfig("certs/server.pem", "127.0.0.1:0")
//         .with_key_path("certs/server-key.pem")
//         .with_server_name("localhost")
//         .with_keep_alive_interval(std::chrono::seconds(30));
//   }
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rpcnet/address.h"
#include "rpcnet/result.h"

namespace rpcnet {

class MetricsRegistry;

namespace testing {
class InMemoryNetwork;
}
class ServerInterceptor;
class ClientInterceptor;

// Timeout for calls whose options and client config set none: 30 s.
inline constexpr std::chrono::milliseconds kDefaultCallTimeout{30'000};

// TLS 1.3 key-exchange groups (RpcConfig::with_key_exchange).
enum class KeyExchange : unsigned char { kX25519, kP256, kP384 };
// "X25519", "P-256", "P-384".
std::string_view to_string(KeyExchange group) noexcept;

// What carries a client's calls: rpcnet's protocol over QUIC, or gRPC over HTTP/2 + TLS on TCP
// (for networks that block UDP; the server needs RpcConfig::with_grpc_over_tcp).
enum class Transport : unsigned char { kQuic, kHttp2 };
// "QUIC", "HTTP/2".
std::string_view to_string(Transport transport) noexcept;
// Which transports RpcClient::connect may use (RpcConfig::with_transport).
enum class TransportChoice : unsigned char {
  kAuto,       // QUIC; HTTP/2 too when QUIC has not connected within the fallback delay
  kQuicOnly,
  kHttp2Only,
};

class RpcConfig {
 public:
  RpcConfig(std::string_view cert_path, std::string_view bind_address);

  RpcConfig& with_key_path(std::string_view path);
  RpcConfig& with_ca_path(std::string_view path);
  RpcConfig& with_server_name(std::string_view name);
  // PING interval on an otherwise idle connection. Both ends should use the same value (the
  // guide's "mirrored" keep-alive). Default: off.
  RpcConfig& with_keep_alive_interval(std::chrono::milliseconds interval);
  // A connection with no traffic for this long is closed silently. Default: 60 s.
  RpcConfig& with_idle_timeout(std::chrono::milliseconds timeout);
  // How long RpcClient::connect may take (handshake included). Default: 5 s.
  RpcConfig& with_connect_timeout(std::chrono::milliseconds timeout);
  // Client: deadline of calls that set none. Default: 30 s (kDefaultCallTimeout).
  RpcConfig& with_default_timeout(std::chrono::milliseconds timeout);
  // Largest message payload accepted or sent, in bytes. Default: 16 MiB.
  RpcConfig& with_max_message_size(std::size_t bytes);
  // Largest call header or status trailer, in bytes. Default: 16 KiB.
  RpcConfig& with_max_header_size(std::size_t bytes);
  // Server: calls one client connection may have in flight at once. Default: 1024.
  RpcConfig& with_max_concurrent_streams(std::uint64_t streams);
  // Client: resume TLS sessions with tickets from earlier connections to the same server (same
  // name, address and certificates), which skips the certificate exchange. Default: on.
  RpcConfig& with_session_resumption(bool enabled);
  // The TLS 1.3 key-exchange groups a client offers or a server accepts, in order of
  // preference. Default: X25519, P-256, P-384. A client and a server with none in common fail
  // the handshake (kTls on the client). An empty list is a kConfig error at bind() / connect().
  // RpcClient::tls_parameters() says which group a connection used.
  RpcConfig& with_key_exchange(std::vector<KeyExchange> groups);
  // Server: also serve gRPC over HTTP/2 + TLS 1.3 (ALPN "h2") on TCP, so stock gRPC clients in
  // any language can call the same handlers (doc/interop.md). `port` unset: the TCP port with
  // the number the UDP endpoint got (with an OS-picked UDP port, one free for both is chosen);
  // 0: any free TCP port; else that port. RpcServer::grpc_address() says where. The same
  // certificate, limits, interceptors, metrics and health apply. Default: off.
  RpcConfig& with_grpc_over_tcp(std::optional<std::uint16_t> port = std::nullopt);
  // Client: the transports connect() may use. kAuto (the default) races them the way RFC 8305
  // races address families: QUIC starts at once; if its handshake has not completed within the
  // fallback delay (or it failed sooner), a TCP + TLS connection to the same address and port
  // starts too, and whichever connects first carries the calls (the other is abandoned).
  // RpcClient::transport() says which; calls, streaming, deadlines, cancellation and errors
  // behave the same on both. Over HTTP/2 the calls are gRPC calls: the server must have
  // with_grpc_over_tcp on that port.
  RpcConfig& with_transport(TransportChoice choice);
  // Client: how long kAuto gives QUIC alone before starting TCP as well. Default: 250 ms.
  RpcConfig& with_fallback_delay(std::chrono::milliseconds delay);
  // Server: event loops (threads) serving connections. Default: 0 = one per core.
  RpcConfig& with_event_loops(std::size_t loops);
  // Server: threads running handlers registered with register_blocking. Default: 2.
  RpcConfig& with_worker_threads(std::size_t threads);
  // Largest UDP payload sent, in bytes: 1200 (QUIC's minimum) to 65527. Default: 0 =
  // automatic: the MTU of the route to the peer (the outgoing interface's) minus the IP and UDP
  // headers, up to 16 KiB. On loopback that size is used from the first packet; on any other
  // route packets start at 1200 bytes and path-MTU discovery raises them toward it (a smaller
  // MTU on the way costs a lost probe, never the connection). RpcClient::max_udp_payload() says
  // what a connection reached.
  RpcConfig& with_max_udp_payload(std::size_t bytes);

  // ---- Limits: what a peer can make a server hold (doc/architecture.md, "Limits") ----------
  // Each says its default, its unit, and what the peer gets when it is exceeded. The server
  // keeps serving everyone else in every case.
  //
  // Server: connections open at once. Past it a new client's connect fails with kConnection:
  // "server … refused the connection: the server has its maximum of N connections".
  // Default: 10,000.
  RpcConfig& with_max_connections(std::size_t connections);
  // Server: TLS handshakes in progress at once. Past it a new client's connect is refused the
  // same way ("… maximum of N handshakes in progress"). Default: 1,000.
  RpcConfig& with_max_handshakes(std::size_t handshakes);
  // Server: handshakes in progress from which a new client must first prove its address with a
  // QUIC Retry round trip (stateless: a spoofed source then costs no TLS work). 0 = always.
  // Clients follow the Retry by themselves; it costs them one round trip. Default: 100.
  RpcConfig& with_retry_threshold(std::size_t handshakes);
  // Server: new connections per second one source address (an IPv4 address, an IPv6 /64) may
  // start, `burst` of them at once, while the server is under handshake pressure (at or past
  // the Retry threshold; an idle server throttles nobody). Past it connect fails with
  // kConnection: "… refused the connection: too many new connections from this address".
  // Default: 100/s, burst 100.
  RpcConfig& with_handshake_rate_per_source(double per_second, double burst);
  // Bytes one connection's peer can make us hold: its calls' headers and metadata, received
  // data not yet read, partly decoded and queued messages, responses not yet sent. The QUIC
  // receive window is capped at half of it, so what the transport buffers stays within it too.
  // A stream that needs more is reset with RESOURCE_EXHAUSTED (the caller gets kStream /
  // kResourceExhausted); a connection that keeps doing it (8 times) is closed. Must be at least
  // twice max_message_size. Default: 64 MiB.
  RpcConfig& with_max_connection_memory(std::size_t bytes);
  // Server: time a call's header may take to arrive once its stream opened; a stream still
  // without one is reset (the caller gets kStream / kDeadlineExceeded). Default: 10 s.
  RpcConfig& with_header_timeout(std::chrono::milliseconds timeout);
  // Metadata entries, and their total bytes (keys plus values), accepted in one call header
  // (server) or status trailer (client). Past either the call ends with RESOURCE_EXHAUSTED.
  // Default: 64 entries, 8 KiB.
  RpcConfig& with_max_metadata(std::size_t entries, std::size_t bytes);
  // Server: calls of register_blocking handlers waiting for a worker thread. Past it a call ends
  // at once with RESOURCE_EXHAUSTED, and its handler never runs. Default: 1,024.
  RpcConfig& with_max_queued_blocking_calls(std::size_t calls);
  // Server: the drain (lame-duck) phase at the start of a graceful shutdown. For this long the
  // server's health (rpcnet/health.h) already says NOT_SERVING, so load balancers, health
  // watchers and cluster peers (a worker's membership tag) stop sending, while new calls are
  // still accepted; only then does the server refuse new calls and start its grace period.
  // Set it to the time your balancers need to notice: their check interval times their
  // unhealthy threshold, or for a cluster worker a few gossip rounds (doc/operations.md).
  // Default: 0 (no drain phase: new calls are refused as soon as shutdown() is called).
  RpcConfig& with_drain_delay(std::chrono::milliseconds delay);
  // Server: health watches (grpc.health.v1.Health/Watch streams) open at a time; past it a new
  // watch ends at once with RESOURCE_EXHAUSTED. Default: 1,024.
  RpcConfig& with_max_health_watches(std::size_t watches);

  // Server: also serve GET /metrics (Prometheus text format, plain HTTP) on `address`, e.g.
  // "127.0.0.1:9464"; port 0 lets the OS choose (RpcServer::metrics_address()). It starts with
  // bind(), which fails with kConfig for a malformed address and kIo when it cannot listen.
  // Default: none (the metrics are still kept; serve them with MetricsServer if you like).
  RpcConfig& with_metrics_address(std::string_view address);
  // The registry a server reports into and /metrics serves. Default: default_metrics(). A
  // process running several servers gives each its own, so their series do not collide.
  RpcConfig& with_metrics_registry(std::shared_ptr<MetricsRegistry> registry);
  // Per-method call metrics (calls started, finished by code, duration, bytes), kept by an
  // interceptor that runs before the ones added with with_*_interceptor. Default: on.
  RpcConfig& with_method_metrics(bool enabled);

  // Testing: serve or connect over `network` (rpcnet/testing/in_memory_network.h) in virtual
  // time, instead of over UDP sockets in real time. A server then runs one event loop, the
  // network's. Default: none.
  RpcConfig& with_network(std::shared_ptr<testing::InMemoryNetwork> network);

  // Interceptors (rpcnet/interceptor.h), appended to the chain in the order added: server ones
  // run around every call an RpcServer serves, client ones around every call an RpcClient
  // makes. Default: none. A null pointer is ignored.
  RpcConfig& with_server_interceptor(std::shared_ptr<ServerInterceptor> interceptor);
  RpcConfig& with_client_interceptor(std::shared_ptr<ClientInterceptor> interceptor);

  const std::string& cert_path() const noexcept { return cert_path_; }
  const std::string& bind_address() const noexcept { return bind_address_; }
  const std::string& key_path() const noexcept { return key_path_; }
  const std::string& ca_path() const noexcept { return ca_path_; }
  const std::string& server_name() const noexcept { return server_name_; }
  std::optional<std::chrono::milliseconds> keep_alive_interval() const noexcept { return keep_alive_; }
  std::chrono::milliseconds idle_timeout() const noexcept { return idle_timeout_; }
  std::chrono::milliseconds connect_timeout() const noexcept { return connect_timeout_; }
  std::chrono::milliseconds default_timeout() const noexcept { return default_timeout_; }
  std::size_t max_message_size() const noexcept { return max_message_size_; }
  std::size_t max_header_size() const noexcept { return max_header_size_; }
  std::uint64_t max_concurrent_streams() const noexcept { return max_concurrent_streams_; }
  std::size_t event_loops() const noexcept { return event_loops_; }
  bool grpc_over_tcp() const noexcept { return grpc_over_tcp_; }
  TransportChoice transport() const noexcept { return transport_; }
  std::chrono::milliseconds fallback_delay() const noexcept { return fallback_delay_; }
  // The TCP port asked for with with_grpc_over_tcp (unset: the UDP port's number).
  std::optional<std::uint16_t> grpc_port() const noexcept { return grpc_port_; }
  std::size_t worker_threads() const noexcept { return worker_threads_; }
  std::size_t max_udp_payload() const noexcept { return max_udp_payload_; }
  bool session_resumption() const noexcept { return session_resumption_; }
  const std::vector<KeyExchange>& key_exchange() const noexcept { return key_exchange_; }
  std::size_t max_connections() const noexcept { return max_connections_; }
  std::size_t max_handshakes() const noexcept { return max_handshakes_; }
  std::size_t retry_threshold() const noexcept { return retry_threshold_; }
  double handshakes_per_source_per_second() const noexcept { return handshake_rate_; }
  double handshake_burst_per_source() const noexcept { return handshake_burst_; }
  std::size_t max_connection_memory() const noexcept { return max_connection_memory_; }
  std::chrono::milliseconds header_timeout() const noexcept { return header_timeout_; }
  std::size_t max_metadata_entries() const noexcept { return max_metadata_entries_; }
  std::size_t max_metadata_bytes() const noexcept { return max_metadata_bytes_; }
  std::size_t max_queued_blocking_calls() const noexcept { return max_queued_blocking_calls_; }
  std::chrono::milliseconds drain_delay() const noexcept { return drain_delay_; }
  std::size_t max_health_watches() const noexcept { return max_health_watches_; }
  const std::shared_ptr<testing::InMemoryNetwork>& network() const noexcept { return network_; }
  const std::vector<std::shared_ptr<ServerInterceptor>>& server_interceptors() const noexcept {
    return server_interceptors_;
  }
  const std::vector<std::shared_ptr<ClientInterceptor>>& client_interceptors() const noexcept {
    return client_interceptors_;
  }
  const std::string& metrics_address() const noexcept { return metrics_address_; }
  // The registry set with with_metrics_registry, else default_metrics().
  MetricsRegistry& metrics_registry() const noexcept;
  bool method_metrics() const noexcept { return method_metrics_; }

  // The bind address, parsed. Errors: kConfig naming the address.
  Result<SocketAddress> parsed_bind_address() const;

 private:
  std::string cert_path_;
  std::string bind_address_;
  std::string key_path_;
  std::string ca_path_;
  std::string server_name_;
  std::optional<std::chrono::milliseconds> keep_alive_;
  std::chrono::milliseconds idle_timeout_{60'000};
  std::chrono::milliseconds connect_timeout_{5'000};
  std::chrono::milliseconds default_timeout_{kDefaultCallTimeout};
  std::size_t max_message_size_ = 16u << 20;
  std::size_t max_header_size_ = 16u << 10;
  std::uint64_t max_concurrent_streams_ = 1024;
  std::size_t event_loops_ = 0;
  bool grpc_over_tcp_ = false;
  TransportChoice transport_ = TransportChoice::kAuto;
  std::chrono::milliseconds fallback_delay_{250};
  std::optional<std::uint16_t> grpc_port_;
  std::size_t worker_threads_ = 2;
  std::size_t max_udp_payload_ = 0;
  bool session_resumption_ = true;
  std::vector<KeyExchange> key_exchange_ = {KeyExchange::kX25519, KeyExchange::kP256, KeyExchange::kP384};
  std::size_t max_connections_ = 10'000;
  std::size_t max_handshakes_ = 1'000;
  std::size_t retry_threshold_ = 100;
  double handshake_rate_ = 100;
  double handshake_burst_ = 100;
  std::size_t max_connection_memory_ = 64u << 20;
  std::chrono::milliseconds header_timeout_{10'000};
  std::size_t max_metadata_entries_ = 64;
  std::size_t max_metadata_bytes_ = 8u << 10;
  std::size_t max_queued_blocking_calls_ = 1'024;
  std::chrono::milliseconds drain_delay_{0};
  std::size_t max_health_watches_ = 1'024;
  std::shared_ptr<testing::InMemoryNetwork> network_;
  std::vector<std::shared_ptr<ServerInterceptor>> server_interceptors_;
  std::vector<std::shared_ptr<ClientInterceptor>> client_interceptors_;
  std::string metrics_address_;
  std::shared_ptr<MetricsRegistry> metrics_registry_;
  bool method_metrics_ = true;
};

}  // namespace rpcnet
