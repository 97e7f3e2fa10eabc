#include <google/protobuf/descriptor.h>

#include <optional>
#include <utility>

#include "reflection/reflection_session.h"
#include "rpcnet/reflection.h"

namespace rpcnet {

namespace {
constexpr const char* kReflectionMethod = "grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
}

void enable_reflection(RpcServer& server) {
  // The handler lives in the server's method table, which the server clears before it goes away,
  // so the pointer never outlives it.
  RpcServer* const owner = &server;
  server.register_streaming(kReflectionMethod, [owner](ServerStream stream) -> asio::awaitable<Result<void>> {
    reflection::ReflectionSession session(
        *google::protobuf::DescriptorPool::generated_pool(),
        [owner] { return reflection::services_of(owner->method_names()); },
        owner->config().max_message_size());
    for (;;) {
      auto request = co_await stream.read();
      if (!request) co_return std::move(request).error();
      if (!*request) co_return ok();
      auto response = session.answer(**request);
      if (!response) co_return std::move(response).error();
      auto written = co_await stream.write(std::move(*response));
      if (!written) co_return written;
    }
  });
}

}  // namespace rpcnet
