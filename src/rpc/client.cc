#include <asio/dispatch.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <system_error>

#include "quic/connection.h"
#include "rpc/client_call.h"
#include "rpc/grpc/grpc_connection.h"
#include "rpc/method_metrics.h"
#include "rpc/read_single.h"
#include "rpc/transport_config.h"
#include "rpc/wire/codes.h"
#include "rpcnet/testing/in_memory_network.h"
#include "runtime/memory_network.h"
#include "runtime/notifier.h"
#include "base/logging.h"
#include "rpcnet/metrics.h"

namespace rpcnet {

using detail::ClientCallState;
using detail::ClientShared;
using wire::CallKind;
using wire::StreamErrorCode;

namespace detail {

namespace {

RpcError too_large(std::size_t size, std::uint64_t limit) {
  return RpcError::status(StatusCode::kResourceExhausted,
                          "request message of " + std::to_string(size) +
                              " bytes exceeds max_message_size of " + std::to_string(limit));
}

// A coroutine whose awaiting coroutine was cancelled throws at its next co_await (Asio's
// throw_if_cancelled); report that as a cancelled call.
template <class T>
asio::awaitable<Result<T>> cancellation_as_error(asio::awaitable<Result<T>> inner) {
  try {
    co_return co_await std::move(inner);
  } catch (const std::system_error& error) {
    if (error.code() != asio::error::operation_aborted) throw;
  }
  co_return RpcError::cancelled();
}

TlsParameters tls_parameters_of(const transport::NegotiatedTls& negotiated) {
  return TlsParameters{negotiated.cipher_suite, rpc::key_exchange_name(negotiated.group)};
}

}  // namespace

ClientShared::ClientShared(asio::any_io_executor executor,
                           std::shared_ptr<transport::ClientConnection> connection,
                           const RpcConfig& config, Transport transport)
    : executor_(std::move(executor)),
      loop_thread_(std::this_thread::get_id()),
      connection_(std::move(connection)),
      transport_(transport),
      limits_(rpc::frame_limits(config)),
      default_timeout_(config.default_timeout()),
      remote_(connection_->remote_address()),
      connected_(std::make_shared<std::atomic<bool>>(connection_->is_open())),
      deadlines_(std::make_unique<runtime::DeadlineQueue>(executor_, connection_->clock())),
      resumed_(connection_->resumed()),
      tls_(tls_parameters_of(connection_->negotiated_tls())),
      interceptors_(rpc::client_chain(config)) {
  connection_->set_close_handler(
      [flag = connected_](const RpcError&) { flag->store(false, std::memory_order_release); });
}

ClientShared::~ClientShared() {
  close();
  // The queue's timer belongs to the loop: destroy it there.
  asio::dispatch(executor_, [deadlines = std::move(deadlines_)] {});
}

void ClientShared::close() {
  connected_->store(false, std::memory_order_release);
  asio::dispatch(executor_, [connection = connection_] {
    connection->close(static_cast<std::uint64_t>(wire::ConnectionCloseCode::kNoError),
                      "client closed");
  });
}

ClientCallState::ClientCallState(std::shared_ptr<ClientShared> client, CallKind kind,
                                 std::chrono::milliseconds timeout)
    : client_(std::move(client)),
      kind_(kind),
      timeout_(timeout),
      core_(kind, client_->limits()) {}

ClientCallState::~ClientCallState() {
  chain_running_ = false;  // a chain interrupted by its caller's cancellation is gone
  if (observed_) {
    // Dropped before it ended (its caller was cancelled, or an interceptor waited too long).
    const RpcError error = local_failure_.value_or(end_error_.value_or(RpcError::cancelled("call abandoned")));
    report_end(&error);
  }
  client_->deadlines().remove(*this);
  if (!ended_ && stream_) stream_->reset(static_cast<std::uint64_t>(StreamErrorCode::kCancelled));
}

void ClientCallState::on_deadline() {
  cancel(RpcError::timeout("deadline of " + std::to_string(timeout_.count()) + " ms exceeded"),
         StreamErrorCode::kDeadlineExceeded);
}

RpcError ClientCallState::connection_error() const {
  return client_->connection().close_error().value_or(RpcError::connection("connection closed"));
}

void ClientCallState::report_end(const RpcError* error) noexcept {
  if (!observed_ || chain_running_) return;
  const CallOutcome outcome =
      observed_->tally.outcome(error, client_->connection().clock().now() - observed_->since);
  rpc::run_on_end(client_->interceptors(), observed_->started, observed_->info, outcome);
  observed_.reset();
}

asio::awaitable<Result<void>> ClientCallState::start(std::string_view method, Metadata metadata,
                                                     std::optional<Bytes> first, bool finish) {
  if (timeout_ != kNoDeadline) client_->deadlines().add(*this, client_->connection().clock().now() + timeout_);
  if (!client_->interceptors().empty()) {
    observed_ = std::make_unique<Observation>(std::string(method), std::move(metadata),
                                              rpc::call_type_of(kind_), client_->remote(), timeout_);
    observed_->since = client_->connection().clock().now();
    chain_running_ = true;
    auto rejected = co_await rpc::run_on_start(client_->interceptors(), observed_->info, observed_->started);
    chain_running_ = false;
    if (rejected) {
      client_->deadlines().remove(*this);
      ended_ = true;
      report_end(&*rejected);
      co_return std::move(*rejected);
    }
    if (local_failure_) {  // the deadline passed, or the caller cancelled, while they ran
      ended_ = true;
      report_end(&*local_failure_);
      co_return *local_failure_;
    }
    metadata = observed_->metadata;  // a copy: on_end shows what was sent
  }
  if (first && first->size() > client_->limits().max_message_size) {
    client_->deadlines().remove(*this);
    ended_ = true;
    const RpcError error = too_large(first->size(), client_->limits().max_message_size);
    report_end(&error);
    co_return error;
  }
  auto opened = co_await client_->connection().open_call_stream(write_signal_.slot());
  if (local_failure_) {
    if (opened) (*opened)->reset(static_cast<std::uint64_t>(StreamErrorCode::kCancelled));
    ended_ = true;
    co_return *local_failure_;
  }
  if (!opened) {
    ended_ = true;
    // No stream was opened, so nothing of this call reached the server.
    RpcError error = std::move(opened).error();
    error.mark_not_started();
    report_end(&error);
    co_return error;
  }
  stream_ = std::move(*opened);

  wire::CallHeader header;
  header.method = std::string(method);
  header.kind = kind_;
  if (timeout_ != kNoDeadline) header.timeout = timeout_;
  header.request_id = client_->take_request_id();
  header.metadata = std::move(metadata);
  Bytes head;
  wire::append_call_header_frame(head, header);
  Bytes body;
  if (first) {
    if (observed_) observed_->tally.request(first->size());
    auto parts = rpc::encode_message_parts(std::move(*first));
    head.insert(head.end(), parts.head.begin(), parts.head.end());
    body = std::move(parts.body);
  }
  writes_finished_ = finish;
  auto written =
      co_await stream_->write(std::move(head), std::move(body), finish, write_signal_.slot());
  if (local_failure_) co_return *local_failure_;
  if (!written && stream_->detached()) {
    const RpcError error = failure();
    report_end(&error);
    co_return error;
  }
  // A refused write means the server stopped reading: it has already answered (e.g. an oversized
  // request gets RESOURCE_EXHAUSTED), and reading gives the caller that status.
  if (!written) writes_finished_ = true;
  co_return ok();
}

RpcError ClientCallState::failure() const {
  if (local_failure_) return *local_failure_;
  if (end_error_) return *end_error_;
  if (stream_ && stream_->detached()) return connection_error();
  return RpcError::stream("the server has stopped reading this call's requests",
                          StatusCode::kFailedPrecondition);
}

asio::awaitable<Result<void>> ClientCallState::write(Bytes message) {
  if (local_failure_ || ended_) co_return failure();
  if (writes_finished_) co_return RpcError::stream("write after finish", StatusCode::kFailedPrecondition);
  if (message.size() > client_->limits().max_message_size) {
    auto error = too_large(message.size(), client_->limits().max_message_size);
    cancel(error, StreamErrorCode::kCancelled);
    co_return error;
  }
  const std::size_t size = message.size();
  auto parts = rpc::encode_message_parts(std::move(message));
  auto written = co_await stream_->write(std::move(parts.head), std::move(parts.body), false,
                                         write_signal_.slot());
  if (!written || local_failure_) co_return failure();
  if (observed_) observed_->tally.request(size);
  co_return ok();
}

asio::awaitable<Result<void>> ClientCallState::finish_writes() {
  if (writes_finished_) co_return ok();
  if (local_failure_) co_return *local_failure_;
  writes_finished_ = true;
  if (ended_) co_return ok();  // the server already finished: nothing left to end
  auto written = co_await stream_->write({}, {}, true, write_signal_.slot());
  if (!written || local_failure_) co_return failure();
  co_return ok();
}

Result<std::optional<Bytes>> ClientCallState::end_call(rpc::InboundEvent& event) {
  ended_ = true;
  client_->deadlines().remove(*this);
  if (event.error) {
    if (event.action == rpc::StreamAction::kReset) {
      stream_->reset(static_cast<std::uint64_t>(event.reset_code));
    }
    end_error_ = std::move(*event.error);
    report_end(&*end_error_);
    return *end_error_;
  }
  report_end(nullptr);
  if (!writes_finished_) {
    // The server finished before we did: stop sending so the stream can close.
    stream_->reset(static_cast<std::uint64_t>(StreamErrorCode::kNoError));
  }
  trailer_metadata_ = std::move(event.trailer_metadata);
  return std::optional<Bytes>();
}

asio::awaitable<Result<std::optional<Bytes>>> ClientCallState::read() {
  if (ended_) {
    if (end_error_) co_return *end_error_;
    co_return std::optional<Bytes>();
  }
  for (;;) {
    // A local end (cancel, deadline) comes before what is buffered: after cancel() the caller
    // gets kCancelled, not the responses that happened to arrive first.
    if (local_failure_) {
      ended_ = true;
      end_error_ = *local_failure_;
      co_return *local_failure_;
    }
    if (core_.has_event()) {
      rpc::InboundEvent event = core_.pop_event();
      if (event.kind == rpc::InboundEvent::Kind::kMessage) {
        if (observed_) observed_->tally.response(event.message.size());
        co_return std::optional<Bytes>(std::move(event.message));
      }
      co_return end_call(event);
    }
    transport::StreamChunk chunk = co_await stream_->read(read_signal_.slot());
    switch (chunk.status) {
      case transport::StreamChunk::Status::kData:
        if (!chunk.data.empty()) core_.on_data(chunk.data);
        if (chunk.fin) core_.on_fin();
        stream_->recycle(std::move(chunk.data));
        break;
      case transport::StreamChunk::Status::kReset:
        core_.on_reset(chunk.reset_code);
        break;
      case transport::StreamChunk::Status::kConnectionClosed:
        if (!local_failure_) {
          ended_ = true;
          end_error_ = connection_error();
          report_end(&*end_error_);
          co_return *end_error_;
        }
        break;
      case transport::StreamChunk::Status::kCancelled:
        if (!local_failure_) local_failure_ = RpcError::cancelled();
        break;
    }
  }
}

asio::awaitable<Result<Bytes>> ClientCallState::read_single() {
  auto read = [this] { return this->read(); };
  co_return co_await rpc::read_single_message(read, "call ended without a response");
}

void ClientCallState::cancel(RpcError reason, StreamErrorCode code) {
  if (ended_ || local_failure_) return;
  local_failure_ = std::move(reason);
  report_end(&*local_failure_);
  client_->deadlines().remove(*this);
  if (stream_) stream_->reset(static_cast<std::uint64_t>(code));
  read_signal_.emit(asio::cancellation_type::terminal);
  write_signal_.emit(asio::cancellation_type::terminal);
}

CancellationForward::CancellationForward(asio::cancellation_slot slot,
                                         const std::shared_ptr<ClientCallState>& call) {
  if (!slot.is_connected()) return;
  slot_ = slot;
  slot_.assign([weak = std::weak_ptr<ClientCallState>(call)](asio::cancellation_type type) {
    if (type == asio::cancellation_type::none) return;
    if (auto target = weak.lock()) {
      target->cancel(RpcError::cancelled("call cancelled by the caller"), StreamErrorCode::kCancelled);
    }
  });
}

CancellationForward::~CancellationForward() {
  if (slot_.is_connected()) slot_.clear();
}

namespace {

void cancel_on_loop(const std::shared_ptr<ClientCallState>& state) {
  if (!state) return;
  auto cancel = [state] {
    if (!state->ended()) {
      state->cancel(RpcError::cancelled("call abandoned"), StreamErrorCode::kCancelled);
    }
  };
  if (state->client().on_loop()) {
    cancel();
  } else {
    asio::post(state->client().executor(), std::move(cancel));
  }
}

// What a dropped handle does: abandons the call unless it ended. The handle's reference travels
// with the posted work, so when the handle was the last owner the state (and the QUIC stream it
// resets in its destructor) is destroyed on the connection's loop, not on the dropping thread.
void release_on_loop(std::shared_ptr<ClientCallState> state) {
  if (!state) return;
  const auto abandon = [](ClientCallState& call) {
    if (!call.ended()) call.cancel(RpcError::cancelled("call abandoned"), StreamErrorCode::kCancelled);
  };
  if (state->client().on_loop()) {
    abandon(*state);
    return;
  }
  auto executor = state->client().executor();  // read before `state` moves into the handler
  asio::post(executor, [state = std::move(state), abandon] { abandon(*state); });
}

// Feeds requests from `source` into the call until it ends, the call ends, or a write fails.
asio::awaitable<void> pump_requests(std::shared_ptr<ClientCallState> call, RequestSource source) {
  for (;;) {
    if (call->ended()) co_return;
    std::optional<Bytes> next;
    try {
      next = co_await source();
    } catch (const std::exception& error) {
      call->cancel(RpcError::cancelled(std::string("request source failed: ") + error.what()),
                   StreamErrorCode::kCancelled);
      co_return;
    }
    if (!next) {
      (void)co_await call->finish_writes();
      co_return;
    }
    if (!co_await call->write(std::move(*next))) co_return;  // the reader learns why
  }
}

// What a cancellation of the coroutine awaiting an operation does to the call.
enum class CallerCancellation { kCancelsCall, kIgnored };

// Runs `op(call)` (returning awaitable<Result<T>>) on the call's loop, inline when already there;
// with kCancelsCall the awaiting coroutine's cancellation cancels the call while `op` runs.
template <class T, class Op>
asio::awaitable<Result<T>> on_call_loop(std::shared_ptr<ClientCallState> call, Op op,
                                        CallerCancellation cancellation = CallerCancellation::kCancelsCall) {
  auto body = [call, op = std::move(op), cancellation]() mutable -> asio::awaitable<Result<T>> {
    std::optional<CancellationForward> forward;
    if (cancellation == CallerCancellation::kCancelsCall) {
      auto cs = co_await asio::this_coro::cancellation_state;
      forward.emplace(cs.slot(), call);
    }
    co_return co_await cancellation_as_error(op(*call));
  };
  // GCC 12 double-destroys a lambda prvalue passed to a coroutine: name it first.
  co_return co_await run_on_loop<Result<T>>(call->client(), std::move(body));
}

// The metadata a call sends: options.metadata, with a child of options.trace_parent in place of
// any traceparent entry when it is set.
Metadata outgoing_metadata(const CallOptions& options) {
  if (!options.trace_parent) return options.metadata;
  Metadata metadata;
  metadata.reserve(options.metadata.size() + 1);
  for (const auto& entry : options.metadata) {
    if (entry.first != kTraceparentKey) metadata.push_back(entry);
  }
  metadata.emplace_back(std::string(kTraceparentKey), format_traceparent(child_span(*options.trace_parent)));
  return metadata;
}

RequestSource source_from(std::vector<Bytes> requests) {
  auto items = std::make_shared<std::vector<Bytes>>(std::move(requests));
  auto index = std::make_shared<std::size_t>(0);
  return [items, index]() -> asio::awaitable<std::optional<Bytes>> {
    if (*index >= items->size()) co_return std::nullopt;
    co_return std::optional<Bytes>(std::move((*items)[(*index)++]));
  };
}

}  // namespace
}  // namespace detail

using detail::cancellation_as_error;

// ---- ResponseStream / ClientCall ------------------------------------------------------------------

ResponseStream::ResponseStream(std::shared_ptr<ClientCallState> state) : state_(std::move(state)) {}
ResponseStream::~ResponseStream() { detail::release_on_loop(std::move(state_)); }

ResponseStream& ResponseStream::operator=(ResponseStream&& other) noexcept {
  if (this != &other) detail::release_on_loop(std::exchange(state_, std::move(other.state_)));
  return *this;
}

asio::awaitable<Result<std::optional<Bytes>>> ResponseStream::next() {
  auto read = [](ClientCallState& call) { return call.read(); };
  co_return co_await detail::on_call_loop<std::optional<Bytes>>(state_, std::move(read));
}

void ResponseStream::cancel() { detail::cancel_on_loop(state_); }
const Metadata& ResponseStream::trailer_metadata() const { return state_->trailer_metadata(); }

ClientCall::ClientCall(std::shared_ptr<ClientCallState> state) : state_(std::move(state)) {}
ClientCall::~ClientCall() { detail::release_on_loop(std::move(state_)); }

ClientCall& ClientCall::operator=(ClientCall&& other) noexcept {
  if (this != &other) detail::release_on_loop(std::exchange(state_, std::move(other.state_)));
  return *this;
}

asio::awaitable<Result<void>> ClientCall::write(Bytes message) {
  auto write = [message = std::move(message)](ClientCallState& call) mutable {
    return call.write(std::move(message));
  };
  co_return co_await detail::on_call_loop<void>(state_, std::move(write));
}

asio::awaitable<Result<void>> ClientCall::finish() {
  auto finish = [](ClientCallState& call) { return call.finish_writes(); };
  co_return co_await detail::on_call_loop<void>(state_, std::move(finish),
                                                detail::CallerCancellation::kIgnored);
}

asio::awaitable<Result<std::optional<Bytes>>> ClientCall::read() {
  auto read = [](ClientCallState& call) { return call.read(); };
  co_return co_await detail::on_call_loop<std::optional<Bytes>>(state_, std::move(read));
}

void ClientCall::cancel() { detail::cancel_on_loop(state_); }
const Metadata& ClientCall::trailer_metadata() const { return state_->trailer_metadata(); }

// ---- RpcClient ------------------------------------------------------------------------------------

RpcClient::RpcClient(std::shared_ptr<ClientShared> shared) : shared_(std::move(shared)) {}

namespace {

using ConnectResult = Result<std::shared_ptr<transport::ClientConnection>>;

asio::awaitable<ConnectResult> connect_quic(SocketAddress server, RpcConfig config,
                                            std::shared_ptr<const quic::TlsCredentials> credentials,
                                            std::optional<SocketAddress> local) {
  Result<std::shared_ptr<quic::Connection>> connection = RpcError::connection("not connected");
  if (config.network()) {
    auto port = config.network()->implementation().open(local.value_or(SocketAddress(server.address(), 0)));
    if (!port) co_return std::move(port).error();
    connection = co_await quic::Connection::connect(std::move(*port), server, std::move(credentials),
                                                    rpc::transport_settings(config));
  } else {
    connection = co_await quic::Connection::connect(server, std::move(credentials),
                                                    rpc::transport_settings(config), local);
  }
  if (!connection) co_return std::move(connection).error();
  co_return std::shared_ptr<transport::ClientConnection>(std::move(*connection));
}

// gRPC over HTTP/2 + TLS on TCP, by `deadline` (connect() started then plus the connect
// timeout: a fallback started later does not extend it).
asio::awaitable<ConnectResult> connect_http2(SocketAddress server, RpcConfig config,
                                             std::shared_ptr<const quic::TlsCredentials> credentials,
                                             std::chrono::steady_clock::time_point deadline) {
  using namespace asio::experimental::awaitable_operators;
  const std::string authority = config.server_name().empty() ? to_string(server) : config.server_name();
  asio::steady_timer expiry(co_await asio::this_coro::executor, deadline);
  // Both named before the co_await: GCC 12 mishandles temporaries in co_await expressions.
  auto connecting = grpc_compat::GrpcConnection::connect(server, std::move(credentials), authority,
                                                         rpc::grpc_limits(config));
  auto expiring = expiry.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  auto raced = co_await (std::move(connecting) || std::move(expiring));
  if (raced.index() == 1) {
    co_return RpcError::connection("TCP + TLS connection to " + to_string(server) + " not established within " +
                                   std::to_string(config.connect_timeout().count()) + " ms");
  }
  auto connected = std::move(std::get<0>(raced));
  if (!connected) co_return std::move(connected).error();
  co_return std::shared_ptr<transport::ClientConnection>(std::move(*connected));
}

// Happy eyeballs between the transports (RFC 8305's racing, applied to QUIC and TCP): QUIC
// first; TCP as well once the fallback delay passed or QUIC failed; the first to connect wins and
// the other, if it connects later, is closed.
struct TransportRace {
  std::optional<ConnectResult> quic;
  std::optional<ConnectResult> http2;
  bool delay_passed = false;
  bool decided = false;
  runtime::Notifier changed;
  // Cancel an attempt still running once the race is decided: a losing QUIC attempt would go on
  // sending Initials (and hold its socket and TLS session) until its own connect timeout.
  asio::cancellation_signal cancel_quic;
  asio::cancellation_signal cancel_http2;

  void decide() {
    decided = true;
    cancel_quic.emit(asio::cancellation_type::terminal);
    cancel_http2.emit(asio::cancellation_type::terminal);
  }
};

asio::awaitable<void> run_attempt(std::shared_ptr<TransportRace> race, bool is_quic,
                                  asio::awaitable<ConnectResult> attempt) {
  ConnectResult result = co_await std::move(attempt);
  if (race->decided) {
    // Lost the race (or the caller gave up): nobody will use this connection.
    if (result) (*result)->close(static_cast<std::uint64_t>(wire::ConnectionCloseCode::kNoError), "not needed");
    co_return;
  }
  (is_quic ? race->quic : race->http2) = std::move(result);
  race->changed.notify();
}

struct Chosen {
  std::shared_ptr<transport::ClientConnection> connection;
  Transport transport;
};

asio::awaitable<Result<Chosen>> race_transports(SocketAddress server, RpcConfig config,
                                                std::shared_ptr<const quic::TlsCredentials> credentials,
                                                std::optional<SocketAddress> local) {
  auto executor = co_await asio::this_coro::executor;
  const auto deadline = std::chrono::steady_clock::now() + config.connect_timeout();
  auto race = std::make_shared<TransportRace>();
  asio::co_spawn(executor, run_attempt(race, true, connect_quic(server, config, credentials, local)),
                 asio::bind_cancellation_slot(race->cancel_quic.slot(), asio::detached));
  asio::steady_timer delay(executor, config.fallback_delay());
  delay.async_wait([race](std::error_code error) {
    if (error) return;
    race->delay_passed = true;
    race->changed.notify();
  });
  bool http2_started = false;
  for (;;) {
    if (race->quic && *race->quic) {
      race->decide();
      co_return Chosen{std::move(**race->quic), Transport::kQuic};
    }
    if (race->http2 && *race->http2) {
      race->decide();
      RPCNET_LOG(kRpc, kInfo, "connected over HTTP/2: QUIC did not connect in time",
                 {{"peer", to_string(server)},
                  {"reason", race->quic ? race->quic->error().message()
                                        : "no QUIC handshake within " +
                                              std::to_string(config.fallback_delay().count()) + " ms"}});
      co_return Chosen{std::move(**race->http2), Transport::kHttp2};
    }
    if (!http2_started && (race->delay_passed || race->quic)) {
      http2_started = true;
      asio::co_spawn(executor, run_attempt(race, false, connect_http2(server, config, credentials, deadline)),
                     asio::bind_cancellation_slot(race->cancel_http2.slot(), asio::detached));
      continue;
    }
    if (race->quic && race->http2) {
      // Both failed: QUIC's reason, unless TCP got as far as TLS (a certificate problem, say),
      // which says more than a UDP timeout.
      race->decide();
      if (race->http2->error().kind() == ErrorKind::kTls && race->quic->error().kind() != ErrorKind::kTls) {
        co_return race->http2->error();
      }
      co_return race->quic->error();
    }
    if (co_await race->changed.async_wait(asio::use_awaitable) == runtime::WakeReason::kCancelled) {
      race->decide();
      co_return RpcError::cancelled("connect cancelled");
    }
  }
}

}  // namespace

asio::awaitable<Result<RpcClient>> RpcClient::connect(SocketAddress server, RpcConfig config) {
  auto credentials = rpc::client_credentials(config, server);
  if (!credentials) co_return std::move(credentials).error();
  std::optional<SocketAddress> local;
  if (!config.bind_address().empty()) {
    auto bind = config.parsed_bind_address();
    if (!bind) co_return std::move(bind).error();
    if (bind->address().is_v4() != server.address().is_v4()) {
      co_return RpcError::config("bind address \"" + config.bind_address() +
                                 "\" and server address " + to_string(server) +
                                 " are of different IP families");
    }
    if (!bind->address().is_unspecified() || bind->port() != 0) local = *bind;
  }
  // An in-memory network has no TCP: QUIC only.
  const TransportChoice choice = config.network() ? TransportChoice::kQuicOnly : config.transport();
  Result<Chosen> chosen = RpcError::connection("not connected");
  if (choice == TransportChoice::kQuicOnly) {
    auto connection = co_await connect_quic(server, config, std::move(*credentials), local);
    if (connection) chosen = Chosen{std::move(*connection), Transport::kQuic};
    else chosen = std::move(connection).error();
  } else if (choice == TransportChoice::kHttp2Only) {
    auto connection = co_await connect_http2(server, config, std::move(*credentials),
                                             std::chrono::steady_clock::now() + config.connect_timeout());
    if (connection) chosen = Chosen{std::move(*connection), Transport::kHttp2};
    else chosen = std::move(connection).error();
  } else {
    chosen = co_await race_transports(server, config, std::move(*credentials), local);
  }
  if (!chosen) co_return std::move(chosen).error();
  config.metrics_registry()
      .counter("rpcnet_client_connections_total", "Client connections established, by transport.",
               {{"transport", chosen->transport == Transport::kQuic ? "quic" : "http2"}})
      .inc();
  auto executor = co_await asio::this_coro::executor;
  co_return RpcClient(std::make_shared<ClientShared>(executor, std::move(chosen->connection), config,
                                                     chosen->transport));
}

namespace detail {
namespace {

// Runs `fn(call)` for a new call of `kind` on the client's loop, with the awaiting coroutine's
// cancellation forwarded to the call while `fn` runs. `fn` must be a named object (GCC 12).
template <class T, class Fn>
asio::awaitable<Result<T>> with_new_call(std::shared_ptr<ClientShared> shared, CallKind kind,
                                         const CallOptions& options, Fn fn) {
  auto body = [shared, kind, timeout = shared->timeout_for(options),
               fn = std::move(fn)]() mutable -> asio::awaitable<Result<T>> {
    auto call = std::make_shared<ClientCallState>(shared, kind, timeout);
    auto cs = co_await asio::this_coro::cancellation_state;
    CancellationForward forward(cs.slot(), call);
    co_return co_await cancellation_as_error(fn(call));
  };
  co_return co_await run_on_loop<Result<T>>(*shared, std::move(body));
}

}  // namespace
}  // namespace detail

using CallPtr = std::shared_ptr<ClientCallState>;

asio::awaitable<Result<Bytes>> RpcClient::call(std::string_view method, Bytes request,
                                               CallOptions options) const {
  auto unary = [method = std::string(method), request = std::move(request),
                metadata = detail::outgoing_metadata(options)](CallPtr call) mutable -> asio::awaitable<Result<Bytes>> {
    if (auto started = co_await call->start(method, std::move(metadata), std::move(request), true); !started) {
      co_return std::move(started).error();
    }
    co_return co_await call->read_single();
  };
  co_return co_await detail::with_new_call<Bytes>(shared_, CallKind::kUnary, options,
                                                  std::move(unary));
}

asio::awaitable<Result<ResponseStream>> RpcClient::call_streaming(std::string_view method,
                                                                  std::vector<Bytes> requests,
                                                                  CallOptions options) const {
  return call_streaming(method, detail::source_from(std::move(requests)), std::move(options));
}

asio::awaitable<Result<ResponseStream>> RpcClient::call_streaming(std::string_view method,
                                                                  RequestSource requests,
                                                                  CallOptions options) const {
  auto bidi = [method = std::string(method), requests = std::move(requests),
               metadata = detail::outgoing_metadata(options)](CallPtr call) mutable -> asio::awaitable<Result<ResponseStream>> {
    if (auto started = co_await call->start(method, std::move(metadata), std::nullopt, false); !started) {
      co_return std::move(started).error();
    }
    // Requests flow from their own coroutine, so responses can be read while they are sent.
    asio::co_spawn(call->client().executor(), detail::pump_requests(call, std::move(requests)),
                   asio::detached);
    co_return ResponseStream(std::move(call));
  };
  co_return co_await detail::with_new_call<ResponseStream>(shared_, CallKind::kBidiStreaming,
                                                           options, std::move(bidi));
}

asio::awaitable<Result<ResponseStream>> RpcClient::call_server_streaming(std::string_view method,
                                                                         Bytes request,
                                                                         CallOptions options) const {
  auto server_streaming = [method = std::string(method), request = std::move(request),
                           metadata = detail::outgoing_metadata(options)](CallPtr call) mutable
      -> asio::awaitable<Result<ResponseStream>> {
    if (auto started = co_await call->start(method, std::move(metadata), std::move(request), true); !started) {
      co_return std::move(started).error();
    }
    co_return ResponseStream(std::move(call));
  };
  co_return co_await detail::with_new_call<ResponseStream>(shared_, CallKind::kServerStreaming,
                                                           options, std::move(server_streaming));
}

asio::awaitable<Result<Bytes>> RpcClient::call_client_streaming(std::string_view method,
                                                                std::vector<Bytes> requests,
                                                                CallOptions options) const {
  return call_client_streaming(method, detail::source_from(std::move(requests)), std::move(options));
}

asio::awaitable<Result<Bytes>> RpcClient::call_client_streaming(std::string_view method,
                                                                RequestSource requests,
                                                                CallOptions options) const {
  auto client_streaming = [method = std::string(method), requests = std::move(requests),
                           metadata = detail::outgoing_metadata(options)](CallPtr call) mutable
      -> asio::awaitable<Result<Bytes>> {
    if (auto started = co_await call->start(method, std::move(metadata), std::nullopt, false); !started) {
      co_return std::move(started).error();
    }
    for (;;) {
      std::optional<Bytes> next = co_await requests();
      if (!next) {
        if (auto finished = co_await call->finish_writes(); !finished && !call->ended()) {
          co_return std::move(finished).error();
        }
        break;
      }
      // A failed write usually means the server already answered: read its status.
      if (!co_await call->write(std::move(*next))) break;
    }
    co_return co_await call->read_single();
  };
  co_return co_await detail::with_new_call<Bytes>(shared_, CallKind::kClientStreaming, options,
                                                  std::move(client_streaming));
}

asio::awaitable<Result<ClientCall>> RpcClient::open_call(std::string_view method,
                                                         CallOptions options) const {
  auto open = [method = std::string(method),
               metadata = detail::outgoing_metadata(options)](CallPtr call) mutable -> asio::awaitable<Result<ClientCall>> {
    if (auto started = co_await call->start(method, std::move(metadata), std::nullopt, false); !started) {
      co_return std::move(started).error();
    }
    co_return ClientCall(std::move(call));
  };
  co_return co_await detail::with_new_call<ClientCall>(shared_, CallKind::kBidiStreaming, options,
                                                       std::move(open));
}

std::uint64_t RpcClient::next_request_id() const noexcept { return shared_->peek_request_id(); }
bool RpcClient::is_connected() const noexcept { return shared_->connected(); }
bool RpcClient::resumed_session() const noexcept { return shared_->resumed(); }
const TlsParameters& RpcClient::tls_parameters() const noexcept { return shared_->tls(); }
std::size_t RpcClient::max_udp_payload() const noexcept { return shared_->connection().max_udp_payload(); }
Transport RpcClient::transport() const noexcept { return shared_->transport(); }
const SocketAddress& RpcClient::remote_address() const noexcept { return shared_->remote(); }
void RpcClient::close() { shared_->close(); }

}  // namespace rpcnet
