#include "rpc/transport_config.h"

#include <algorithm>

#include "quic/client_credentials_cache.h"
#include "quic/udp_payload.h"
#include "rpc/wire/codes.h"
#include "rpcnet/testing/in_memory_network.h"
#include "runtime/memory_network.h"
#include "runtime/route_mtu_cache.h"
#include "runtime/udp_socket.h"

namespace rpcnet::rpc {

Result<void> validate_limits(const RpcConfig& config) {
  if (config.max_message_size() == 0) return RpcError::config("max_message_size must be > 0");
  if (config.max_header_size() < 64) return RpcError::config("max_header_size must be >= 64 bytes");
  if (config.max_concurrent_streams() == 0) {
    return RpcError::config("max_concurrent_streams must be > 0");
  }
  if (config.idle_timeout().count() <= 0) return RpcError::config("idle_timeout must be > 0");
  if (config.connect_timeout().count() <= 0) return RpcError::config("connect_timeout must be > 0");
  if (config.keep_alive_interval() && config.keep_alive_interval()->count() <= 0) {
    return RpcError::config("keep_alive_interval must be > 0");
  }
  if (config.keep_alive_interval() && *config.keep_alive_interval() >= config.idle_timeout()) {
    return RpcError::config("keep_alive_interval must be shorter than idle_timeout");
  }
  if (config.max_connection_memory() / 2 < config.max_message_size()) {
    return RpcError::config("max_connection_memory (" + std::to_string(config.max_connection_memory()) +
                            " bytes) must be at least twice max_message_size (" +
                            std::to_string(config.max_message_size()) + " bytes)");
  }
  if (config.max_connections() == 0) return RpcError::config("max_connections must be > 0");
  if (config.max_handshakes() == 0) return RpcError::config("max_handshakes must be > 0");
  if (!(config.handshakes_per_source_per_second() > 0) || !(config.handshake_burst_per_source() >= 1)) {
    return RpcError::config("handshake_rate_per_source needs a rate > 0 and a burst >= 1");
  }
  if (config.header_timeout().count() <= 0) return RpcError::config("header_timeout must be > 0");
  if (config.max_udp_payload() != 0 &&
      (config.max_udp_payload() < quic::kMinUdpPayload || config.max_udp_payload() > quic::kMaxUdpPayload)) {
    return RpcError::config("max_udp_payload must be 0 (automatic) or 1200..65527 bytes, not " +
                            std::to_string(config.max_udp_payload()));
  }
  return {};
}

quic::TransportSettings transport_settings(const RpcConfig& config) {
  quic::TransportSettings settings;
  settings.max_streams_bidi = config.max_concurrent_streams();
  settings.idle_timeout = config.idle_timeout();
  settings.handshake_timeout = config.connect_timeout();
  settings.keep_alive = config.keep_alive_interval();
  // The most a stream's receive window may grow to (quic::StreamReceiveWindow) is at least a
  // whole message, so a window-limited transfer over a long path can carry one per round trip.
  // (Credit returns as the reader takes bytes, not whole messages, so any window works.)
  settings.max_stream_window =
      std::max<std::uint64_t>(settings.max_stream_window, config.max_message_size() + 1024);
  settings.max_connection_window =
      std::max<std::uint64_t>(settings.max_connection_window, 2 * settings.max_stream_window);
  settings.connection_memory = config.max_connection_memory();
  settings.budget_reset_code = static_cast<std::uint64_t>(wire::StreamErrorCode::kResourceExhausted);
  settings.budget_close_code = static_cast<std::uint64_t>(wire::ConnectionCloseCode::kResourceExhausted);
  settings.max_udp_payload = config.max_udp_payload();
  if (config.network()) {
    settings.clock = config.network()->implementation().clock();
  } else {
    settings.route_mtu = runtime::cached_route_mtu;
  }
  return settings;
}

quic::AdmissionLimits admission_limits(const RpcConfig& config) {
  quic::AdmissionLimits limits;
  limits.max_connections = config.max_connections();
  limits.max_handshakes = config.max_handshakes();
  limits.retry_threshold = config.retry_threshold();
  limits.handshakes_per_source_per_second = config.handshakes_per_source_per_second();
  limits.handshake_burst_per_source = config.handshake_burst_per_source();
  return limits;
}

grpc_compat::ConnectionLimits grpc_limits(const RpcConfig& config) {
  grpc_compat::ConnectionLimits limits;
  limits.session.max_concurrent_streams = static_cast<std::uint32_t>(
      std::min<std::uint64_t>(config.max_concurrent_streams(), INT32_MAX));
  // HPACK counts 32 bytes per field on top of its name and value; the call header made from the
  // fields is then held to max_header_size and the metadata limits by the call core.
  limits.session.max_header_list_bytes = static_cast<std::uint32_t>(std::min<std::size_t>(
      config.max_header_size() + 32 * (config.max_metadata_entries() + 16), UINT32_MAX));
  // As for QUIC: what the windows let a client send unread stays within half the budget.
  limits.session.connection_window = static_cast<std::uint32_t>(
      std::min<std::size_t>(config.max_connection_memory() / 2, INT32_MAX));
  limits.session.stream_window = std::min<std::uint32_t>(1u << 20, limits.session.connection_window);
  limits.memory_budget = config.max_connection_memory();
  limits.handshake_timeout = config.header_timeout();
  limits.idle_timeout = config.idle_timeout();
  limits.stream_send_buffer = transport_settings(config).stream_send_buffer;
  limits.frames = frame_limits(config);
  return limits;
}

wire::FrameLimits frame_limits(const RpcConfig& config) {
  return wire::FrameLimits{config.max_message_size(), config.max_header_size(),
                           config.max_metadata_entries(), config.max_metadata_bytes()};
}

namespace {

// Each KeyExchange and the name GnuTLS gives its group.
struct GroupName {
  KeyExchange group;
  std::string_view gnutls;
};
constexpr GroupName kGroupNames[] = {{KeyExchange::kX25519, "X25519"},
                                     {KeyExchange::kP256, "SECP256R1"},
                                     {KeyExchange::kP384, "SECP384R1"}};

// RpcConfig::with_key_exchange as GnuTLS group names, in the same order.
Result<std::vector<std::string>> tls_groups(const RpcConfig& config) {
  if (config.key_exchange().empty()) {
    return RpcError::config("with_key_exchange: the list of key-exchange groups is empty");
  }
  std::vector<std::string> names;
  for (const KeyExchange group : config.key_exchange()) {
    const auto* known = std::find_if(std::begin(kGroupNames), std::end(kGroupNames),
                                     [group](const GroupName& g) { return g.group == group; });
    if (known == std::end(kGroupNames)) {
      return RpcError::config("with_key_exchange: unknown key-exchange group");
    }
    if (std::find(names.begin(), names.end(), known->gnutls) != names.end()) {
      return RpcError::config("with_key_exchange: " + std::string(to_string(group)) + " is listed twice");
    }
    names.emplace_back(known->gnutls);
  }
  return names;
}

}  // namespace

std::string key_exchange_name(std::string_view gnutls_group) {
  for (const GroupName& known : kGroupNames) {
    if (known.gnutls == gnutls_group) return std::string(to_string(known.group));
  }
  return std::string(gnutls_group);
}

Result<std::shared_ptr<const quic::TlsCredentials>> server_credentials(const RpcConfig& config) {
  RPCNET_TRY(validate_limits(config));
  if (config.key_path().empty()) {
    return RpcError::config("server needs a private key: set with_key_path");
  }
  quic::ServerTlsOptions options;
  options.cert_path = config.cert_path();
  options.key_path = config.key_path();
  options.client_ca_path = config.ca_path();
  auto groups = tls_groups(config);
  if (!groups) return std::move(groups).error();
  options.groups = std::move(*groups);
  return quic::TlsCredentials::for_server(options);
}

Result<std::shared_ptr<const quic::TlsCredentials>> client_credentials(const RpcConfig& config,
                                                                       const SocketAddress& server) {
  RPCNET_TRY(validate_limits(config));
  quic::ClientTlsOptions options;
  auto groups = tls_groups(config);
  if (!groups) return std::move(groups).error();
  options.groups = std::move(*groups);
  const bool has_identity = !config.key_path().empty();
  if (has_identity) {
    if (config.ca_path().empty()) {
      return RpcError::config(
          "client with a certificate and key (mutual TLS) also needs with_ca_path to verify the "
          "server");
    }
    options.cert_path = config.cert_path();
    options.key_path = config.key_path();
    options.trust_path = config.ca_path();
  } else {
    options.trust_path = config.ca_path().empty() ? config.cert_path() : config.ca_path();
  }
  options.server_name =
      config.server_name().empty() ? server.address().to_string() : config.server_name();
  if (config.session_resumption()) {
    // Everything that decides whom we talk to and how we verify them: a ticket is offered only
    // under the same identity and trust it was obtained with.
    options.resumption_key = options.server_name + '\n' + to_string(server) + '\n' +
                             options.trust_path + '\n' + options.cert_path + '\n' +
                             options.key_path;
  }
  // Shared with earlier connects under the same settings and unchanged files.
  return quic::ClientCredentialsCache::process().get(options);
}

}  // namespace rpcnet::rpc
