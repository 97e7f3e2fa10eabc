// Client-side call machinery: the state shared by copies of an RpcClient, and the state of one
// call (its stream, deadline, cancellation and the sans-I/O ClientCallCore).
//
// Everything here runs on the connection's loop. Cancellation is owned by the call: its deadline
// timer and cancel() emit the call's own signals, which every wait of the call is bound to, so a
// call never disturbs the cancellation state of the coroutine that awaits it.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>

#include "transport/call_stream.h"
#include "rpc/core/call_core.h"
#include "rpc/interceptor_chain.h"
#include "rpc/wire/frame.h"
#include "rpcnet/call_options.h"
#include "rpcnet/client.h"
#include "runtime/cross_loop.h"
#include "runtime/deadline_queue.h"

namespace rpcnet::detail {

class ClientShared {
 public:
  ClientShared(asio::any_io_executor executor,
               std::shared_ptr<transport::ClientConnection> connection, const RpcConfig& config,
               Transport transport);
  // Closes the connection (from any thread).
  ~ClientShared();

  bool on_loop() const noexcept { return std::this_thread::get_id() == loop_thread_; }
  const asio::any_io_executor& executor() const noexcept { return executor_; }
  transport::ClientConnection& connection() const noexcept { return *connection_; }
  Transport transport() const noexcept { return transport_; }
  const wire::FrameLimits& limits() const noexcept { return limits_; }
  std::chrono::milliseconds timeout_for(const CallOptions& options) const noexcept {
    return options.timeout.value_or(default_timeout_);
  }
  std::uint64_t take_request_id() noexcept { return next_id_.fetch_add(1, std::memory_order_relaxed); }
  std::uint64_t peek_request_id() const noexcept { return next_id_.load(std::memory_order_relaxed); }
  bool connected() const noexcept { return connected_->load(std::memory_order_acquire); }
  runtime::DeadlineQueue& deadlines() noexcept { return *deadlines_; }
  bool resumed() const noexcept { return resumed_; }
  const TlsParameters& tls() const noexcept { return tls_; }
  const SocketAddress& remote() const noexcept { return remote_; }
  const std::vector<std::shared_ptr<ClientInterceptor>>& interceptors() const noexcept {
    return interceptors_;
  }
  void close();

 private:
  asio::any_io_executor executor_;
  std::thread::id loop_thread_;
  // Co-owned by the connection's receive-loop coroutine until the connection finishes.
  std::shared_ptr<transport::ClientConnection> connection_;
  Transport transport_;
  wire::FrameLimits limits_;
  std::chrono::milliseconds default_timeout_;
  SocketAddress remote_;
  std::atomic<std::uint64_t> next_id_{1};
  // Shared with the connection's close handler, which clears it on the loop.
  std::shared_ptr<std::atomic<bool>> connected_;
  // Deadlines of this client's calls; destroyed on the loop (see ~ClientShared).
  std::unique_ptr<runtime::DeadlineQueue> deadlines_;
  bool resumed_ = false;  // fixed once the handshake is done, before this object exists
  TlsParameters tls_;     // likewise
  std::vector<std::shared_ptr<ClientInterceptor>> interceptors_;  // the config's, fixed
};

// Shared by the handle the caller holds (the unary coroutine, a ResponseStream or a ClientCall)
// and, for streaming requests, the request pump; the deadline timer holds a weak reference.
class ClientCallState : public std::enable_shared_from_this<ClientCallState>,
                        private runtime::DeadlineEntry {
 public:
  ClientCallState(std::shared_ptr<ClientShared> client, wire::CallKind kind,
                  std::chrono::milliseconds timeout);
  // Resets the stream if the call has not ended: dropping a call cancels it.
  ~ClientCallState();
  ClientCallState(const ClientCallState&) = delete;
  ClientCallState& operator=(const ClientCallState&) = delete;

  ClientShared& client() const noexcept { return *client_; }

  // Arms the deadline, opens the stream and sends the header, then `first` (if any), then the
  // FIN when `finish`.
  // Client interceptors, if any, run first and may edit `metadata` or reject the call.
  asio::awaitable<Result<void>> start(std::string_view method, Metadata metadata,
                                      std::optional<Bytes> first, bool finish);
  asio::awaitable<Result<void>> write(Bytes message);
  asio::awaitable<Result<void>> finish_writes();
  // The next response, nullopt at a clean end.
  asio::awaitable<Result<std::optional<Bytes>>> read();
  // The single response of a unary or client-streaming call.
  asio::awaitable<Result<Bytes>> read_single();

  // Local cancellation: resets the stream with `code`; pending and later operations fail with
  // `reason`.
  void cancel(RpcError reason, wire::StreamErrorCode code);
  bool ended() const noexcept { return ended_; }
  const Metadata& trailer_metadata() const noexcept { return trailer_metadata_; }

 private:
  Result<std::optional<Bytes>> end_call(rpc::InboundEvent& event);
  // on_end for the interceptors whose on_start ran (`error` null: success); once.
  void report_end(const RpcError* error) noexcept;
  RpcError failure() const;
  RpcError connection_error() const;

  std::shared_ptr<ClientShared> client_;  // co-owned by every RpcClient copy and call
  wire::CallKind kind_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<transport::CallStream> stream_;  // co-owned by the connection until it closes
  rpc::ClientCallCore core_;
  void on_deadline() override;

  asio::cancellation_signal read_signal_;
  asio::cancellation_signal write_signal_;
  std::optional<RpcError> local_failure_;
  std::optional<RpcError> end_error_;
  Metadata trailer_metadata_;
  bool ended_ = false;
  bool writes_finished_ = false;

  // What the interceptors see of the call; only while client interceptors observe it. Never
  // moved: `info` refers to the fields before it.
  struct Observation {
    Observation(std::string called, Metadata sent, CallType type, const SocketAddress& server,
                std::chrono::milliseconds timeout)
        : method(std::move(called)), metadata(std::move(sent)), info{method, type, metadata, server, timeout} {}
    std::string method;
    Metadata metadata;
    ClientCallInfo info;
    std::size_t started = 0;
    std::chrono::steady_clock::time_point since{};
    rpc::CallTally tally;
  };
  std::unique_ptr<Observation> observed_;
  // While on_start runs, on_end must wait: the chain still uses observed_ (a deadline or
  // cancel() then reports once the chain has returned).
  bool chain_running_ = false;
};

// Forwards a cancellation of the awaiting coroutine to a call, for as long as it lives.
class CancellationForward {
 public:
  CancellationForward(asio::cancellation_slot slot, const std::shared_ptr<ClientCallState>& call);
  ~CancellationForward();
  CancellationForward(const CancellationForward&) = delete;
  CancellationForward& operator=(const CancellationForward&) = delete;

 private:
  asio::cancellation_slot slot_;
};

// Runs `body` (a nullary callable returning awaitable<T>) on the client's loop: inline when
// already there, otherwise by hopping to it and back. Cancellation does not cross the hop.
template <class T, class Body>
asio::awaitable<T> run_on_loop(const ClientShared& client, Body body) {
  if (client.on_loop()) co_return co_await body();
  co_return co_await runtime::run_on<T>(client.executor(), std::move(body));
}

}  // namespace rpcnet::detail
