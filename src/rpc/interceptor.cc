#include "rpcnet/interceptor.h"

namespace rpcnet {

std::string_view call_type_name(CallType type) noexcept {
  switch (type) {
    case CallType::kUnary: return "unary";
    case CallType::kServerStreaming: return "server_streaming";
    case CallType::kClientStreaming: return "client_streaming";
    case CallType::kBidiStreaming: return "bidi_streaming";
  }
  return "unknown";
}

asio::awaitable<Result<void>> ServerInterceptor::on_start(ServerCallInfo&) { co_return ok(); }
void ServerInterceptor::on_end(const ServerCallInfo&, const CallOutcome&) noexcept {}

asio::awaitable<Result<void>> ClientInterceptor::on_start(ClientCallInfo&) { co_return ok(); }
void ClientInterceptor::on_end(const ClientCallInfo&, const CallOutcome&) noexcept {}

}  // namespace rpcnet
