// rpcnet/interceptor.h — interceptors: an ordered chain of hooks around every call.
//
// Contract:
//   - Registration: on the RpcConfig, the one place both ends and every wrapper read —
//     RpcConfig::with_server_interceptor(i) for an RpcServer (and the servers rpcnet-gen
//     generates, which own one), RpcConfig::with_client_interceptor(i) for an RpcClient (and
//     everything built on one: generated typed clients, ClusterClient through
//     ClusterClientConfig::rpc). They run in the order they were added. A config is copied into
//     the server or client, so its chain is fixed once they exist; a server ignores client
//     interceptors and a client server ones. The interceptor objects are shared (shared_ptr) by
//     every call on every event loop, concurrently: keep their state thread-safe.
//   - on_start runs for every call, in order, before anything of it happens: on the server once
//     its header is decoded and before the handler runs (for unknown methods too, so an
//     authorization check can answer before NOT_FOUND does); on the client before the call's
//     stream is opened. It may co_await (e.g. ask a token service); it runs on the call's event
//     loop, and the call's deadline and cancellation apply to it. It may read and edit the
//     metadata: server side what the handler will see (CallContext::mutable_metadata()), client
//     side what is sent. Returning an error rejects the call: the later interceptors and the
//     handler do not run, nothing is sent (client), and the caller gets exactly that error (its
//     code and message travel as the call's status, server side). Throwing counts as returning
//     INTERNAL.
//   - on_end runs once for every interceptor whose on_start ran (the rejecting one included), in
//     reverse order, when the call has ended: status sent or stream reset (server), final status
//     received or call cancelled/failed (client; for streams, when the caller has read the end,
//     cancelled, or dropped the stream). It gets the final status code, the duration since the
//     chain started, and the message counts and payload bytes (framing excluded) of both
//     directions, for all four call types. It must not block or throw; it may run in a
//     destructor (a call abandoned at shutdown).
//   - Zero cost when the chain is empty: no clock reads, no allocation on the call path. The
//     per-method metrics (doc/operations.md) are an interceptor of the library's, first in every
//     chain unless RpcConfig::with_method_metrics(false) turns them off.
//     Register observers (metrics, logging) first: a call an earlier interceptor rejects never
//     reaches the ones after it.
//
// Example:
//   #include <atomic>
//
//   // Rejects calls without the expected "authorization" entry; counts failed calls.
//   class RequireToken final : public rpcnet::ServerInterceptor {
//    public:
//     asio::awaitable<rpcnet::Result<void>> on_start(rpcnet::ServerCallInfo& call) override {
//       if (rpcnet::find_metadata(call.context.metadata(), "authorization") != "Bearer s3cret") {
//         co_return rpcnet::RpcError::status(rpcnet::StatusCode::kUnauthenticated, "no token");
//       }
//       call.context.mutable_metadata().emplace_back("user", "alice");  // seen by the handler
//       co_return rpcnet::ok();
//     }
//     void on_end(const rpcnet::ServerCallInfo&, const rpcnet::CallOutcome& outcome) noexcept override {
//       if (outcome.code != rpcnet::StatusCode::kOk) failed.fetch_add(1);
//     }
//     std::atomic<std::uint64_t> failed{0};
//   };
//
//   // Adds the token to every outgoing call.
//   class SendToken final : public rpcnet::ClientInterceptor {
//    public:
//     asio::awaitable<rpcnet::Result<void>> on_start(rpcnet::ClientCallInfo& call) override {
//       call.metadata.emplace_back("authorization", "Bearer s3cret");
//       co_return rpcnet::ok();
//     }
//   };
//
//   rpcnet::RpcConfig guarded_server_config() {
//     return rpcnet::RpcConfig("certs/server.pem", "0.0.0.0:4433")
//         .with_key_path("certs/server-key.pem")
//         .with_server_interceptor(std::make_shared<RequireToken>());
//   }
//   rpcnet::RpcConfig token_client_config() {
//     return rpcnet::RpcConfig("certs/ca.pem", "0.0.0.0:0")
//         .with_server_name("localhost")
//         .with_client_interceptor(std::make_shared<SendToken>());
//   }
#pragma once

#include <asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <string_view>

#include "rpcnet/address.h"
#include "rpcnet/call_context.h"
#include "rpcnet/call_options.h"
#include "rpcnet/error.h"
#include "rpcnet/metadata.h"
#include "rpcnet/result.h"
#include "rpcnet/status.h"

namespace rpcnet {

// The four call patterns, as they travel in the call header.
enum class CallType : std::uint8_t { kUnary, kServerStreaming, kClientStreaming, kBidiStreaming };

// "unary", "server_streaming", "client_streaming", "bidi_streaming".
std::string_view call_type_name(CallType type) noexcept;

// How a call ended, as on_end sees it.
struct CallOutcome {
  StatusCode code = StatusCode::kOk;  // the status the caller sees (kOk: success)
  const RpcError* error = nullptr;    // the error behind `code`; null on success
  std::chrono::nanoseconds duration{0};  // from the start of the chain to the end of the call
  std::uint64_t request_messages = 0;
  std::uint64_t request_bytes = 0;  // payload bytes of the request messages, framing excluded
  std::uint64_t response_messages = 0;
  std::uint64_t response_bytes = 0;
};

// A server call as its interceptors see it.
struct ServerCallInfo {
  CallContext& context;  // method, metadata (editable in on_start), peer, deadline, ...
  CallType type;
  // A handler is registered under context.method(): use the method as a label (metrics) only
  // when true, so a client cannot create unbounded label values.
  bool registered;
};

class ServerInterceptor {
 public:
  virtual ~ServerInterceptor() = default;
  // Before the handler: ok() lets the call go on, an error ends it with that status.
  virtual asio::awaitable<Result<void>> on_start(ServerCallInfo& call);
  virtual void on_end(const ServerCallInfo& call, const CallOutcome& outcome) noexcept;
};

// A client call as its interceptors see it.
struct ClientCallInfo {
  std::string_view method;
  CallType type;
  Metadata& metadata;  // what is sent in the call header: editable in on_start
  const SocketAddress& server;
  std::chrono::milliseconds timeout;  // the call's deadline from its start (kNoDeadline: none)
};

class ClientInterceptor {
 public:
  virtual ~ClientInterceptor() = default;
  // Before the call is sent: ok() lets it go, an error fails it with that error.
  virtual asio::awaitable<Result<void>> on_start(ClientCallInfo& call);
  virtual void on_end(const ClientCallInfo& call, const CallOutcome& outcome) noexcept;
};

}  // namespace rpcnet
