// One TCP connection carrying gRPC: TLS 1.3 (ALPN "h2") around an HTTP/2 session, whose streams
// the RPC layer sees as transport::CallStreams speaking rpcnet's own framing (grpc_wire.h
// translates both ways).
//   - Server side (the gRPC-compatible listener): each request stream is served by the server's
//     ordinary ServerCall, so a method registered once is callable over QUIC and over gRPC with
//     the same deadlines, limits, interceptors and metrics.
//   - Client side (RpcClient's fallback when UDP is blocked): each call opens a request stream.
//
// Lives on one loop; every method runs there. Owned by its I/O coroutines and by the calls
// holding it, so it ends when the socket does and the last call lets go.
//
// Bounds, with the settings of the QUIC side (rpc::grpc_limits): the TLS handshake and the first
// request must arrive within the header timeout; concurrent streams and header sizes are
// advertised in SETTINGS and enforced by nghttp2; received bytes a call has not read are charged
// to the connection's MemoryBudget, and the HTTP/2 window reopens only as the call reads, so a
// peer cannot make us buffer more than its windows; a write waits while more than
// `stream_send_buffer` bytes of its stream are queued (a peer that does not read stalls only
// that call).
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "h2/session.h"
#include "quic/tls.h"
#include "rpc/grpc/grpc_wire.h"
#include "rpc/wire/frame.h"
#include "runtime/clock.h"
#include "runtime/notifier.h"
#include "transport/call_stream.h"

namespace rpcnet::quic {
class TlsStreamSession;
}

namespace rpcnet::grpc_compat {

struct ConnectionLimits {
  h2::SessionLimits session;
  std::size_t memory_budget = 64u << 20;
  std::chrono::milliseconds handshake_timeout{10'000};  // server: TLS handshake and first request
  std::chrono::milliseconds idle_timeout{60'000};       // server: no stream open
  std::size_t stream_send_buffer = 256u << 10;
  wire::FrameLimits frames;
};

class GrpcConnection;

// The part of a call's HTTP/2 stream both sides share: received bytes (already translated to
// rpcnet framing) waiting for the call, flow-control credit returned as it reads, abort notice.
class GrpcStream : public transport::CallStream, public std::enable_shared_from_this<GrpcStream> {
 public:
  GrpcStream(GrpcConnection* connection, std::int32_t id) : connection_(connection), id_(id) {}
  ~GrpcStream() override;

  asio::awaitable<transport::StreamChunk> read(asio::cancellation_slot cancel = {}) override;
  void set_abort_handler(std::function<void(std::uint64_t code)> handler) override {
    abort_handler_ = std::move(handler);
  }
  bool readable() const noexcept override {
    return !rx_chunks_.empty() || rx_fin_ || rx_reset_.has_value() || connection_ == nullptr;
  }
  bool detached() const noexcept override { return connection_ == nullptr; }

 protected:
  friend class GrpcConnection;

  // ---- events from the connection (inside nghttp2's callbacks: must not re-enter it) ----
  virtual void on_headers(const HeaderFields& headers, bool trailers) = 0;
  virtual void on_data(ByteView data) = 0;
  virtual void on_end_of_stream() = 0;
  virtual void on_closed(std::uint32_t http2_error) = 0;
  void detach();  // the connection is gone

  // Queues translated bytes for the call (charged to the budget; false when they do not fit).
  bool deliver(Bytes rpcnet, std::size_t http2_bytes);
  // Returns window credit for bytes nobody will read.
  void discard(std::size_t http2_bytes);
  void drop_received();
  void notify_abort(std::uint64_t code);
  // False while too much of this stream's DATA is queued (a write then waits on writer_).
  bool writer_may_continue() const;
  // Before a write waits on writer_: asks the connection to wake it once its DATA drains.
  void watch_send_room();
  virtual bool finished_sending() const noexcept = 0;

  GrpcConnection* connection_;  // null once detached
  std::int32_t id_;             // 0 until a client stream's request is submitted
  struct Received {
    Bytes rpcnet;             // the translated bytes the call reads
    std::size_t http2_bytes;  // the DATA bytes they came from: window credit to return
  };
  std::deque<Received> rx_chunks_;
  std::size_t rx_charged_ = 0;
  bool rx_fin_ = false;
  bool rx_stopped_ = false;
  std::optional<std::uint64_t> rx_reset_;
  bool closed_ = false;  // HTTP/2 closed the stream
  bool abort_notified_ = false;
  bool watching_send_room_ = false;  // listed in the connection's send_room_watchers_
  runtime::Notifier reader_;
  runtime::Notifier writer_;
  std::function<void(std::uint64_t)> abort_handler_;
};

// A request stream on the server: gRPC request in, the server's rpcnet response out as gRPC.
class GrpcServerStream final : public GrpcStream {
 public:
  GrpcServerStream(GrpcConnection* connection, std::int32_t id, wire::FrameLimits limits)
      : GrpcStream(connection, id), encoder_(limits) {}

  asio::awaitable<Result<void>> write(Bytes head, Bytes body, bool fin,
                                      asio::cancellation_slot cancel = {}) override;
  // A status to the client (when none went yet), then the call is over for the handler.
  void reset(std::uint64_t code) override;
  // HTTP/2 has no STOP_SENDING: what the client still sends is dropped, its window returned.
  void stop_reading(std::uint64_t code) override;

 private:
  friend class GrpcConnection;
  void on_call_header(const wire::CallHeader& header);
  void on_headers(const HeaderFields&, bool) override {}  // a request's trailers carry nothing
  void on_data(ByteView data) override;
  void on_end_of_stream() override;
  void on_closed(std::uint32_t http2_error) override;
  bool finished_sending() const noexcept override { return encoder_.finished(); }
  // Ends the call with a status now; the handler learns through its abort hook.
  void fail(StatusCode code, std::string message);
  void send(std::vector<ResponseAction>& actions);

  MessageDecoder decoder_;
  ResponseEncoder encoder_;
};

// A call's stream on the client: rpcnet request out as gRPC, the gRPC response in as rpcnet.
class GrpcClientStream final : public GrpcStream {
 public:
  GrpcClientStream(GrpcConnection* connection, std::string authority, wire::FrameLimits limits)
      : GrpcStream(connection, 0), encoder_(std::move(authority), limits) {}

  asio::awaitable<Result<void>> write(Bytes head, Bytes body, bool fin,
                                      asio::cancellation_slot cancel = {}) override;
  void reset(std::uint64_t code) override;
  void stop_reading(std::uint64_t code) override;

 private:
  friend class GrpcConnection;
  void on_headers(const HeaderFields& headers, bool trailers) override;
  void on_data(ByteView data) override;
  void on_end_of_stream() override;
  void on_closed(std::uint32_t http2_error) override;
  bool finished_sending() const noexcept override { return sent_fin_; }
  void deliver_translated(Bytes translated, std::size_t http2_bytes);

  RequestEncoder encoder_;
  ResponseDecoder decoder_;
  bool sent_fin_ = false;
};

class GrpcConnection final : public transport::CallConnection,
                             public transport::ClientConnection,
                             private h2::SessionEvents,
                             public std::enable_shared_from_this<GrpcConnection> {
 public:
  enum class Role : std::uint8_t { kServer, kClient };
  using StreamAcceptor = std::function<void(const std::shared_ptr<GrpcConnection>&,
                                            std::shared_ptr<GrpcServerStream>)>;

  // Server: starts the handshake and the I/O on `socket`'s executor. `on_closed` runs once,
  // when the connection is finished.
  static std::shared_ptr<GrpcConnection> serve(asio::ip::tcp::socket socket,
                                               std::shared_ptr<const quic::TlsCredentials> tls,
                                               ConnectionLimits limits, KindOf kind_of,
                                               StreamAcceptor acceptor,
                                               std::function<void()> on_closed);
  // Client: TCP connect, TLS handshake (ALPN h2, the server verified as for QUIC) and HTTP/2
  // preface on the awaiting coroutine's executor. `authority` is the :authority of requests.
  // Errors: kConnection (refused, unreachable, closed), kTls, kCancelled.
  static asio::awaitable<Result<std::shared_ptr<GrpcConnection>>> connect(
      SocketAddress server, std::shared_ptr<const quic::TlsCredentials> tls, std::string authority,
      ConnectionLimits limits);

  GrpcConnection(Role role, asio::ip::tcp::socket socket, ConnectionLimits limits);
  ~GrpcConnection() override;

  // transport::CallConnection and ClientConnection
  const runtime::Clock& clock() const noexcept override { return clock_; }
  const SocketAddress& remote_address() const noexcept override { return remote_; }
  std::string peer_certificate_subject() const override;
  transport::MemoryBudget& budget() noexcept override { return budget_; }
  void note_budget_reset() override;
  bool is_open() const noexcept override { return !closed_; }
  const std::optional<RpcError>& close_error() const noexcept override { return close_error_; }
  void set_close_handler(std::function<void(const RpcError&)> handler) override {
    close_handler_ = std::move(handler);
  }
  void close(std::uint64_t app_code, std::string_view reason) override;
  asio::awaitable<Result<std::shared_ptr<transport::CallStream>>> open_call_stream(
      asio::cancellation_slot cancel) override;
  bool resumed() const override { return false; }
  transport::NegotiatedTls negotiated_tls() const override;
  std::size_t max_udp_payload() const noexcept override { return 0; }

  // Server: graceful GOAWAY, no new calls; calls in flight go on.
  void stop_accepting();
  // Now: every call sees the connection closed.
  void close_now() { finish(RpcError::connection("connection closed")); }

 private:
  friend class GrpcStream;
  friend class GrpcServerStream;
  friend class GrpcClientStream;

  void start_io();
  asio::awaitable<void> read_loop(std::shared_ptr<GrpcConnection> self);
  asio::awaitable<void> write_loop(std::shared_ptr<GrpcConnection> self);
  asio::awaitable<void> expire_loop(std::shared_ptr<GrpcConnection> self);
  // Moves what HTTP/2 and TLS want to send into the write buffer and wakes the writer.
  void flush();
  // A flush after the current handler (reads returning window credit batch into one).
  void flush_soon();
  // Feeds bytes from the socket; false when the connection must close.
  bool on_ciphertext(ByteView data);
  void close_after_writing();
  void finish(RpcError reason);
  void log_closed() const;
  void refuse(std::int32_t stream, const Rejection& rejection);
  // Client: submits a stream's request HEADERS; its id, or an error.
  Result<std::int32_t> submit_request(GrpcClientStream& stream, const HeaderFields& headers);

  // h2::SessionEvents
  void on_headers(std::int32_t stream, h2::HeaderList headers, bool is_trailers) override;
  void on_data(std::int32_t stream, ByteView data) override;
  void on_end_of_stream(std::int32_t stream) override;
  void on_stream_closed(std::int32_t stream, std::uint32_t error_code) override;

  Role role_;
  asio::ip::tcp::socket socket_;
  ConnectionLimits limits_;
  KindOf kind_of_;                  // server
  StreamAcceptor acceptor_;         // server
  std::function<void()> on_closed_;  // server: the listener's count
  std::string authority_;           // client
  runtime::Clock clock_;
  SocketAddress remote_;
  transport::MemoryBudget budget_;
  std::unique_ptr<quic::TlsStreamSession> tls_;
  std::unique_ptr<h2::Session> session_;
  std::unordered_map<std::int32_t, std::shared_ptr<GrpcStream>> streams_;
  // Streams whose writes wait for their queued DATA to drain: flush() checks only these, so a
  // flush costs nothing per idle stream (10,000 concurrent calls made every flush O(streams)).
  std::vector<std::int32_t> send_room_watchers_;
  Bytes outgoing_;               // ciphertext for the socket
  runtime::Notifier writer_;
  runtime::Notifier handshake_;  // client: woken when the handshake completes or fails
  asio::steady_timer expiry_;    // server: handshake, then idle
  std::optional<RpcError> close_error_;
  std::function<void(const RpcError&)> close_handler_;
  bool handshake_done_ = false;
  bool first_request_ = false;
  bool accepting_ = true;
  bool closing_ = false;         // close once outgoing_ is written
  bool closed_ = false;
  bool flush_posted_ = false;
  bool in_receive_ = false;      // inside session_->receive(): nghttp2 must not be re-entered
  std::size_t budget_resets_ = 0;
  std::uint64_t next_request_id_ = 1;
};

}  // namespace rpcnet::grpc_compat
