#include "rpc/grpc/grpc_connection.h"

#include <algorithm>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "base/logging.h"
#include "quic/tls_stream.h"
#include "rpc/wire/codes.h"

namespace rpcnet::grpc_compat {

namespace {

constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadBufferBytes = 64u << 10;
// flush() encrypts frames only until this much ciphertext waits for the socket (besides what
// the socket is writing), a batch at a time; each completed socket write pulls the next. Encrypting
// a whole HTTP/2 window ahead (megabytes with gRPC's BDP-sized windows) cost a fresh, cold buffer
// per copy and held 1 MiB streams to a fraction of gRPC C++'s rate.
constexpr std::size_t kCiphertextAhead = 256u << 10;
constexpr std::size_t kOutputBatchBytes = 64u << 10;
// HTTP/2 error codes (RFC 9113 §7).
constexpr std::uint32_t kHttp2NoError = 0x0;
constexpr std::uint32_t kHttp2InternalError = 0x2;
constexpr std::uint32_t kHttp2RefusedStream = 0x7;
constexpr std::uint32_t kHttp2Cancel = 0x8;
// A connection whose streams exceed the budget this many times is abusing the limit (as QUIC's
// TransportSettings::budget_resets_before_close).
constexpr std::size_t kBudgetResetsBeforeClose = 8;

std::uint64_t code_of(wire::StreamErrorCode code) { return static_cast<std::uint64_t>(code); }

h2::HeaderList to_h2(const HeaderFields& fields) {
  h2::HeaderList list;
  list.reserve(fields.size());
  for (const auto& [name, value] : fields) list.push_back(h2::Header{name, value});
  return list;
}

HeaderFields from_h2(h2::HeaderList headers) {
  HeaderFields fields;
  fields.reserve(headers.size());
  for (auto& header : headers) fields.emplace_back(std::move(header.name), std::move(header.value));
  return fields;
}

}  // namespace

// ---- GrpcStream: what both sides share ---------------------------------------------------------

GrpcStream::~GrpcStream() {
  if (connection_ != nullptr) connection_->budget_.release(rx_charged_);
}

bool GrpcStream::deliver(Bytes rpcnet, std::size_t http2_bytes) {
  if (!connection_->budget_.try_charge(rpcnet.capacity())) return false;
  rx_charged_ += rpcnet.capacity();
  rx_chunks_.push_back(Received{std::move(rpcnet), http2_bytes});
  reader_.notify();
  return true;
}

void GrpcStream::discard(std::size_t http2_bytes) {
  if (connection_ == nullptr || closed_ || id_ == 0 || http2_bytes == 0) return;
  connection_->session_->consume(id_, http2_bytes);
  connection_->flush_soon();
}

void GrpcStream::drop_received() {
  std::size_t credit = 0;
  for (const Received& received : rx_chunks_) credit += received.http2_bytes;
  rx_chunks_.clear();
  if (connection_ != nullptr) connection_->budget_.release(rx_charged_);
  rx_charged_ = 0;
  discard(credit);
}

void GrpcStream::detach() {
  if (connection_ == nullptr) return;
  connection_->budget_.release(rx_charged_);
  rx_charged_ = 0;
  rx_chunks_.clear();
  if (!finished_sending() && !closed_) notify_abort(transport::kAbortConnectionClosed);
  connection_ = nullptr;
  reader_.notify();
  writer_.notify();
}

void GrpcStream::notify_abort(std::uint64_t code) {
  if (abort_notified_ || !abort_handler_ || connection_ == nullptr) return;
  abort_notified_ = true;
  // Posted, like quic::Stream's: we may be inside nghttp2's callbacks.
  asio::post(connection_->socket_.get_executor(), [handler = abort_handler_, code] { handler(code); });
}

bool GrpcStream::writer_may_continue() const {
  return connection_ == nullptr || closed_ || id_ == 0 ||
         connection_->session_->queued_bytes(id_) <= connection_->limits_.stream_send_buffer;
}

void GrpcStream::watch_send_room() {
  if (watching_send_room_ || connection_ == nullptr) return;
  watching_send_room_ = true;
  connection_->send_room_watchers_.push_back(id_);
}

asio::awaitable<transport::StreamChunk> GrpcStream::read(asio::cancellation_slot cancel) {
  using Status = transport::StreamChunk::Status;
  for (;;) {
    transport::StreamChunk chunk;
    if (rx_reset_) {
      chunk.status = Status::kReset;
      chunk.reset_code = *rx_reset_;
      co_return chunk;
    }
    if (!rx_chunks_.empty()) {
      Received received = std::move(rx_chunks_.front());
      rx_chunks_.pop_front();
      if (connection_ != nullptr) connection_->budget_.release(received.rpcnet.capacity());
      rx_charged_ -= std::min(rx_charged_, received.rpcnet.capacity());
      // Window credit goes back only as the call reads: the backpressure.
      discard(received.http2_bytes);
      chunk.data = std::move(received.rpcnet);
      chunk.fin = rx_fin_ && rx_chunks_.empty();
      co_return chunk;
    }
    if (rx_fin_) {
      chunk.fin = true;
      co_return chunk;
    }
    if (connection_ == nullptr) {
      chunk.status = Status::kConnectionClosed;
      co_return chunk;
    }
    if (rx_stopped_ || closed_) {
      chunk.status = Status::kCancelled;
      co_return chunk;
    }
    if (co_await runtime::wait_with(reader_, cancel) == runtime::WakeReason::kCancelled) {
      chunk.status = Status::kCancelled;
      co_return chunk;
    }
  }
}

// ---- GrpcServerStream -------------------------------------------------------------------------

void GrpcServerStream::on_call_header(const wire::CallHeader& header) {
  Bytes frame;
  wire::append_call_header_frame(frame, header);
  (void)deliver(std::move(frame), 0);  // the header's size is bounded by SETTINGS
}

void GrpcServerStream::on_data(ByteView data) {
  if (rx_stopped_ || closed_ || encoder_.finished()) {
    discard(data.size());  // nobody reads these
    return;
  }
  Bytes translated;
  translated.reserve(data.size() + 8);
  if (auto rejected = decoder_.feed(data, translated)) {
    discard(data.size());
    fail(rejected->code, rejected->message);
    return;
  }
  if (!deliver(std::move(translated), data.size())) {
    discard(data.size());
    fail(StatusCode::kResourceExhausted, "the connection's memory budget of " +
                                             std::to_string(connection_->budget_.limit()) +
                                             " bytes is exhausted");
    connection_->note_budget_reset();
  }
}

void GrpcServerStream::on_end_of_stream() {
  rx_fin_ = true;
  reader_.notify();
}

void GrpcServerStream::on_closed(std::uint32_t http2_error) {
  closed_ = true;
  if (http2_error != kHttp2NoError && !encoder_.finished()) {
    // The client reset the call (RST_STREAM CANCEL is how gRPC clients cancel and give up at
    // their deadline): the handler is cancelled exactly as by a QUIC stream reset.
    if (!rx_fin_) rx_reset_ = code_of(wire::StreamErrorCode::kCancelled);
    notify_abort(code_of(wire::StreamErrorCode::kCancelled));
  }
  reader_.notify();
  writer_.notify();
}

void GrpcServerStream::send(std::vector<ResponseAction>& actions) {
  if (connection_ == nullptr || closed_) return;
  h2::Session& session = *connection_->session_;
  for (ResponseAction& action : actions) {
    switch (action.kind) {
      case ResponseAction::Kind::kHeaders:
        (void)session.submit_headers(id_, to_h2(action.headers), action.end_stream);
        break;
      case ResponseAction::Kind::kData:
        (void)session.submit_data(id_, std::move(action.data), action.end_stream);
        break;
      case ResponseAction::Kind::kTrailers:
        (void)session.submit_trailers(id_, to_h2(action.headers));
        break;
    }
  }
  actions.clear();
  connection_->flush();
}

void GrpcServerStream::fail(StatusCode code, std::string message) {
  std::vector<ResponseAction> actions;
  const bool answered = encoder_.finished();
  encoder_.fail(code, std::move(message), actions);
  send(actions);
  rx_stopped_ = true;
  rx_reset_ = code_of(wire::StreamErrorCode::kCancelled);
  if (!answered) notify_abort(code_of(wire::StreamErrorCode::kCancelled));
  reader_.notify();
}

asio::awaitable<Result<void>> GrpcServerStream::write(Bytes head, Bytes body, bool fin,
                                                      asio::cancellation_slot cancel) {
  if (connection_ == nullptr) co_return RpcError::connection("connection closed");
  if (closed_ || encoder_.finished()) co_return RpcError::stream("the stream was reset by the client");
  std::vector<ResponseAction> actions;
  // No braced list here: GCC 12 mishandles one in a coroutine whose loop body co_returns.
  Result<void> fed = encoder_.feed(head, actions);
  if (fed && !body.empty()) fed = encoder_.feed(body, actions);
  if (!fed) {
    fail(StatusCode::kInternal, fed.error().message());
    co_return fed.error();
  }
  if (fin && !encoder_.finished()) encoder_.fail(StatusCode::kInternal, "the call ended without a status", actions);
  send(actions);
  // The wait is spelt out in each write: GCC 12 loses `this` when a member coroutine of a class
  // with several bases awaits another member coroutine of its base.
  while (!writer_may_continue()) {
    watch_send_room();
    if (co_await runtime::wait_with(writer_, cancel) == runtime::WakeReason::kCancelled) {
      co_return RpcError::cancelled();
    }
  }
  if (connection_ == nullptr) co_return RpcError::connection("connection closed");
  if (closed_ && !encoder_.finished()) co_return RpcError::stream("the stream was reset by the client");
  co_return ok();
}

void GrpcServerStream::reset(std::uint64_t code) {
  if (connection_ == nullptr || closed_) return;
  drop_received();
  rx_stopped_ = true;
  if (!encoder_.finished()) {
    // A gRPC client learns why from a status (trailers), not from an HTTP/2 error code.
    std::vector<ResponseAction> actions;
    const StatusCode status = code == code_of(wire::StreamErrorCode::kNoError)
                                  ? StatusCode::kCancelled
                                  : wire::status_for_stream_error(code);
    encoder_.fail(status,
                  status == StatusCode::kDeadlineExceeded ? "deadline exceeded" : "the server reset the call",
                  actions);
    send(actions);
  } else {
    connection_->session_->reset_stream(id_, kHttp2Cancel);
    connection_->flush();
  }
  reader_.notify();
  writer_.notify();
}

void GrpcServerStream::stop_reading(std::uint64_t /*code*/) {
  if (connection_ == nullptr) return;
  rx_stopped_ = true;
  drop_received();
}

// ---- GrpcClientStream -------------------------------------------------------------------------

void GrpcClientStream::deliver_translated(Bytes translated, std::size_t http2_bytes) {
  if (decoder_.finished()) rx_fin_ = true;
  if (translated.empty()) {
    discard(http2_bytes);
    reader_.notify();
    return;
  }
  if (!deliver(std::move(translated), http2_bytes)) {
    discard(http2_bytes);
    rx_reset_ = code_of(wire::StreamErrorCode::kResourceExhausted);
    reset(code_of(wire::StreamErrorCode::kResourceExhausted));
  }
  reader_.notify();
}

void GrpcClientStream::on_headers(const HeaderFields& headers, bool trailers) {
  Bytes translated;
  decoder_.on_headers(headers, trailers, translated);
  deliver_translated(std::move(translated), 0);
}

void GrpcClientStream::on_data(ByteView data) {
  if (rx_stopped_ || decoder_.finished()) {
    discard(data.size());
    return;
  }
  Bytes translated;
  translated.reserve(data.size() + 8);
  decoder_.on_data(data, translated);
  deliver_translated(std::move(translated), data.size());
}

void GrpcClientStream::on_end_of_stream() {
  Bytes translated;
  decoder_.on_end_of_stream(translated);
  rx_fin_ = true;
  deliver_translated(std::move(translated), 0);
}

void GrpcClientStream::on_closed(std::uint32_t http2_error) {
  closed_ = true;
  if (http2_error != kHttp2NoError && !decoder_.finished() && !rx_reset_) {
    // REFUSED_STREAM: the server never started the call, so it may be retried (UNAVAILABLE).
    rx_reset_ = http2_error == kHttp2RefusedStream ? code_of(wire::StreamErrorCode::kRefused)
                : http2_error == kHttp2Cancel      ? code_of(wire::StreamErrorCode::kCancelled)
                                                   : code_of(wire::StreamErrorCode::kInternal);
    notify_abort(*rx_reset_);
  }
  reader_.notify();
  writer_.notify();
}

asio::awaitable<Result<void>> GrpcClientStream::write(Bytes head, Bytes body, bool fin,
                                                      asio::cancellation_slot cancel) {
  if (connection_ == nullptr) co_return RpcError::connection("connection closed");
  if (closed_ || rx_stopped_ || sent_fin_) {
    co_return RpcError::stream("the server has stopped reading this call's requests",
                               StatusCode::kFailedPrecondition);
  }
  std::vector<RequestAction> actions;
  Result<void> fed = encoder_.feed(head, actions);
  if (fed && !body.empty()) fed = encoder_.feed(body, actions);
  if (!fed) co_return fed.error();
  h2::Session& session = *connection_->session_;
  for (std::size_t i = 0; i < actions.size(); ++i) {
    RequestAction& action = actions[i];
    const bool last = fin && i + 1 == actions.size() && action.kind == RequestAction::Kind::kData;
    if (action.kind == RequestAction::Kind::kHeaders) {
      auto opened = connection_->submit_request(*this, action.headers);
      if (!opened) co_return std::move(opened).error();
      continue;
    }
    if (auto submitted = session.submit_data(id_, std::move(action.data), last); !submitted) {
      co_return RpcError::stream("the server has stopped reading this call's requests",
                                 StatusCode::kFailedPrecondition);
    }
    if (last) sent_fin_ = true;
  }
  if (fin && !sent_fin_ && id_ != 0) {
    if (auto submitted = session.submit_data(id_, Bytes(), true); !submitted) {
      co_return RpcError::stream("the server has stopped reading this call's requests",
                                 StatusCode::kFailedPrecondition);
    }
    sent_fin_ = true;
  }
  connection_->flush();
  while (!writer_may_continue()) {
    watch_send_room();
    if (co_await runtime::wait_with(writer_, cancel) == runtime::WakeReason::kCancelled) {
      co_return RpcError::cancelled();
    }
  }
  if (connection_ == nullptr) co_return RpcError::connection("connection closed");
  co_return ok();
}

void GrpcClientStream::reset(std::uint64_t /*code*/) {
  if (connection_ == nullptr) return;
  rx_stopped_ = true;
  drop_received();
  if (id_ != 0 && !closed_) {
    // gRPC servers take RST_STREAM CANCEL as the client giving up, deadline or not.
    connection_->session_->reset_stream(id_, kHttp2Cancel);
    connection_->flush();
  }
  reader_.notify();
  writer_.notify();
}

void GrpcClientStream::stop_reading(std::uint64_t /*code*/) {
  if (connection_ == nullptr) return;
  rx_stopped_ = true;
  drop_received();
}

// ---- GrpcConnection ---------------------------------------------------------------------------

GrpcConnection::GrpcConnection(Role role, asio::ip::tcp::socket socket, ConnectionLimits limits)
    : role_(role),
      socket_(std::move(socket)),
      limits_(std::move(limits)),
      budget_(limits_.memory_budget),
      expiry_(socket_.get_executor()) {
  limits_.session.output_batch_bytes = std::min(limits_.session.output_batch_bytes, kOutputBatchBytes);
  std::error_code error;
  const auto peer = socket_.remote_endpoint(error);
  if (!error) remote_ = SocketAddress(peer.address(), peer.port());
  socket_.set_option(asio::ip::tcp::no_delay(true), error);
}

GrpcConnection::~GrpcConnection() = default;

std::shared_ptr<GrpcConnection> GrpcConnection::serve(asio::ip::tcp::socket socket,
                                                      std::shared_ptr<const quic::TlsCredentials> tls,
                                                      ConnectionLimits limits, KindOf kind_of,
                                                      StreamAcceptor acceptor,
                                                      std::function<void()> on_closed) {
  auto connection = std::make_shared<GrpcConnection>(Role::kServer, std::move(socket), std::move(limits));
  connection->kind_of_ = std::move(kind_of);
  connection->acceptor_ = std::move(acceptor);
  connection->on_closed_ = std::move(on_closed);
  auto session = quic::TlsStreamSession::server(std::move(tls));
  auto http2 = h2::Session::server(*connection, connection->limits_.session);
  if (!session || !http2) {
    connection->finish(session ? std::move(http2).error() : std::move(session).error());
    return connection;
  }
  connection->tls_ = std::move(*session);
  connection->session_ = std::move(*http2);
  connection->start_io();
  asio::co_spawn(connection->socket_.get_executor(), connection->expire_loop(connection), asio::detached);
  return connection;
}

asio::awaitable<Result<std::shared_ptr<GrpcConnection>>> GrpcConnection::connect(
    SocketAddress server, std::shared_ptr<const quic::TlsCredentials> tls, std::string authority,
    ConnectionLimits limits) {
  // The awaiting coroutine's own cancellation (e.g. losing a race) applies to every wait here.
  auto executor = co_await asio::this_coro::executor;
  asio::ip::tcp::socket socket(executor);
  auto [error] = co_await socket.async_connect(asio::ip::tcp::endpoint(server.address(), server.port()),
                                               kAsTuple);
  if (error == asio::error::operation_aborted) co_return RpcError::cancelled("connect cancelled");
  if (error) {
    co_return RpcError::connection("TCP connection to " + to_string(server) + " failed: " + error.message());
  }
  auto connection = std::make_shared<GrpcConnection>(Role::kClient, std::move(socket), std::move(limits));
  connection->authority_ = std::move(authority);
  auto session = quic::TlsStreamSession::client(std::move(tls));
  if (!session) co_return std::move(session).error();
  auto http2 = h2::Session::client(*connection, connection->limits_.session);
  if (!http2) co_return std::move(http2).error();
  connection->tls_ = std::move(*session);
  connection->session_ = std::move(*http2);
  if (auto started = connection->tls_->start(); !started) co_return std::move(started).error();
  connection->start_io();
  connection->flush();  // the ClientHello
  while (!connection->handshake_done_ && !connection->closed_) {
    if (co_await connection->handshake_.async_wait(asio::use_awaitable) == runtime::WakeReason::kCancelled) {
      connection->close_now();
      co_return RpcError::cancelled("connect cancelled");
    }
  }
  if (connection->closed_) {
    co_return connection->close_error_.value_or(RpcError::connection("connection closed during the handshake"));
  }
  co_return connection;
}

void GrpcConnection::start_io() {
  const auto executor = socket_.get_executor();
  asio::co_spawn(executor, read_loop(shared_from_this()), asio::detached);
  asio::co_spawn(executor, write_loop(shared_from_this()), asio::detached);
}

std::string GrpcConnection::peer_certificate_subject() const {
  return tls_ ? tls_->peer_certificate_subject() : std::string();
}

transport::NegotiatedTls GrpcConnection::negotiated_tls() const {
  return tls_ ? tls_->negotiated() : transport::NegotiatedTls{};
}

void GrpcConnection::note_budget_reset() {
  if (++budget_resets_ < kBudgetResetsBeforeClose) return;
  // Not tripping over the limit but abusing it: the whole connection goes.
  if (session_) session_->goaway(kHttp2InternalError);
  flush();
  close_after_writing();
}

void GrpcConnection::stop_accepting() {
  if (closed_ || !accepting_) return;
  accepting_ = false;
  if (session_ && handshake_done_) {
    session_->goaway(kHttp2NoError);
    flush();
  }
  if (streams_.empty()) close_after_writing();
}

void GrpcConnection::close(std::uint64_t /*app_code*/, std::string_view reason) {
  if (closed_) return;
  if (!close_error_) close_error_ = RpcError::connection(std::string(reason));
  accepting_ = false;
  if (session_ && handshake_done_) session_->goaway(kHttp2NoError);
  flush();
  close_after_writing();
}

void GrpcConnection::close_after_writing() {
  closing_ = true;
  writer_.notify();
}

void GrpcConnection::finish(RpcError reason) {
  if (closed_) return;
  closed_ = true;
  if (!close_error_) close_error_ = std::move(reason);
  log_closed();
  std::error_code ignored;
  expiry_.cancel();
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  writer_.notify();
  handshake_.notify();
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, stream] : streams) stream->detach();
  if (close_handler_) {
    asio::post(socket_.get_executor(), [handler = std::move(close_handler_), error = *close_error_] {
      handler(error);
    });
  }
  if (auto on_closed = std::move(on_closed_)) on_closed();
}

// As quic::Connection::log_closed: a failed handshake is the operator's business (warn), a
// connection that never got that far is info, an open connection's end is routine (debug).
void GrpcConnection::log_closed() const {
  const RpcError& error = *close_error_;
  const char* side = role_ == Role::kClient ? "client" : "server";
  // Built only when the record goes out (the macros evaluate their arguments only then).
  const auto fields = [&] {
    return std::vector<LogField>{
        {"transport", "http2"}, {"side", side}, {"peer", to_string(remote_)}, {"reason", error.message()}};
  };
  if (error.kind() == ErrorKind::kTls) {
    RPCNET_LOG_LIMITED(kTls, kWarn, "handshake failed", fields());
  } else if (!handshake_done_) {
    RPCNET_LOG_LIMITED(kRpc, kInfo, "connection failed before its handshake completed", fields());
  } else {
    RPCNET_LOG(kRpc, kDebug, "connection closed", fields());
  }
}

void GrpcConnection::flush() {
  if (closed_ || !tls_ || in_receive_) return;  // inside nghttp2: on_ciphertext flushes after
  const std::size_t before = outgoing_.size();
  tls_->take_ciphertext(outgoing_);  // handshake messages, alerts
  if (handshake_done_ && session_) {
    Bytes plaintext;
    while (outgoing_.size() < kCiphertextAhead) {
      session_->take_output(plaintext);
      if (plaintext.empty()) break;
      if (!tls_->send_plaintext(plaintext)) {
        finish(RpcError::tls("cannot encrypt"));
        return;
      }
      plaintext.clear();
      tls_->take_ciphertext(outgoing_);
    }
  }
  if (outgoing_.size() != before) writer_.notify();
  if (handshake_done_ && session_ && !session_->wants_io()) close_after_writing();
  // Streams whose DATA drained below the send buffer may write again. One gone from streams_
  // was woken when it closed.
  std::erase_if(send_room_watchers_, [this](std::int32_t id) {
    const auto it = streams_.find(id);
    if (it == streams_.end()) return true;
    GrpcStream& stream = *it->second;
    if (!stream.writer_may_continue()) return false;
    stream.watching_send_room_ = false;
    stream.writer_.notify();
    return true;
  });
}

void GrpcConnection::flush_soon() {
  if (flush_posted_ || closed_) return;
  flush_posted_ = true;
  asio::post(socket_.get_executor(), [weak = weak_from_this()] {
    auto self = weak.lock();
    if (!self) return;
    self->flush_posted_ = false;
    self->flush();
  });
}

bool GrpcConnection::on_ciphertext(ByteView data) {
  if (auto received = tls_->receive_ciphertext(data); !received) {
    if (!close_error_) close_error_ = std::move(received).error();
    tls_->take_ciphertext(outgoing_);  // the alert, if any
    writer_.notify();
    return false;
  }
  if (!handshake_done_ && tls_->handshake_complete()) {
    handshake_done_ = true;
    handshake_.notify();
  }
  if (handshake_done_) {
    Bytes plaintext = tls_->take_plaintext();
    in_receive_ = true;
    auto received = plaintext.empty() ? Result<void>(ok()) : session_->receive(plaintext);
    in_receive_ = false;
    if (!received) {
      if (!close_error_) close_error_ = std::move(received).error();
      flush();  // nghttp2 queued a GOAWAY naming the error
      return false;
    }
  }
  flush();
  return !tls_->peer_closed();
}

asio::awaitable<void> GrpcConnection::read_loop(std::shared_ptr<GrpcConnection> self) {
  (void)self;  // held by the frame: the connection lives while this loop runs
  Bytes buffer(kReadBufferBytes);
  while (!closed_) {
    // Reading never waits for the writer: what a peer that does not read makes us hold is bounded
    // where it waits. Ciphertext: kCiphertextAhead plus a batch (flush() stops there). Responses:
    // each stream's queue (its writer waits past stream_send_buffer), max_concurrent_streams of
    // them. Control frames nghttp2 owes (PING and SETTINGS ACKs, RST_STREAMs): its outbound-ACK
    // limit, past which the connection fails as a flood. (Waiting instead would stop reading the
    // WINDOW_UPDATEs a healthy download needs whenever the socket is busy.)
    auto [error, n] = co_await socket_.async_read_some(asio::buffer(buffer), kAsTuple);
    if (closed_) break;
    if (error) {
      finish(RpcError::connection("connection to " + to_string(remote_) + " lost: " + error.message()));
      break;
    }
    if (!on_ciphertext(ByteView(buffer.data(), n))) {
      close_after_writing();
      break;
    }
  }
}

asio::awaitable<void> GrpcConnection::write_loop(std::shared_ptr<GrpcConnection> self) {
  (void)self;  // held by the frame: the connection lives while this loop runs
  Bytes sending;
  while (!closed_) {
    if (outgoing_.empty()) {
      if (closing_) break;
      (void)co_await writer_.async_wait(asio::use_awaitable);
      continue;
    }
    sending.swap(outgoing_);
    auto [error, n] = co_await asio::async_write(socket_, asio::buffer(sending), kAsTuple);
    sending.clear();
    if (error) break;
    flush();  // the next batches of frames nghttp2 holds
  }
  finish(close_error_.value_or(RpcError::connection("connection closed")));
}

asio::awaitable<void> GrpcConnection::expire_loop(std::shared_ptr<GrpcConnection> self) {
  (void)self;  // held by the frame: the connection lives while this loop runs
  // The handshake and the first request within the handshake timeout; then a connection with no
  // stream open for the idle timeout is closed.
  expiry_.expires_after(limits_.handshake_timeout);
  while (!closed_) {
    auto [error] = co_await expiry_.async_wait(kAsTuple);
    if (closed_) co_return;
    if (error) continue;  // re-armed
    if (!first_request_ || streams_.empty()) {
      close(0, first_request_ ? "idle" : "no request within the handshake timeout");
      co_return;
    }
    expiry_.expires_after(limits_.idle_timeout);
  }
}

void GrpcConnection::refuse(std::int32_t stream, const Rejection& rejection) {
  if (rejection.http_status != 200) {
    (void)session_->submit_headers(
        stream, h2::HeaderList{{":status", std::to_string(rejection.http_status)}}, true);
    return;
  }
  HeaderFields fields = response_headers();
  wire::Trailer trailer;
  trailer.code = rejection.code;
  trailer.message = rejection.message;
  HeaderFields status = status_fields(trailer);
  fields.insert(fields.end(), status.begin(), status.end());
  (void)session_->submit_headers(stream, to_h2(fields), true);
}

Result<std::int32_t> GrpcConnection::submit_request(GrpcClientStream& stream, const HeaderFields& headers) {
  auto id = session_->submit_request(to_h2(headers), false);
  if (!id) return std::move(id).error();
  stream.id_ = *id;
  streams_.emplace(*id, stream.shared_from_this());
  return *id;
}

asio::awaitable<Result<std::shared_ptr<transport::CallStream>>> GrpcConnection::open_call_stream(
    asio::cancellation_slot /*cancel*/) {
  // nghttp2 holds requests past the server's stream limit until a stream closes, so opening
  // never waits here.
  if (closed_ || closing_) {
    co_return close_error_.value_or(RpcError::connection("connection closed"));
  }
  co_return std::shared_ptr<transport::CallStream>(
      std::make_shared<GrpcClientStream>(this, authority_, limits_.frames));
}

void GrpcConnection::on_headers(std::int32_t stream, h2::HeaderList headers, bool is_trailers) {
  if (role_ == Role::kClient) {
    if (const auto it = streams_.find(stream); it != streams_.end()) {
      it->second->on_headers(from_h2(std::move(headers)), is_trailers);
    }
    return;
  }
  if (is_trailers) return;  // a request's trailers carry nothing gRPC uses
  if (!first_request_) {
    first_request_ = true;
    expiry_.expires_after(limits_.idle_timeout);  // cancels the handshake deadline's wait
  }
  bool unknown_method = false;
  auto parsed = parse_request_headers(from_h2(std::move(headers)), kind_of_, next_request_id_++, &unknown_method);
  if (auto* rejection = std::get_if<Rejection>(&parsed)) {
    refuse(stream, *rejection);
    return;
  }
  if (!accepting_) {
    refuse(stream, Rejection{200, StatusCode::kUnavailable, "server shutting down"});
    return;
  }
  auto call = std::make_shared<GrpcServerStream>(this, stream, limits_.frames);
  if (unknown_method) call->encoder_.set_unknown_method();
  call->on_call_header(std::get<wire::CallHeader>(parsed));
  streams_.emplace(stream, call);
  acceptor_(shared_from_this(), std::move(call));
}

void GrpcConnection::on_data(std::int32_t stream, ByteView data) {
  const auto it = streams_.find(stream);
  if (it == streams_.end()) {
    session_->consume(stream, data.size());  // a refused request's body
    flush_soon();
    return;
  }
  it->second->on_data(data);
}

void GrpcConnection::on_end_of_stream(std::int32_t stream) {
  if (const auto it = streams_.find(stream); it != streams_.end()) it->second->on_end_of_stream();
}

void GrpcConnection::on_stream_closed(std::int32_t stream, std::uint32_t error_code) {
  const auto it = streams_.find(stream);
  if (it == streams_.end()) return;
  auto call = std::move(it->second);
  streams_.erase(it);
  call->on_closed(error_code);
  if (role_ == Role::kServer && !accepting_ && streams_.empty()) close_after_writing();
}

}  // namespace rpcnet::grpc_compat
