// The seam between a server-side RPC call and the transport that carries it. The call
// (src/rpc/server.cc) reads and writes rpcnet's own stream framing (doc/protocol.md §3) through
// CallStream, and asks its CallConnection for the clock, the peer and the memory budget; it does
// not know whether a QUIC stream (quic::Stream) or an HTTP/2 stream of the gRPC-compatible TCP
// listener (src/rpc/grpc: it translates gRPC to rpcnet framing and back) is underneath. So a
// method registered once is served both ways with the same deadlines, limits, interceptors and
// metrics.
//
// All methods run on the loop of the connection that owns the stream.
//
//   std::shared_ptr<transport::CallStream> stream = ...;
//   transport::StreamChunk chunk = co_await stream->read();
//   if (chunk.status == transport::StreamChunk::Status::kData) consume(chunk.data, chunk.fin);
#pragma once

#include <asio/awaitable.hpp>
#include <asio/cancellation_signal.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "rpcnet/address.h"
#include "rpcnet/bytes.h"
#include "rpcnet/result.h"
#include "runtime/clock.h"
#include "transport/memory_budget.h"

namespace rpcnet::transport {

// The abort handler's code when the whole connection went away rather than the one stream.
inline constexpr std::uint64_t kAbortConnectionClosed = UINT64_MAX;

struct StreamChunk {
  enum class Status : std::uint8_t {
    kData,              // `data` (possibly empty) and, when `fin`, the end of the peer's data
    kReset,             // the peer reset its sending side with `reset_code`
    kConnectionClosed,  // the connection is gone
    kCancelled,         // the read was cancelled (Asio per-operation cancellation)
  };
  Status status = Status::kData;
  Bytes data;
  bool fin = false;
  std::uint64_t reset_code = 0;
};

// One bidirectional byte stream carrying one call. Codes are rpcnet's stream error codes
// (wire::StreamErrorCode); a transport with its own codes translates them.
class CallStream {
 public:
  virtual ~CallStream() = default;

  // The peer's next bytes, in order; after fin, further reads return fin again.
  // `cancel` (when connected) cancels the wait instead of the coroutine's own slot.
  virtual asio::awaitable<StreamChunk> read(asio::cancellation_slot cancel = {}) = 0;
  // Queues `head` then `body` and, when `fin`, the end of our data; completes once the stream has
  // room for more (backpressure). Errors: kStream when the peer stopped reading or reset,
  // kConnection when the connection closed, kCancelled when the wait was cancelled, kStatus
  // RESOURCE_EXHAUSTED when the bytes do not fit the connection's memory budget.
  virtual asio::awaitable<Result<void>> write(Bytes head, Bytes body, bool fin,
                                              asio::cancellation_slot cancel = {}) = 0;
  // Abandons both directions with `code`.
  virtual void reset(std::uint64_t code) = 0;
  // We will not read the rest.
  virtual void stop_reading(std::uint64_t code) = 0;
  // Called (posted to the loop) once when the peer aborts the stream, or with
  // kAbortConnectionClosed when the connection goes away.
  virtual void set_abort_handler(std::function<void(std::uint64_t code)> handler) = 0;
  // A read() would complete at once.
  virtual bool readable() const noexcept = 0;
  // The connection is gone: the stream can carry nothing more.
  virtual bool detached() const noexcept = 0;
  // Hands back a buffer read() returned, once its bytes are consumed, for the stream to receive
  // into again. Optional (a transport may simply let it go); see quic::Stream::recycle.
  virtual void recycle(Bytes /*buffer*/) {}
};

// What a completed TLS handshake agreed on, by IANA / GnuTLS names.
struct NegotiatedTls {
  std::string cipher_suite;  // e.g. TLS_AES_128_GCM_SHA256
  std::string group;         // e.g. X25519, SECP256R1
};

// What a server-side call needs from the connection its stream belongs to.
class CallConnection {
 public:
  virtual ~CallConnection() = default;

  // The clock deadlines are measured on (virtual on an in-memory network).
  virtual const runtime::Clock& clock() const noexcept = 0;
  virtual const SocketAddress& remote_address() const noexcept = 0;
  // The verified client certificate's subject DN under mutual TLS, else empty.
  virtual std::string peer_certificate_subject() const = 0;
  // What this connection's peer makes us hold (memory_budget.h).
  virtual MemoryBudget& budget() noexcept = 0;
  // A call was reset because the budget was full; a connection that keeps doing it is closed.
  virtual void note_budget_reset() = 0;
};

// A client's connection to a server, as RpcClient's calls use it: QUIC (quic::Connection) or
// gRPC over HTTP/2 + TLS on TCP (grpc_compat::GrpcClientConnection) when UDP is blocked.
class ClientConnection {
 public:
  virtual ~ClientConnection() = default;

  virtual const runtime::Clock& clock() const noexcept = 0;
  virtual const SocketAddress& remote_address() const noexcept = 0;
  virtual bool is_open() const noexcept = 0;
  // Why the connection closed (or failed to open); set once it is no longer open.
  virtual const std::optional<RpcError>& close_error() const noexcept = 0;
  // Called once (posted) when the connection stops being usable.
  virtual void set_close_handler(std::function<void(const RpcError&)> handler) = 0;
  // Closes with an rpcnet connection close code (wire::ConnectionCloseCode).
  virtual void close(std::uint64_t app_code, std::string_view reason) = 0;
  // A new stream for one call, waiting while the server's stream limit is reached.
  // Errors: kConnection when the connection is not open; kCancelled when cancelled.
  virtual asio::awaitable<Result<std::shared_ptr<CallStream>>> open_call_stream(
      asio::cancellation_slot cancel) = 0;
  // True when the TLS handshake resumed an earlier session.
  virtual bool resumed() const = 0;
  virtual NegotiatedTls negotiated_tls() const = 0;
  // The largest UDP payload sent now; 0 over TCP.
  virtual std::size_t max_udp_payload() const noexcept = 0;
};

}  // namespace rpcnet::transport
