// Turns an RpcConfig into what the transport needs, validating as it goes so every problem is
// reported as a kConfig error naming its culprit.
#pragma once

#include <memory>

#include "quic/tls.h"
#include "quic/transport_settings.h"
#include "rpc/wire/frame.h"
#include "rpcnet/config.h"
#include "rpcnet/result.h"

namespace rpcnet::rpc {

Result<void> validate_limits(const RpcConfig& config);
quic::TransportSettings transport_settings(const RpcConfig& config);
quic::AdmissionLimits admission_limits(const RpcConfig& config);
wire::FrameLimits frame_limits(const RpcConfig& config);
Result<std::shared_ptr<const quic::TlsCredentials>> server_credentials(const RpcConfig& config);
Result<std::shared_ptr<const quic::TlsCredentials>> client_credentials(const RpcConfig& config,
                                                                       const SocketAddress& server);

}  // namespace rpcnet::rpc
