// rpcnet/call_context.h — what a handler knows about the call it serves.
//
// A CallContext lives as long as the handler runs. cancelled() turns true when the client
// cancels or disconnects, the deadline passes, or the server shuts down past its grace period.
// Blocking handlers should poll cancelled(). Async handlers get the usual Asio cancellation:
//   - an operation pending at that moment completes with asio::error::operation_aborted (a
//     pending stream read or write returns an RpcError instead);
//   - the handler's next co_await after that throws asio::system_error(operation_aborted), so a
//     handler that ignores errors still stops. The server catches it; the client already knows.
// A handler that must co_await during its clean-up opts out first with
// `co_await asio::this_coro::throw_if_cancelled(false);`: stream reads and writes then return
// an RpcError once the call is cancelled, and new Asio operations run normally.
//
// Example:
//   void add_whoami(rpcnet::RpcServer& server) {
//     server.register_method("whoami", [](rpcnet::Bytes, rpcnet::CallContext& ctx)
//         -> asio::awaitable<rpcnet::Result<rpcnet::Bytes>> {
//       co_return rpcnet::to_bytes(ctx.peer_identity());
//     });
//   }
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "rpcnet/address.h"
#include "rpcnet/metadata.h"
#include "rpcnet/trace_context.h"

namespace rpcnet {

class CallContext {
 public:
  CallContext(std::string method, Metadata metadata, std::uint64_t request_id,
              std::chrono::steady_clock::time_point deadline, SocketAddress peer,
              std::string peer_identity)
      : method_(std::move(method)),
        metadata_(std::move(metadata)),
        request_id_(request_id),
        deadline_(deadline),
        peer_(std::move(peer)),
        peer_identity_(std::move(peer_identity)) {}
  CallContext(const CallContext&) = delete;
  CallContext& operator=(const CallContext&) = delete;

  const std::string& method() const noexcept { return method_; }
  const Metadata& metadata() const noexcept { return metadata_; }
  // For server interceptors (rpcnet/interceptor.h) that add or alter what the handler sees.
  Metadata& mutable_metadata() noexcept { return metadata_; }
  // The caller's W3C trace (rpcnet/trace_context.h): nullopt when the metadata has no valid
  // traceparent entry, or more than one. Pass it as CallOptions::trace_parent (or
  // WorkerCallOptions::trace_parent) to continue the trace on calls this handler makes.
  std::optional<TraceContext> trace_context() const noexcept {
    std::optional<std::string_view> value;
    for (const auto& [key, entry] : metadata_) {
      if (key != kTraceparentKey) continue;
      if (value) return std::nullopt;  // W3C: several traceparent values are no valid one
      value = entry;
    }
    return value ? parse_traceparent(*value) : std::nullopt;
  }
  // The client's request id (for tracing); 0 if it sent none.
  std::uint64_t request_id() const noexcept { return request_id_; }
  // When the call must be finished; time_point::max() without a deadline.
  std::chrono::steady_clock::time_point deadline() const noexcept { return deadline_; }
  bool cancelled() const noexcept { return cancelled_.load(std::memory_order_acquire); }
  const SocketAddress& peer_address() const noexcept { return peer_; }
  // Subject DN of the client's verified certificate under mutual TLS, otherwise "".
  const std::string& peer_identity() const noexcept { return peer_identity_; }

  // Metadata sent back with the call's status (gRPC's trailing metadata), success or error;
  // the caller reads it from ClientCall / ResponseStream::trailer_metadata(). Set it before the
  // handler returns. Counts against the client's max_header_size and metadata limits.
  //   context.trailer_metadata().emplace_back("cost-units", "3");
  Metadata& trailer_metadata() noexcept { return trailer_metadata_; }
  const Metadata& trailer_metadata() const noexcept { return trailer_metadata_; }

  // Library use: marks the call cancelled.
  void mark_cancelled() noexcept { cancelled_.store(true, std::memory_order_release); }

 private:
  std::string method_;
  Metadata metadata_;
  std::uint64_t request_id_;
  std::chrono::steady_clock::time_point deadline_;
  SocketAddress peer_;
  std::string peer_identity_;
  Metadata trailer_metadata_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace rpcnet
