// Per-method metrics, built as the first interceptor of every server and client chain (so a call
// a later interceptor rejects is still counted): calls started, finished by status code,
// duration, request and response bytes. Series names: doc/operations.md. On by default;
// RpcConfig::with_method_metrics(false) leaves the chain as the user built it.
#pragma once

#include <memory>
#include <vector>

#include "rpcnet/config.h"
#include "rpcnet/interceptor.h"

namespace rpcnet::rpc {

// The user's chain behind the metrics interceptor (when enabled), reporting to the config's
// registry.
std::vector<std::shared_ptr<ServerInterceptor>> server_chain(const RpcConfig& config);
std::vector<std::shared_ptr<ClientInterceptor>> client_chain(const RpcConfig& config);

}  // namespace rpcnet::rpc
