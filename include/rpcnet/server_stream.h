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
// WARNING: a ServerStream and the CallContext& it hands out die with the handler. The server
// builds the stream for one handler invocation and frees the call when the handler's coroutine
// returns; a stream (or a CallContext&) moved or referenced into anything that outlives the
// handler — a detached coroutine, a callback, a member of a longer-lived object — dangles. This
// is why a ServerStream is move-only and only the server can make one: take it by value and
// use it inside the handler. Copy out what you need later (metadata, peer identity) as values.
//
// Example (an echo stream):
//   void add_echo_stream(rpcnet::RpcServer& server) {
//     server.register_streaming("echo_stream", [](rpcnet::ServerStream stream)
//         -> asio::awaitable<rpcnet::Result<void>> {
//       for (;;) {
//         auto next = co_await stream.read();
//         if (!next) co_return next.error();      // client cancelled, oversized message, ...
//         if (!*next) co_return rpcnet::ok();      // client finished sending
//         if (auto w = co_await stream.write(std::move(**next)); !w) co_return w;
//       }
//     });
//   }
#pragma once

#include <asio/awaitable.hpp>
#include <optional>
#include <utility>

#include "rpcnet/bytes.h"
#include "rpcnet/call_context.h"
#include "rpcnet/result.h"

namespace rpcnet {

namespace detail {
class ServerCall;
}

class ServerStream {
 public:
  ServerStream(ServerStream&& other) noexcept : call_(std::exchange(other.call_, nullptr)) {}
  ServerStream& operator=(ServerStream&& other) noexcept {
    call_ = std::exchange(other.call_, nullptr);
    return *this;
  }
  ServerStream(const ServerStream&) = delete;
  ServerStream& operator=(const ServerStream&) = delete;

  // The next request message, or nullopt once the client finished sending.
  // Errors: CANCELLED (client cancelled or server shutting down), DEADLINE_EXCEEDED,
  // RESOURCE_EXHAUSTED (a message over max_message_size), INTERNAL (protocol violation).
  asio::awaitable<Result<std::optional<Bytes>>> read();

  // Sends one response message. Errors: kCancelled when the client went away,
  // kStatus RESOURCE_EXHAUSTED over max_message_size, kStatus FAILED_PRECONDITION for a second
  // message on a call that takes a single response (client streaming).
  asio::awaitable<Result<void>> write(Bytes message);

  // The call's context; the same WARNING applies: it dies with the handler.
  CallContext& context() noexcept;

 private:
  friend class detail::ServerCall;  // the only place a stream is made: one per handler call
  explicit ServerStream(detail::ServerCall& call) noexcept : call_(&call) {}

  detail::ServerCall* call_;  // not owned; null once moved from
};

}  // namespace rpcnet
