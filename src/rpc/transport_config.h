// Turns an RpcConfig into what the transport needs, validating as it goes so every problem is
// reported as a kConfig error naming its culprit.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "quic/tls.h"
#include "quic/transport_settings.h"
#include "rpc/grpc/grpc_connection.h"
#include "rpc/wire/frame.h"
#include "rpcnet/config.h"
#include "rpcnet/result.h"

namespace rpcnet::rpc {

Result<void> validate_limits(const RpcConfig& config);
quic::TransportSettings transport_settings(const RpcConfig& config);
quic::AdmissionLimits admission_limits(const RpcConfig& config);
wire::FrameLimits frame_limits(const RpcConfig& config);
// The gRPC listener's bounds, from the same settings as the QUIC side's.
grpc_compat::ConnectionLimits grpc_limits(const RpcConfig& config);
Result<std::shared_ptr<const quic::TlsCredentials>> server_credentials(const RpcConfig& config);
// A GnuTLS group name as KeyExchange's to_string spells it ("SECP256R1" -> "P-256"); a name
// rpcnet does not configure comes back unchanged.
std::string key_exchange_name(std::string_view gnutls_group);
Result<std::shared_ptr<const quic::TlsCredentials>> client_credentials(const RpcConfig& config,
                                                                       const SocketAddress& server);

}  // namespace rpcnet::rpc
