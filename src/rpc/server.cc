#include <asio/bind_cancellation_slot.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <algorithm>
#include <thread>

#include "rpc/read_single.h"
#include "rpc/server_call.h"
#include "rpc/server_metrics.h"
#include "rpc/transport_config.h"
#include "rpc/wire/codes.h"
#include "rpcnet/testing/in_memory_network.h"
#include "runtime/clock.h"
#include "runtime/memory_network.h"
#include "runtime/timer.h"

namespace rpcnet {

using namespace asio::experimental::awaitable_operators;
using detail::ServerCall;
using detail::ServerLoop;
using detail::ServerState;
using wire::CallKind;
using wire::StreamErrorCode;

namespace detail {

namespace {

constexpr auto kUnwindLimit = std::chrono::seconds(2);

std::uint64_t code_of(StreamErrorCode code) { return static_cast<std::uint64_t>(code); }

Bytes trailer_frame(const wire::Trailer& trailer) {
  Bytes out;
  wire::append_frame(out, wire::FrameType::kTrailer, wire::encode_trailer(trailer));
  return out;
}

const Bytes& ok_trailer_frame() {
  static const Bytes frame = trailer_frame(wire::Trailer{});
  return frame;
}

const char* kind_name(CallKind kind) {
  switch (kind) {
    case CallKind::kUnary: return "unary";
    case CallKind::kServerStreaming: return "server-streaming";
    case CallKind::kClientStreaming: return "client-streaming";
    case CallKind::kBidiStreaming: return "bidirectional";
  }
  return "unknown";
}

}  // namespace

// ---- ServerState ----------------------------------------------------------------------------------

ServerState::~ServerState() {
  // Order matters: objects here own I/O objects of the loops, and frames on the loops point here.
  metrics.reset();                     // 0. no scrape reads the state from here on
  if (workers) workers->join();        // 1. blocking handlers finish before their frames go
  if (runtime) runtime->shutdown();    // 2. threads joined, pending frames destroyed, loops alive
  grpc_listener.reset();               //    its acceptor belongs to the first loop
  registry.clear();                    // 3. handlers (and what they captured) while services live
  loops.clear();                       // 4. endpoints and connections
  runtime.reset();                     // 5. the loops themselves
}

std::int64_t ServerState::active_calls() const {
  std::int64_t total = 0;
  // Sequentially consistent, as are the calls' decrements and draining_ (see note_call_ended).
  for (const auto& loop : loops) total += loop->active_calls.load();
  return total;
}

asio::awaitable<void> ServerState::wait_done() {
  // A cancelled wait just returns, as it always has: start() then reports ok().
  std::error_code ignored;
  co_await done_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
}

void ServerState::wait_done_blocking() {
  MutexLock lock(done_mutex_);
  // The predicate runs with done_mutex_ held, inside a std:: template the analysis cannot see.
  done_changed_.wait(done_mutex_, [this]() RPCNET_NO_THREAD_SAFETY_ANALYSIS { return done_flag_; });
}

void ServerState::mark_done() {
  {
    MutexLock lock(done_mutex_);
    done_flag_ = true;
    done_changed_.notify_all();
  }
  done_.set();
}

void ServerState::note_call_ended() {
  if (draining_.load() && active_calls() == 0) drained_.set();
}

asio::awaitable<void> ServerState::wait_drained(std::chrono::steady_clock::duration limit) {
  if (active_calls() == 0) co_return;
  // The limit is measured on the server's clock (virtual on an in-memory network); its expiry
  // is an Event too, so the race below can cancel either side.
  auto expired = std::make_shared<runtime::Event>();
  runtime::Timer expiry(co_await asio::this_coro::executor, clock);
  expiry.expires_after(limit);
  expiry.async_wait([expired](asio::error_code error) {
    if (!error) expired->set();
  });
  (void)co_await (drained_.wait() || expired->wait());
}

asio::awaitable<void> ServerState::on_each_loop(std::function<void(ServerLoop&)> fn) {
  if (loops.empty()) co_return;
  auto all_ran = std::make_shared<runtime::Event>();  // co-owned by the posts to the loops
  auto remaining = std::make_shared<std::atomic<std::size_t>>(loops.size());
  for (auto& loop : loops) {
    asio::post(loop->executor, [fn, raw = loop.get(), remaining, all_ran] {
      fn(*raw);
      if (remaining->fetch_sub(1) == 1) all_ran->set();
    });
  }
  co_await all_ran->wait();
}

asio::awaitable<void> ServerState::shutdown(std::chrono::milliseconds grace,
                                            std::chrono::milliseconds drain) {
  if (shutting_down.exchange(true)) {
    co_await wait_done();
    co_return;
  }
  health.begin_shutdown();
  if (!started.load()) {
    mark_done();
    co_return;
  }
  // 0. Drain: health says NOT_SERVING (watchers and cluster peers hear it now) while calls are
  // still accepted, so balancers stop sending before anything is refused.
  if (drain.count() > 0) {
    auto expired = std::make_shared<runtime::Event>();
    runtime::Timer expiry(co_await asio::this_coro::executor, clock);
    expiry.expires_after(drain);
    expiry.async_wait([expired](asio::error_code error) {
      if (!error) expired->set();
    });
    (void)co_await (drain_cut_.wait() || expired->wait());
  }
  // 1. Refuse new connections and calls; health watches end cleanly (they would otherwise hold
  // the grace period open).
  co_await on_each_loop([this](ServerLoop& loop) {
    loop.refusing = true;
    loop.endpoint->stop_accepting();
    if (grpc_listener && &loop == loops.front().get()) grpc_listener->stop();
    for (auto& [raw, connection] : loop.grpc_connections) {
      if (auto alive = connection.lock()) alive->stop_accepting();
    }
  });
  health.close_watches();
  // 2. Let calls in flight finish within the grace period. No call starts from here on, so the
  // count only falls, and the call that takes it to zero sets drained_.
  draining_.store(true);
  co_await wait_drained(grace);
  // 3. Cancel what is left and close every connection with the shutdown code.
  co_await on_each_loop([](ServerLoop& loop) {
    const std::vector<ServerCall*> calls(loop.calls.begin(), loop.calls.end());
    for (ServerCall* call : calls) {
      call->cancel(RpcError::cancelled("server shutting down"), StreamErrorCode::kShutdown);
    }
    loop.endpoint->close_all(static_cast<std::uint64_t>(wire::ConnectionCloseCode::kShutdown),
                             "server shutting down");
    const auto grpc_connections = std::move(loop.grpc_connections);
    loop.grpc_connections.clear();
    for (const auto& [raw, connection] : grpc_connections) {
      if (auto alive = connection.lock()) alive->close_now();
    }
  });
  // 4. Give cancelled handlers a bounded moment to unwind, then stop the sockets.
  co_await wait_drained(kUnwindLimit);
  co_await on_each_loop([](ServerLoop& loop) { loop.endpoint->stop(); });
  mark_done();
}

void ServerState::mark_serving(std::string_view method) {
  health.set_if_absent("", HealthStatus::kServing);
  const auto slash = method.find('/');
  if (slash == std::string_view::npos || slash == 0) return;  // a bare name names no service
  health.set_if_absent(std::string(method.substr(0, slash)), HealthStatus::kServing);
}

void ServerState::accept(ServerLoop& loop, const std::shared_ptr<quic::Connection>& connection) {
  loop.connections_open.fetch_add(1, std::memory_order_relaxed);
  connection->set_close_handler([&loop](const RpcError&) {
    loop.connections_open.fetch_sub(1, std::memory_order_relaxed);
  });
  connection->set_stream_acceptor(
      [this, &loop, weak = std::weak_ptr<quic::Connection>(connection)](
          std::shared_ptr<quic::Stream> stream) {
        auto owner = weak.lock();
        if (!owner || loop.refusing) {
          // Not started: the client may safely retry elsewhere (UNAVAILABLE).
          stream->reset(code_of(StreamErrorCode::kRefused));
          return;
        }
        ServerCall::spawn(*this, loop, std::move(owner), std::move(stream));
      });
}

// ---- ServerCall -----------------------------------------------------------------------------------

ServerCall::ServerCall(ServerState& server, ServerLoop& loop,
                       std::shared_ptr<transport::CallConnection> connection,
                       std::shared_ptr<transport::CallStream> stream)
    : server_(server),
      loop_(loop),
      connection_(std::move(connection)),
      stream_(std::move(stream)),
      core_(server.limits) {
  loop_.calls.insert(this);
  loop_.active_calls.fetch_add(1, std::memory_order_relaxed);
  loop_.calls_started.fetch_add(1, std::memory_order_relaxed);
}

ServerCall::~ServerCall() {
  connection_->budget().release(charged_);
  loop_.deadlines->remove(*this);
  loop_.calls.erase(this);
  loop_.active_calls.fetch_sub(1);
  server_.note_call_ended();
}

void ServerCall::spawn(ServerState& server, ServerLoop& loop,
                       std::shared_ptr<transport::CallConnection> connection,
                       std::shared_ptr<transport::CallStream> stream) {
  auto call = std::make_shared<ServerCall>(server, loop, std::move(connection), std::move(stream));
  call->stream_->set_abort_handler([weak = std::weak_ptr<ServerCall>(call)](std::uint64_t code) {
    auto self = weak.lock();
    if (!self) return;
    if (code == transport::kAbortConnectionClosed) {
      self->cancel(RpcError::connection("connection closed"), StreamErrorCode::kCancelled);
    } else if (code == code_of(StreamErrorCode::kResourceExhausted)) {
      // Our own stream gave up: the peer made it hold more than the connection's budget.
      self->cancel(RpcError::status(StatusCode::kResourceExhausted,
                                    "the connection's memory budget is exhausted"),
                   StreamErrorCode::kResourceExhausted);
    } else if (code == code_of(StreamErrorCode::kDeadlineExceeded)) {
      self->cancel(RpcError::timeout("client deadline exceeded"), StreamErrorCode::kCancelled);
    } else {
      self->cancel(RpcError::cancelled("cancelled by the client"), StreamErrorCode::kCancelled);
    }
  });
  auto slot = call->signal_.slot();
  asio::co_spawn(loop.executor, [call = std::move(call)] { return call->serve(); },
                 asio::bind_cancellation_slot(slot, asio::detached));
}

void ServerCall::cancel(RpcError reason, StreamErrorCode code) {
  if (cancel_reason_ || answered_) return;
  cancel_reason_ = std::move(reason);
  answered_ = true;
  if (observed()) final_error_ = cancel_reason_;
  if (context_) context_->mark_cancelled();
  loop_.deadlines->remove(*this);
  stream_->reset(code_of(code));
  signal_.emit(asio::cancellation_type::terminal);
}

void ServerCall::arm_deadline(std::chrono::microseconds timeout) {
  // `timeout` came from the peer, clamped by the header decoder (wire::kMaxTimeout), so this
  // sum cannot overflow.
  loop_.deadlines->add(*this, connection_->clock().now() + timeout);
}

void ServerCall::on_deadline() {
  if (!header_received_) {
    // A stream that opened and never finished its header: a slow or hostile client holding a
    // stream (and its share of the connection's budget) for nothing.
    loop_.header_timeouts.fetch_add(1, std::memory_order_relaxed);
    cancel(RpcError::timeout("the call header did not arrive in time"),
           StreamErrorCode::kHeaderTimeout);
    return;
  }
  cancel(RpcError::timeout("deadline exceeded"), StreamErrorCode::kDeadlineExceeded);
}

bool ServerCall::sync_budget() {
  const std::size_t held = core_.held_bytes() + header_bytes_;
  if (held <= charged_) {
    connection_->budget().release(charged_ - held);
    charged_ = held;
    return true;
  }
  if (connection_->budget().try_charge(held - charged_)) {
    charged_ = held;
    return true;
  }
  cancel(RpcError::status(StatusCode::kResourceExhausted,
                          "the connection's memory budget of " +
                              std::to_string(connection_->budget().limit()) +
                              " bytes is exhausted"),
         StreamErrorCode::kResourceExhausted);
  connection_->note_budget_reset();
  return false;
}

asio::awaitable<std::optional<rpc::InboundEvent>> ServerCall::next_event() {
  for (;;) {
    if (core_.has_event()) {
      rpc::InboundEvent event = core_.pop_event();
      (void)sync_budget();  // releases what the event held
      co_return event;
    }
    if (cancelled()) co_return std::nullopt;
    if (!header_received_ && !armed() && !stream_->readable()) {
      // Only a header that did not come with the stream's first bytes needs a timer.
      loop_.deadlines->add(*this, connection_->clock().now() + server_.config.header_timeout());
    }
    transport::StreamChunk chunk = co_await stream_->read();
    switch (chunk.status) {
      case transport::StreamChunk::Status::kData:
        if (!chunk.data.empty()) core_.on_data(chunk.data);
        if (chunk.fin) core_.on_fin();
        stream_->recycle(std::move(chunk.data));
        if (!sync_budget()) co_return std::nullopt;
        break;
      case transport::StreamChunk::Status::kReset:
        cancel(chunk.reset_code == code_of(StreamErrorCode::kDeadlineExceeded)
                   ? RpcError::timeout("client deadline exceeded")
                   : RpcError::cancelled("cancelled by the client"),
               StreamErrorCode::kCancelled);
        co_return std::nullopt;
      case transport::StreamChunk::Status::kConnectionClosed:
        cancel(RpcError::connection("connection closed"), StreamErrorCode::kCancelled);
        co_return std::nullopt;
      case transport::StreamChunk::Status::kCancelled:
        co_return std::nullopt;
    }
  }
}

asio::awaitable<RpcError> ServerCall::apply_failure(rpc::InboundEvent& event) {
  RpcError error = std::move(*event.error);
  if (event.action == rpc::StreamAction::kReset) {
    if (observed() && !answered_) final_error_ = error;
    answered_ = true;
    stream_->reset(code_of(event.reset_code));
  } else if (event.action == rpc::StreamAction::kRespondStatus) {
    co_await respond_error(error);
    stream_->stop_reading(code_of(event.reset_code));
  }
  co_return error;
}

asio::awaitable<Result<std::optional<Bytes>>> ServerCall::read_request() {
  if (requests_done_) co_return std::optional<Bytes>();
  if (cancelled()) co_return *cancel_reason_;
  auto event = co_await next_event();
  if (!event) co_return cancel_reason_.value_or(RpcError::cancelled());
  switch (event->kind) {
    case rpc::InboundEvent::Kind::kMessage:
      if (observed()) tally_.request(event->message.size());
      co_return std::optional<Bytes>(std::move(event->message));
    case rpc::InboundEvent::Kind::kEnd:
      requests_done_ = true;
      if (event->error) co_return co_await apply_failure(*event);
      co_return std::optional<Bytes>();
    case rpc::InboundEvent::Kind::kHeader:
      break;
  }
  co_return RpcError::stream("unexpected call header", StatusCode::kInternal);
}

asio::awaitable<Result<Bytes>> ServerCall::read_single_request() {
  // The FIN must follow the request: a unary handler runs only on a complete request.
  auto read = [this] { return read_request(); };
  co_return co_await rpc::read_single_message(read, "no request message");
}

asio::awaitable<Result<void>> ServerCall::write_response(Bytes message) {
  if (cancelled()) co_return *cancel_reason_;
  if (answered_) co_return RpcError::stream("the call has already ended", StatusCode::kFailedPrecondition);
  if (wire::single_response(kind_) && responses_ == 1) {
    co_return RpcError::status(StatusCode::kFailedPrecondition,
                               std::string("a ") + kind_name(kind_) + " call takes one response");
  }
  if (message.size() > server_.limits.max_message_size) {
    co_return RpcError::status(StatusCode::kResourceExhausted,
                               "response message of " + std::to_string(message.size()) +
                                   " bytes exceeds max_message_size of " +
                                   std::to_string(server_.limits.max_message_size));
  }
  const std::size_t size = message.size();
  auto parts = rpc::encode_message_parts(std::move(message));
  auto written = co_await stream_->write(std::move(parts.head), std::move(parts.body), false);
  if (!written && written.error().code() == StatusCode::kResourceExhausted) {
    // The connection's memory budget is full (a client that does not read, typically): the
    // stream is already reset; the handler learns why.
    cancel(written.error(), StreamErrorCode::kResourceExhausted);
    co_return written.error();
  }
  if (!written) {
    // The client reset the stream or stopped reading: the call is over. Cancel it now, so the
    // handler sees context().cancelled() at once rather than when the abort notice arrives.
    cancel(RpcError::cancelled("the client went away"), StreamErrorCode::kCancelled);
    co_return cancel_reason_.value_or(RpcError::cancelled("the client went away"));
  }
  ++responses_;
  if (observed()) tally_.response(size);
  co_return ok();
}

std::optional<Bytes> ServerCall::ok_trailer_with_metadata() const {
  if (!context_ || context_->trailer_metadata().empty()) return std::nullopt;
  wire::Trailer trailer;
  trailer.metadata = context_->trailer_metadata();
  return trailer_frame(trailer);
}

asio::awaitable<void> ServerCall::respond_error(const RpcError& error) {
  if (answered_) co_return;
  answered_ = true;
  if (observed()) final_error_ = error;
  loop_.deadlines->remove(*this);
  wire::Trailer trailer = rpc::trailer_for(error);
  if (context_) trailer.metadata = context_->trailer_metadata();
  (void)co_await stream_->write(trailer_frame(trailer), {}, true);
  if (!requests_done_) stream_->stop_reading(code_of(StreamErrorCode::kNoError));
}

asio::awaitable<void> ServerCall::respond_unary(Result<Bytes> result) {
  if (!result) co_return co_await respond_error(result.error());
  Bytes& response = *result;
  if (response.size() > server_.limits.max_message_size) {
    co_return co_await respond_error(RpcError::status(
        StatusCode::kResourceExhausted,
        "response message of " + std::to_string(response.size()) +
            " bytes exceeds max_message_size of " + std::to_string(server_.limits.max_message_size)));
  }
  if (answered_) co_return;
  answered_ = true;
  loop_.deadlines->remove(*this);
  if (observed()) tally_.response(response.size());
  const std::optional<Bytes> with_metadata = ok_trailer_with_metadata();
  const Bytes& trailer = with_metadata ? *with_metadata : ok_trailer_frame();
  auto parts = rpc::encode_message_parts(std::move(response));
  if (parts.body.empty()) {
    // The common small response: message and status in one buffer, one STREAM frame with FIN.
    parts.head.insert(parts.head.end(), trailer.begin(), trailer.end());
    (void)co_await stream_->write(std::move(parts.head), {}, true);
  } else if (co_await stream_->write(std::move(parts.head), std::move(parts.body), false)) {
    (void)co_await stream_->write(Bytes(trailer), {}, true);
  }
}

asio::awaitable<void> ServerCall::respond_streaming(Result<void> result) {
  if (!result) co_return co_await respond_error(result.error());
  if (wire::single_response(kind_) && responses_ == 0) {
    co_return co_await respond_error(
        RpcError::status(StatusCode::kInternal, "handler finished without a response"));
  }
  if (answered_) co_return;
  answered_ = true;
  loop_.deadlines->remove(*this);
  (void)co_await stream_->write(ok_trailer_with_metadata().value_or(ok_trailer_frame()), {}, true);
  if (!requests_done_) stream_->stop_reading(code_of(StreamErrorCode::kNoError));
}

asio::awaitable<Result<Bytes>> ServerCall::run_blocking(
    std::shared_ptr<const rpc::MethodHandler> handler, Bytes request) {
  CallContext& context = *context_;
  // The worker runs outside this loop: cancellation must not be emitted across threads, so the
  // hop carries no cancellation slot; the handler polls context.cancelled() instead.
  // Named before the co_await: GCC 12 mishandles closure temporaries in co_await expressions.
  ServerState* server = &server_;
  // Take a place in the queue only if one is free (never over the limit, not even briefly).
  std::size_t queued = server->blocking_queued.load(std::memory_order_relaxed);
  const std::size_t limit = server->config.max_queued_blocking_calls();
  while (queued < limit && !server->blocking_queued.compare_exchange_weak(
                               queued, queued + 1, std::memory_order_relaxed)) {
  }
  if (queued >= limit) {
    server->blocking_rejected.fetch_add(1, std::memory_order_relaxed);
    co_return RpcError::status(StatusCode::kResourceExhausted,
                               "the server's queue of " +
                                   std::to_string(server->config.max_queued_blocking_calls()) +
                                   " blocking calls is full");
  }
  auto on_worker = [handler, request = std::move(request), &context,
                    server]() mutable -> asio::awaitable<std::optional<Result<Bytes>>> {
    server->blocking_queued.fetch_sub(1, std::memory_order_relaxed);
    if (context.cancelled()) {
      // Reset (or timed out) while it waited for a worker: nobody wants the answer.
      server->blocking_skipped.fetch_add(1, std::memory_order_relaxed);
      co_return Result<Bytes>(RpcError::cancelled("cancelled before a worker took it"));
    }
    try {
      co_return handler->blocking(std::move(request), context);
    } catch (const std::exception& error) {
      co_return Result<Bytes>(
          RpcError::status(StatusCode::kInternal, std::string("handler threw: ") + error.what()));
    }
  };
  auto result = co_await asio::co_spawn(
      server_.workers->get_executor(), std::move(on_worker),
      asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable));
  co_return std::move(*result);
}

asio::awaitable<void> ServerCall::serve() {
  auto self = shared_from_this();
  auto header = co_await next_event();
  header_received_ = true;
  loop_.deadlines->remove(*this);  // the header timeout, if it was armed
  if (!header) co_return;
  if (header->kind == rpc::InboundEvent::Kind::kEnd) {
    if (header->error) (void)co_await apply_failure(*header);
    co_return;
  }
  wire::CallHeader& h = *header->header;
  header_bytes_ = h.method.size();
  for (const auto& [key, value] : h.metadata) header_bytes_ += key.size() + value.size();
  if (!sync_budget()) co_return;
  kind_ = h.kind;
  const auto now = connection_->clock().now();
  const auto deadline = h.timeout ? now + *h.timeout : std::chrono::steady_clock::time_point::max();
  context_.emplace(h.method, std::move(h.metadata), h.request_id, deadline,
                   connection_->remote_address(), connection_->peer_certificate_subject());

  auto handler = loop_.handlers.find(server_.registry, h.method);
  // Tells the interceptors how the call ended once this coroutine does, however it ends.
  struct EndReport {
    ServerCall& call;
    ~EndReport() { call.report_end(); }
  } end_report{*this};
  if (!server_.interceptors.empty()) {
    if (h.timeout) arm_deadline(*h.timeout);  // the chain runs under the call's deadline
    std::optional<RpcError> rejected;
    try {
      rejected = co_await start_interceptors(handler != nullptr);
    } catch (const std::exception&) {
      co_return;  // cancelled while an interceptor waited: the stream is already reset
    }
    if (cancelled()) co_return;
    if (rejected) co_return co_await respond_error(*rejected);
  }
  if (!handler) {
    co_return co_await respond_error(
        RpcError::status(StatusCode::kNotFound, "unknown method \"" + h.method + "\""));
  }
  const bool streaming_handler = handler->kind == rpc::MethodHandler::Kind::kStreaming;
  if (streaming_handler != (kind_ != CallKind::kUnary)) {
    co_return co_await respond_error(RpcError::status(
        StatusCode::kUnimplemented, "method \"" + h.method + "\" is " +
                                        (streaming_handler ? "streaming" : "unary") +
                                        " and cannot be called as " + kind_name(kind_)));
  }
  if (h.timeout && !armed()) arm_deadline(*h.timeout);

  std::optional<RpcError> thrown;
  try {
    if (streaming_handler) {
      Result<void> result = co_await handler->streaming(ServerStream(*this));
      if (!cancelled()) co_await respond_streaming(std::move(result));
    } else {
      auto request = co_await read_single_request();
      if (!request) {
        if (!cancelled()) co_await respond_error(request.error());
        co_return;
      }
      // Not a ?: over two co_awaits: GCC 12 destroys the result of such an expression twice.
      std::optional<Result<Bytes>> result;
      if (handler->kind == rpc::MethodHandler::Kind::kBlocking) {
        result.emplace(co_await run_blocking(handler, std::move(*request)));
      } else {
        result.emplace(co_await handler->unary(std::move(*request), *context_));
      }
      if (!cancelled()) co_await respond_unary(std::move(*result));
    }
  } catch (const std::exception& error) {
    thrown = RpcError::status(StatusCode::kInternal, std::string("handler threw: ") + error.what());
  } catch (...) {
    thrown = RpcError::status(StatusCode::kInternal, "handler threw a non-standard exception");
  }
  // After a cancellation every co_await would throw; the stream is already reset anyway.
  if (thrown && !cancelled()) co_await respond_error(*thrown);
}

asio::awaitable<std::optional<RpcError>> ServerCall::start_interceptors(bool registered) {
  observed_.emplace(ServerCallInfo{*context_, rpc::call_type_of(kind_), registered});
  observed_since_ = connection_->clock().now();
  return rpc::run_on_start(server_.interceptors, *observed_, interceptors_started_);
}

void ServerCall::report_end() noexcept {
  if (!observed_) return;
  std::optional<RpcError> unanswered;
  if (!final_error_ && !answered_) unanswered = RpcError::cancelled("the call ended without a status");
  const RpcError* error = final_error_ ? &*final_error_ : (unanswered ? &*unanswered : nullptr);
  const CallOutcome outcome = tally_.outcome(error, connection_->clock().now() - observed_since_);
  rpc::run_on_end(server_.interceptors, interceptors_started_, *observed_, outcome);
  observed_.reset();
}

}  // namespace detail

// ---- ServerStream ---------------------------------------------------------------------------------

asio::awaitable<Result<std::optional<Bytes>>> ServerStream::read() { return call_->read_request(); }
asio::awaitable<Result<void>> ServerStream::write(Bytes message) {
  return call_->write_response(std::move(message));
}
CallContext& ServerStream::context() noexcept { return call_->context(); }

// ---- RpcServer ------------------------------------------------------------------------------------

RpcServer::RpcServer(RpcConfig config) : state_(std::make_unique<ServerState>(std::move(config))) {}

RpcServer::~RpcServer() {
  if (const auto& network = state_->config.network(); network && state_->started.load()) {
    // On the network's loop, driven from here (never from inside one of its runs). Closing
    // connections linger for three PTOs, instant in virtual time: wait for them to finish, so
    // nothing left on the network refers to this server.
    if (network->implementation().running()) return;
    state_->cut_drain();
    network->run(state_->shutdown(std::chrono::milliseconds(0), std::chrono::milliseconds(0)));
    (void)network->run_until([&] {
      return std::none_of(state_->loops.begin(), state_->loops.end(),
                          [](const auto& loop) { return loop->endpoint->has_connections(); });
    });
    return;
  }
  if (state_->runtime && state_->started.load()) {
    // Immediate shutdown, run on the server's own loop; never call from one of its loops.
    state_->cut_drain();
    asio::co_spawn(state_->runtime->executor(0),
                   state_->shutdown(std::chrono::milliseconds(0), std::chrono::milliseconds(0)),
                   asio::use_future)
        .wait();
  }
}

void RpcServer::register_method(std::string name, UnaryHandler handler) {
  rpc::MethodHandler entry;
  entry.kind = rpc::MethodHandler::Kind::kUnary;
  entry.unary = std::move(handler);
  if (state_->started.load()) state_->mark_serving(name);
  state_->registry.add(std::move(name), std::move(entry));
}

void RpcServer::register_blocking(std::string name, BlockingHandler handler) {
  rpc::MethodHandler entry;
  entry.kind = rpc::MethodHandler::Kind::kBlocking;
  entry.blocking = std::move(handler);
  if (state_->started.load()) state_->mark_serving(name);
  state_->registry.add(std::move(name), std::move(entry));
}

void RpcServer::register_streaming(std::string name, StreamingHandler handler) {
  rpc::MethodHandler entry;
  entry.kind = rpc::MethodHandler::Kind::kStreaming;
  entry.streaming = std::move(handler);
  if (state_->started.load()) state_->mark_serving(name);
  state_->registry.add(std::move(name), std::move(entry));
}

namespace {

// bind() on an in-memory network: one loop, the network's, with a port instead of a socket.
Result<SocketAddress> bind_in_memory(ServerState& st, const SocketAddress& address,
                                     std::shared_ptr<const quic::TlsCredentials> tls,
                                     const quic::TransportSettings& transport) {
  runtime::MemoryNetwork& network = st.config.network()->implementation();
  auto port = network.open(address);
  if (!port) return std::move(port).error();
  auto loop = std::make_unique<ServerLoop>();
  loop->executor = network.executor();
  loop->deadlines = std::make_unique<runtime::DeadlineQueue>(loop->executor, transport.clock);
  loop->port = std::move(*port);
  ServerLoop* raw = loop.get();
  quic::ServerEndpoint::Options endpoint_options;
  endpoint_options.transport = transport;
  endpoint_options.tls = std::move(tls);
  endpoint_options.shared = st.shared;
  endpoint_options.handshake_seconds = &st.metrics->handshake_seconds();
  loop->endpoint = std::make_shared<quic::ServerEndpoint>(
      loop->executor, loop->port.get(), std::move(endpoint_options),
      [&st, raw](const std::shared_ptr<quic::Connection>& connection) { st.accept(*raw, connection); });
  loop->port->set_receiver([endpoint = std::weak_ptr<quic::ServerEndpoint>(loop->endpoint),
                            clock = transport.clock](const runtime::ReceivedDatagram& datagram) {
    if (auto alive = endpoint.lock()) alive->receive(datagram, clock.now_ns());
  });
  const SocketAddress bound = loop->port->local_address();
  st.loops.push_back(std::move(loop));
  st.workers = std::make_unique<asio::thread_pool>(std::max<std::size_t>(1, st.config.worker_threads()));
  st.bound = bound;
  return bound;
}

}  // namespace

namespace {

// bind() over UDP: one loop per core (or as configured), each with its own socket on the port.
Result<SocketAddress> bind_sockets(ServerState& st, const SocketAddress& address,
                                   std::shared_ptr<const quic::TlsCredentials> tls,
                                   const quic::TransportSettings& transport) {
  std::size_t loops = st.config.event_loops();
  if (loops == 0) loops = std::max(1u, std::thread::hardware_concurrency());
  loops = std::min<std::size_t>(loops, 255);  // the loop index travels in a connection ID byte
  auto runtime = std::make_unique<Runtime>(loops);

  // One socket per loop on one port, shared with no other process (bind_group). With a single
  // loop no SO_REUSEPORT is set, so a port in use is reported by bind itself.
  std::vector<asio::any_io_executor> executors;
  for (std::size_t i = 0; i < loops; ++i) executors.push_back(runtime->executor(i));
  auto group = runtime::UdpSocket::bind_group(executors, address, runtime::UdpSocketOptions{});
  if (!group) return std::move(group).error();
  std::vector<std::unique_ptr<runtime::UdpSocket>> sockets = std::move(*group);
  const SocketAddress bound = sockets.front()->local_address();

  std::vector<std::shared_ptr<quic::ServerEndpoint>> endpoints;
  for (std::size_t i = 0; i < loops; ++i) {
    auto loop = std::make_unique<ServerLoop>();
    loop->executor = runtime->executor(i);
    loop->deadlines = std::make_unique<runtime::DeadlineQueue>(loop->executor);
    ServerLoop* raw = loop.get();
    quic::ServerEndpoint::Options endpoint_options;
    endpoint_options.transport = transport;
    endpoint_options.tls = tls;
    endpoint_options.shared = st.shared;
    endpoint_options.loop_index = static_cast<std::uint8_t>(i);
    endpoint_options.handshake_seconds = &st.metrics->handshake_seconds();
    loop->endpoint = std::make_shared<quic::ServerEndpoint>(
        loop->executor, std::move(sockets[i]), std::move(endpoint_options),
        [&st, raw](const std::shared_ptr<quic::Connection>& connection) {
          st.accept(*raw, connection);
        });
    endpoints.push_back(loop->endpoint);
    st.loops.push_back(std::move(loop));
  }
  for (auto& endpoint : endpoints) endpoint->set_peers(endpoints);
  st.workers = std::make_unique<asio::thread_pool>(std::max<std::size_t>(1, st.config.worker_threads()));
  st.runtime = std::move(runtime);
  st.bound = bound;
  return bound;
}

}  // namespace

namespace {

// With the gRPC listener: the TCP port is taken first, then the UDP endpoint's. When both are
// OS-picked and must share a number, a TCP port whose UDP twin is taken is given back and
// another tried.
Result<SocketAddress> bind_with_grpc(ServerState& st, const SocketAddress& address,
                                     const std::shared_ptr<const quic::TlsCredentials>& tls,
                                     const quic::TransportSettings& transport) {
  constexpr int kAttempts = 16;
  const std::optional<std::uint16_t> tcp_port = st.config.grpc_port();
  const bool pick_both = !tcp_port && address.port() == 0;
  Result<SocketAddress> bound = RpcError::config("no port pair found");
  for (int attempt = 0; attempt < (pick_both ? kAttempts : 1); ++attempt) {
    const std::uint16_t wanted = tcp_port ? *tcp_port : address.port();
    auto reserved = detail::ReservedTcpPort::listen(SocketAddress(address.address(), wanted));
    if (!reserved) return std::move(reserved).error();
    SocketAddress udp = address;
    if (!tcp_port) udp.port(reserved->port());
    bound = bind_sockets(st, udp, tls, transport);
    if (!bound) continue;
    st.grpc_listener = std::make_unique<detail::GrpcListener>(st, std::move(*reserved), tls);
    return bound;
  }
  return bound;
}

}  // namespace

Result<SocketAddress> RpcServer::bind() {
  ServerState& st = *state_;
  MutexLock lock(st.lifecycle_mutex);
  if (st.bound) return *st.bound;
  auto address = st.config.parsed_bind_address();
  if (!address) return std::move(address).error();
  auto tls = rpc::server_credentials(st.config);
  if (!tls) return std::move(tls).error();
  st.tls = *tls;
  auto secrets = quic::ServerSecrets::derive(st.config.key_path());
  if (!secrets) return std::move(secrets).error();
  st.shared = std::make_shared<quic::ServerShared>(rpc::admission_limits(st.config), *secrets);
  st.limits = rpc::frame_limits(st.config);
  const quic::TransportSettings transport = rpc::transport_settings(st.config);
  auto metrics = detail::ServerMetrics::start(st);
  if (!metrics) return std::move(metrics).error();
  st.metrics = std::move(*metrics);

  st.clock = transport.clock;
  Result<SocketAddress> bound = RpcError::config("not bound");
  if (st.config.network()) {
    bound = st.config.grpc_over_tcp()
                ? Result<SocketAddress>(RpcError::config(
                      "with_grpc_over_tcp needs real sockets, not an in-memory network"))
                : bind_in_memory(st, *address, *tls, transport);
  } else if (st.config.grpc_over_tcp()) {
    bound = bind_with_grpc(st, *address, *tls, transport);
  } else {
    bound = bind_sockets(st, *address, *tls, transport);
  }
  if (!bound) {
    st.metrics.reset();  // a later bind() starts them again
    return bound;
  }
  st.metrics->collect_from(st);  // the loops it reads are complete now
  return bound;
}


std::optional<SocketAddress> RpcServer::socket_addr() const { return state_->bound; }

std::optional<SocketAddress> RpcServer::grpc_address() const {
  MutexLock lock(state_->lifecycle_mutex);
  if (!state_->grpc_listener) return std::nullopt;
  return state_->grpc_listener->local_address();
}

namespace {

// Binds if needed and starts the endpoints, unless shutdown() came first: then there is nothing
// to serve and the shutdown is already complete.
Result<void> start_serving(RpcServer& server, ServerState& st) {
  {
    MutexLock lock(st.lifecycle_mutex);
    if (st.shutdown_requested) return ok();
  }
  if (auto bound = server.bind(); !bound) return std::move(bound).error();
  MutexLock lock(st.lifecycle_mutex);
  if (st.shutdown_requested || st.started.exchange(true)) return ok();
  st.mark_serving("");  // the server as a whole, even with no service registered
  // Named: a range-for over `*snapshot()` would let the temporary pointer go, and with it the
  // map, while a registration on another thread replaces it.
  const auto methods = st.registry.snapshot();
  for (const auto& [method, handler] : *methods) st.mark_serving(method);
  for (auto& loop : st.loops) {
    asio::post(loop->executor, [endpoint = loop->endpoint] { endpoint->start(); });
  }
  if (st.grpc_listener) {
    asio::post(st.loops.front()->executor, [listener = st.grpc_listener.get()] { listener->start(); });
  }
  return ok();
}

}  // namespace

Result<void> RpcServer::run() {
  if (auto started = start_serving(*this, *state_); !started) return started;
  state_->wait_done_blocking();
  return ok();
}

asio::awaitable<Result<void>> RpcServer::serve() {
  if (auto started = start_serving(*this, *state_); !started) co_return started;
  co_await state_->wait_done();
  co_return ok();
}

void RpcServer::shutdown(std::chrono::milliseconds grace) {
  ServerState& st = *state_;
  MutexLock lock(st.lifecycle_mutex);
  if (st.shutdown_requested) return;
  st.shutdown_requested = true;
  if (!st.started.load()) {
    // Never served: nothing to drain or close, and run()/serve() will not start serving.
    st.shutting_down = true;
    st.health.begin_shutdown();
    st.mark_done();
    return;
  }
  // Runs on the server's own loop, so callers on any thread (or a handler) never wait for it.
  asio::co_spawn(st.loops.front()->executor, st.shutdown(grace, st.config.drain_delay()),
                 asio::detached);
}

ServerStats RpcServer::stats() const { return state_->stats(); }

std::vector<std::string> RpcServer::method_names() const {
  const auto methods = state_->registry.snapshot();
  std::vector<std::string> names;
  names.reserve(methods->size());
  for (const auto& [name, handler] : *methods) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

const RpcConfig& RpcServer::config() const noexcept { return state_->config; }

HealthTable& RpcServer::health() noexcept { return state_->health; }

std::optional<SocketAddress> RpcServer::metrics_address() const {
  std::lock_guard lock(state_->lifecycle_mutex);
  return state_->metrics ? state_->metrics->endpoint_address() : std::nullopt;
}

namespace detail {

ServerStats ServerState::stats() const {
  ServerStats stats;
  for (const auto& loop : loops) {
    stats.connections_open += loop->connections_open.load(std::memory_order_relaxed);
    stats.calls_started += loop->calls_started.load(std::memory_order_relaxed);
    stats.calls_active += static_cast<std::uint64_t>(
        std::max<std::int64_t>(0, loop->active_calls.load(std::memory_order_relaxed)));
    stats.header_timeouts += loop->header_timeouts.load(std::memory_order_relaxed);
    const auto& counters = loop->endpoint->counters();
    const auto get = [](const std::atomic<std::uint64_t>& counter) {
      return counter.load(std::memory_order_relaxed);
    };
    stats.connections_accepted += get(counters.connections_accepted);
    stats.datagrams_dropped += get(counters.datagrams_dropped);
    stats.refused_connection_limit += get(counters.refused_connection_limit);
    stats.refused_handshake_limit += get(counters.refused_handshake_limit);
    stats.refused_source_rate += get(counters.refused_source_rate);
    stats.retries_sent += get(counters.retries_sent);
    stats.invalid_tokens += get(counters.invalid_tokens);
    stats.stateless_resets_sent += get(counters.stateless_resets_sent);
    stats.close_packets_sent += get(counters.close_packets_sent);
    stats.close_packets_suppressed += get(counters.close_packets_suppressed);
    stats.memory_budget_resets += get(counters.memory_budget_resets);
    stats.datagrams_forwarded += get(counters.datagrams_forwarded);
    stats.forwards_dropped += get(counters.forwards_dropped);
  }
  if (shared) stats.handshakes_in_progress = shared->admission.handshakes();
  if (grpc_listener) {
    stats.grpc_connections_accepted = grpc_listener->accepted();
    stats.grpc_connections_open = grpc_listener->open();
    stats.grpc_refused_connection_limit = grpc_listener->refused();
  }
  stats.blocking_calls_queued = blocking_queued.load(std::memory_order_relaxed);
  stats.blocking_calls_rejected = blocking_rejected.load(std::memory_order_relaxed);
  stats.blocking_calls_skipped = blocking_skipped.load(std::memory_order_relaxed);
  if (tls) stats.client_chains_verified = tls->full_chain_verifications();
  return stats;
}

}  // namespace detail

}  // namespace rpcnet
