// rpcnet/server_stream.h — the handler's side of a streaming call.
//
// A streaming handler reads the client's messages and writes its own, in any order and at any
// pace: the two directions are independent. Returning ends the call: an OK result sends an OK
// status, an error sends that error's status, which the client receives as an RpcError. Returning
// before the client finished sending tells it to stop (its further writes fail quietly).
//
// Backpressure: write() waits while the client is not reading; read() only grants the client
// more credit as messages are taken.
//
// Example (an echo stream):
//   server.register_streaming("echo_stream", [](rpcnet::ServerStream stream)
//       -> asio::awaitable<rpcnet::Result<void>> {
//     for (;;) {
//       auto next = co_await stream.read();
//       if (!next) co_return next.error();      // client cancelled, oversized message, ...
//       if (!*next) co_return rpcnet::ok();      // client finished sending
//       if (auto w = co_await stream.write(std::move(**next)); !w) co_return w;
//     }
//   });
#pragma once

#include <asio/awaitable.hpp>
#include <optional>

#include "rpcnet/bytes.h"
#include "rpcnet/call_context.h"
#include "rpcnet/result.h"

namespace rpcnet {

namespace detail {
class ServerCall;
}

class ServerStream {
 public:
  explicit ServerStream(detail::ServerCall& call) noexcept : call_(&call) {}

  // The next request message, or nullopt once the client finished sending.
  // Errors: CANCELLED (client cancelled or server shutting down), DEADLINE_EXCEEDED,
  // RESOURCE_EXHAUSTED (a message over max_message_size), INTERNAL (protocol violation).
  asio::awaitable<Result<std::optional<Bytes>>> read();

  // Sends one response message. Errors: kCancelled when the client went away,
  // kStatus RESOURCE_EXHAUSTED over max_message_size, kStatus FAILED_PRECONDITION for a second
  // message on a call that takes a single response (client streaming).
  asio::awaitable<Result<void>> write(Bytes message);

  CallContext& context() noexcept;

 private:
  detail::ServerCall* call_;
};

}  // namespace rpcnet
