// Server-side call machinery: the state of a running server (its loops and handler table) and of
// one call being served (its stream, deadline, cancellation and the sans-I/O ServerCallCore).
//
// A call runs as one coroutine on its connection's loop, spawned with the call's own cancellation
// signal bound: a client reset, the deadline, or shutdown emits it, which aborts whatever the
// handler is awaiting (the usual Asio cancellation) and sets CallContext::cancelled().
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/thread_pool.hpp>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "quic/connection.h"
#include "quic/server_endpoint.h"
#include "rpc/core/call_core.h"
#include "rpc/grpc/grpc_connection.h"
#include "rpc/grpc_listener.h"
#include "rpc/handler_registry.h"
#include "rpc/method_metrics.h"
#include "rpc/interceptor_chain.h"
#include "rpcnet/health.h"
#include "rpcnet/runtime.h"
#include "rpcnet/server.h"
#include "rpcnet/thread_annotations.h"
#include "runtime/deadline_queue.h"
#include "runtime/event.h"
#include "transport/call_stream.h"

namespace rpcnet::detail {

class ServerCall;

// Per event loop. Fields marked loop-local are touched only by that loop's thread.
struct ServerLoop {
  asio::any_io_executor executor;
  std::unique_ptr<runtime::MemoryPort> port;  // on an in-memory network, instead of a socket
  std::shared_ptr<quic::ServerEndpoint> endpoint;  // co-owned by its receive-loop coroutine and peers' forwarders
  rpc::HandlerCache handlers;              // loop-local
  bool refusing = false;                   // loop-local: shutting down, new calls are refused
  std::unordered_set<ServerCall*> calls;   // loop-local: calls in flight
  // Loop-local: the gRPC listener's connections on this loop (they own themselves).
  std::unordered_map<grpc_compat::GrpcConnection*, std::weak_ptr<grpc_compat::GrpcConnection>>
      grpc_connections;
  std::unique_ptr<runtime::DeadlineQueue> deadlines;  // loop-local: the calls' deadlines
  alignas(64) std::atomic<std::int64_t> active_calls{0};
  std::atomic<std::uint64_t> calls_started{0};
  std::atomic<std::uint64_t> connections_open{0};
  std::atomic<std::uint64_t> header_timeouts{0};
};

class ServerMetrics;

class ServerState {
 public:
  explicit ServerState(RpcConfig server_config)
      : config(std::move(server_config)),
        interceptors(rpc::server_chain(config)),
        health(config.max_health_watches()) {}
  ~ServerState();

  std::int64_t active_calls() const;
  ServerStats stats() const;
  // Completes once shutdown has finished (immediately if it has).
  asio::awaitable<void> wait_done();
  // wait_done() for a thread outside the server's loops.
  void wait_done_blocking();
  void mark_done();
  // Called by every call as it ends (any loop): while draining, the last one sets drained_.
  void note_call_ended();
  // Completes when no call is active (once draining has begun) or after `limit`.
  asio::awaitable<void> wait_drained(std::chrono::steady_clock::duration limit);
  // Runs `fn(ServerLoop&)` on every loop and completes when all have run it.
  asio::awaitable<void> on_each_loop(std::function<void(ServerLoop&)> fn);
  // `drain`: how long health says NOT_SERVING while calls are still accepted (see config.h).
  asio::awaitable<void> shutdown(std::chrono::milliseconds grace, std::chrono::milliseconds drain);
  // Ends a drain phase in progress at once (the destructor's immediate shutdown).
  void cut_drain() { drain_cut_.set(); }
  // Every service with a handler ("pkg.Service" of "pkg.Service/Method") and "" become SERVING
  // unless set already; called as serving starts and for later registrations.
  void mark_serving(std::string_view method);
  void accept(ServerLoop& loop, const std::shared_ptr<quic::Connection>& connection);

  RpcConfig config;
  // The method-metrics interceptor (unless disabled), then the config's own chain.
  const std::vector<std::shared_ptr<ServerInterceptor>> interceptors;
  rpc::HandlerRegistry registry;
  HealthTable health;
  wire::FrameLimits limits;
  // Serializes bind, the start of serving and the first shutdown request, which may come from
  // different threads (a signal handler's shutdown() racing run()'s bind).
  Mutex lifecycle_mutex;
  std::optional<SocketAddress> bound;
  std::unique_ptr<ServerMetrics> metrics;  // set by bind(); reset first on destruction
  std::atomic<bool> started{false};
  bool shutdown_requested RPCNET_GUARDED_BY(lifecycle_mutex) = false;  // shutdown() ran once
  std::atomic<bool> shutting_down{false};
  std::vector<std::unique_ptr<ServerLoop>> loops;
  std::unique_ptr<GrpcListener> grpc_listener;  // with RpcConfig::with_grpc_over_tcp
  runtime::Clock clock;  // TransportSettings::clock: real, or the in-memory network's
  std::shared_ptr<quic::ServerShared> shared;  // admission, connection-ID directory, secrets
  std::shared_ptr<const quic::TlsCredentials> tls;  // both transports' (stats: chains verified)
  std::unique_ptr<asio::thread_pool> workers;
  // Blocking calls posted to the worker pool and not yet started (bounded by the config).
  std::atomic<std::size_t> blocking_queued{0};
  std::atomic<std::uint64_t> blocking_rejected{0};  // refused: the queue was full
  std::atomic<std::uint64_t> blocking_skipped{0};   // cancelled before a worker took them
  // Declared last: destroyed first, so coroutine frames it drops still find the loops above.
  std::unique_ptr<Runtime> runtime;

 private:
  Mutex done_mutex_;  // for wait_done_blocking(): a thread outside the loops
  std::condition_variable_any done_changed_;
  bool done_flag_ RPCNET_GUARDED_BY(done_mutex_) = false;
  runtime::Event done_;  // shutdown has finished
  // Set once every loop refuses new calls: from then on active_calls() only falls, and the call
  // that takes it to zero sets drained_. Sequentially consistent with that count, so the last
  // call cannot miss the flag while shutdown misses its decrement.
  std::atomic<bool> draining_{false};
  runtime::Event drained_;
  runtime::Event drain_cut_;
};

// Owned by its serve() coroutine; the stream's abort hook and the deadline timer hold weak
// references, so a call ends when its coroutine does.
class ServerCall : public std::enable_shared_from_this<ServerCall>, private runtime::DeadlineEntry {
 public:
  ServerCall(ServerState& server, ServerLoop& loop,
             std::shared_ptr<transport::CallConnection> connection,
             std::shared_ptr<transport::CallStream> stream);
  ~ServerCall();
  ServerCall(const ServerCall&) = delete;
  ServerCall& operator=(const ServerCall&) = delete;

  // Starts serving on the loop, with the call's cancellation signal bound to the coroutine.
  static void spawn(ServerState& server, ServerLoop& loop,
                    std::shared_ptr<transport::CallConnection> connection,
                    std::shared_ptr<transport::CallStream> stream);

  // ServerStream's operations.
  asio::awaitable<Result<std::optional<Bytes>>> read_request();
  asio::awaitable<Result<void>> write_response(Bytes message);
  CallContext& context() noexcept { return *context_; }

  // Resets the stream with `code` and cancels the handler. Idempotent.
  void cancel(RpcError reason, wire::StreamErrorCode code);
  bool cancelled() const noexcept { return cancel_reason_.has_value(); }

 private:
  asio::awaitable<void> serve();
  // The next event from the client; nullopt when the call was cancelled or the connection died.
  asio::awaitable<std::optional<rpc::InboundEvent>> next_event();
  // Applies a failed kEnd event (reset, or answer with a status). Returns its error.
  asio::awaitable<RpcError> apply_failure(rpc::InboundEvent& event);
  asio::awaitable<Result<Bytes>> read_single_request();
  asio::awaitable<Result<Bytes>> run_blocking(std::shared_ptr<const rpc::MethodHandler> handler,
                                              Bytes request);
  // Ends the call with an error status (once; later calls do nothing).
  asio::awaitable<void> respond_error(const RpcError& error);
  asio::awaitable<void> respond_unary(Result<Bytes> result);
  // The OK status trailer frame when the handler set trailer metadata (else ok_trailer_frame()).
  std::optional<Bytes> ok_trailer_with_metadata() const;
  asio::awaitable<void> respond_streaming(Result<void> result);
  void arm_deadline(std::chrono::microseconds timeout);
  // Runs the server's interceptors' on_start; the error of one that rejected the call.
  asio::awaitable<std::optional<RpcError>> start_interceptors(bool registered);
  // on_end for the interceptors whose on_start ran; once, from serve()'s end.
  void report_end() noexcept;
  bool observed() const noexcept { return observed_.has_value(); }
  // Charges what the call holds for the peer (core and header) to the connection's budget;
  // false (and the call reset with RESOURCE_EXHAUSTED) when it does not fit.
  bool sync_budget();

  ServerState& server_;
  ServerLoop& loop_;
  // Both co-owned with the endpoint / connection; holding them keeps the call's I/O valid.
  std::shared_ptr<transport::CallConnection> connection_;
  std::shared_ptr<transport::CallStream> stream_;
  rpc::ServerCallCore core_;
  wire::CallKind kind_ = wire::CallKind::kUnary;
  std::optional<CallContext> context_;
  asio::cancellation_signal signal_;
  void on_deadline() override;

  std::optional<RpcError> cancel_reason_;
  std::size_t charged_ = 0;       // bytes charged to the connection's budget
  std::size_t header_bytes_ = 0;  // the decoded header, kept in context_ for the whole call
  bool header_received_ = false;  // until then the deadline entry is the header timeout
  std::uint64_t responses_ = 0;
  bool requests_done_ = false;
  bool answered_ = false;  // the status trailer (or a reset) has gone out

  // Only while server interceptors observe the call (none registered: never set or touched).
  std::optional<ServerCallInfo> observed_;
  std::size_t interceptors_started_ = 0;
  std::chrono::steady_clock::time_point observed_since_{};
  rpc::CallTally tally_;
  std::optional<RpcError> final_error_;  // the error status sent (or the reset's reason)
};

}  // namespace rpcnet::detail
