// rpcnet/server.h — RpcServer: serves registered methods over QUIC + TLS 1.3.
//
// Lifecycle: construct with an RpcConfig, register handlers (also allowed while serving; a new
// registration under an existing name replaces it for calls that start afterwards), then serve
// in one of two ways, whichever fits the program:
//   - run() blocks the calling thread until the server has shut down (a program's main);
//   - co_await serve() does the same inside a coroutine on an event loop you already have.
// Either binds first if bind() has not been called (call bind() yourself to learn the port
// before serving: port 0 lets the OS choose). shutdown(grace), from any thread or coroutine,
// ends serving: run() or serve() returns once the shutdown is complete.
//
// Concurrency: the server runs its own event loops (RpcConfig::with_event_loops, one per core by
// default), each with its own socket on the shared port (SO_REUSEPORT). A connection stays on the
// loop the kernel steered it to, and every call runs as its own coroutine there, so a slow async
// handler never blocks other calls. Blocking or CPU-heavy work belongs in register_blocking
// handlers, which run on a worker pool.
//
// Errors reach clients as statuses: an unknown method is NOT_FOUND, a handler that throws is
// INTERNAL (with the exception's message), an oversized message RESOURCE_EXHAUSTED; none of
// them affects other calls or the connection.
//
// Example:
//   #include <asio/signal_set.hpp>
//   #include <csignal>
//   #include <iostream>
//
//   int main() {
//     rpcnet::RpcServer server(rpcnet::RpcConfig("certs/server.pem", "0.0.0.0:4433")
//                                  .with_key_path("certs/server-key.pem"));
//     server.register_method("echo", [](rpcnet::Bytes request)
//         -> asio::awaitable<rpcnet::Result<rpcnet::Bytes>> { co_return request; });
//     // Ctrl-C or SIGTERM: refuse new calls, give calls in flight 5 s, then close.
//     rpcnet::Runtime signal_loop(1);
//     asio::signal_set signals(signal_loop.executor(0), SIGINT, SIGTERM);
//     signals.async_wait([&server](const asio::error_code& error, int) {
//       if (!error) server.shutdown(std::chrono::seconds(5));
//     });
//     auto served = server.run();  // binds, serves, returns once the shutdown is complete
//     if (!served) std::cerr << served.error() << "\n";  // e.g. the port is taken
//     return served ? 0 : 1;
//   }
#pragma once

#include <asio/awaitable.hpp>
#include <chrono>
#include <concepts>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rpcnet/address.h"
#include "rpcnet/bytes.h"
#include "rpcnet/call_context.h"
#include "rpcnet/config.h"
#include "rpcnet/health.h"
#include "rpcnet/result.h"
#include "rpcnet/server_stream.h"

namespace rpcnet {

namespace detail {
class ServerState;
}

using UnaryHandler = std::function<asio::awaitable<Result<Bytes>>(Bytes request, CallContext& context)>;
using StreamingHandler = std::function<asio::awaitable<Result<void>>(ServerStream stream)>;
using BlockingHandler = std::function<Result<Bytes>(Bytes request, const CallContext& context)>;

// Counters since bind(), summed over the server's event loops. The limits behind the refusals
// and resets are RpcConfig's (config.h, "Limits").
struct ServerStats {
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_open = 0;
  std::uint64_t handshakes_in_progress = 0;
  std::uint64_t calls_started = 0;
  std::uint64_t calls_active = 0;
  std::uint64_t datagrams_dropped = 0;  // garbage, unknown connections, refused handshakes
  std::uint64_t datagrams_forwarded = 0;  // to the loop owning their connection
  std::uint64_t forwards_dropped = 0;     // that loop's forward queue was full
  // New connections refused: at max_connections, at max_handshakes, over the per-address rate.
  std::uint64_t refused_connection_limit = 0;
  std::uint64_t refused_handshake_limit = 0;
  std::uint64_t refused_source_rate = 0;
  std::uint64_t retries_sent = 0;      // Initials answered with a Retry (address validation)
  std::uint64_t invalid_tokens = 0;    // Initials with a forged or expired Retry token (dropped)
  std::uint64_t stateless_resets_sent = 0;  // answers to packets for unknown connections
  // CONNECTION_CLOSE re-sent to packets arriving at closing connections, and answers withheld
  // (decaying rate, 3x amplification limit).
  std::uint64_t close_packets_sent = 0;
  std::uint64_t close_packets_suppressed = 0;
  std::uint64_t header_timeouts = 0;        // streams reset: no call header within header_timeout
  std::uint64_t memory_budget_resets = 0;   // streams reset: max_connection_memory exceeded
  std::uint64_t blocking_calls_queued = 0;    // now waiting for a worker thread
  std::uint64_t blocking_calls_rejected = 0;  // max_queued_blocking_calls reached
  std::uint64_t blocking_calls_skipped = 0;   // cancelled before a worker started them
  // gRPC over HTTP/2 on TCP (RpcConfig::with_grpc_over_tcp): connections accepted, open now,
  // and refused at max_connections (which counts them apart from QUIC connections).
  std::uint64_t grpc_connections_accepted = 0;
  std::uint64_t grpc_connections_open = 0;
  std::uint64_t grpc_refused_connection_limit = 0;
  // Client certificate chains verified in full under mutual TLS (RpcConfig::with_ca_path), on
  // either transport. A chain verified before is answered from a cache and not counted: a
  // count that grows with connections, not with distinct clients, means the cache is too small
  // or the clients' chains keep changing.
  std::uint64_t client_chains_verified = 0;
};

class RpcServer {
 public:
  explicit RpcServer(RpcConfig config);
  // Stops serving at once (no grace period) and joins the server's threads. Never destroy the
  // server from one of its own handlers.
  // WARNING: the server's threads wake the coroutine awaiting serve() by posting to its event
  // loop; that post may still be returning when the coroutine has already resumed. Destroy the
  // server before that loop's io_context (declare the io_context or Runtime first).
  ~RpcServer();
  RpcServer(const RpcServer&) = delete;
  RpcServer& operator=(const RpcServer&) = delete;

  // Unary handler: one request in, one response (or an error status) out.
  void register_method(std::string name, UnaryHandler handler);
  // Convenience overload for handlers that do not need the CallContext.
  template <class F>
    requires std::invocable<F&, Bytes> && (!std::invocable<F&, Bytes, CallContext&>)
  void register_method(std::string name, F handler) {
    register_method(std::move(name),
                    UnaryHandler([handler = std::move(handler)](Bytes request, CallContext&) mutable {
                      return handler(std::move(request));
                    }));
  }
  // A synchronous handler that may block or burn CPU: it runs on the worker pool, never on an
  // event loop. Poll context.cancelled() in long computations.
  void register_blocking(std::string name, BlockingHandler handler);
  // Streaming handler: serves server-streaming, client-streaming and bidirectional calls.
  void register_streaming(std::string name, StreamingHandler handler);

  // Validates the config, loads the TLS material and binds the UDP sockets; serving begins with
  // run() or serve(). Call it first to learn the port the OS chose; once it has succeeded, later
  // calls return the same address.
  // Errors: kConfig (bad address, missing/unreadable/mismatched certificate or key),
  // kIo (the port is taken, ...).
  Result<SocketAddress> bind();
  // The bound address, once bind() succeeded.
  std::optional<SocketAddress> socket_addr() const;
  // Where gRPC over HTTP/2 + TLS is served on TCP (RpcConfig::with_grpc_over_tcp), once bound.
  std::optional<SocketAddress> grpc_address() const;
  // Where GET /metrics is served (RpcConfig::with_metrics_address), once bind() succeeded.
  std::optional<SocketAddress> metrics_address() const;

  // Serves until shutdown() completes, blocking the calling thread, then returns ok(). Binds
  // first unless bind() has already succeeded, and returns its error if that fails (nothing is
  // served then). A server serves once: when shutdown() came first, returns ok() at once. Never
  // call it from a handler (a thread of this server's): it would wait for itself.
  Result<void> run();
  // run() for a coroutine: the server keeps running on its own loops; the awaiting coroutine,
  // on any executor, resumes once the shutdown is complete. Same binding and errors as run().
  // Awaited again while the server serves (from any coroutine), it just waits for that same
  // shutdown: the way to learn, elsewhere, that a shutdown begun with shutdown() has finished.
  asio::awaitable<Result<void>> serve();

  // Begins a graceful shutdown and returns at once; callable from any thread or coroutine,
  // handlers included, and idempotent (a later call changes nothing, not even the grace). First
  // health() turns NOT_SERVING for RpcConfig::with_drain_delay (default 0) while new calls are
  // still served, so balancers and cluster peers stop sending; then health watches end, the
  // server stops accepting connections and calls (new calls get UNAVAILABLE, safe to retry
  // elsewhere), lets calls in flight finish for up to `grace`, then cancels what remains and
  // closes every connection with an application close code. run() and serve() return when this
  // is done; await serve() (or join the thread in run()) to know it is. Called before serving,
  // it makes run() and serve() return at once without serving.
  void shutdown(std::chrono::milliseconds grace = std::chrono::seconds(10));

  ServerStats stats() const;

  // The names of the registered methods, sorted: what a call may name right now (registration
  // may continue while serving; each call sees the table as it is then). Any thread.
  std::vector<std::string> method_names() const;
  // The configuration the server was made with.
  const RpcConfig& config() const noexcept;
  // The server's serving status per service (rpcnet/health.h): SERVING once it serves,
  // NOT_SERVING from the start of shutdown. rpcnet/health_service.h serves it as gRPC's
  // grpc.health.v1.Health; enable_cluster publishes it to the cluster.
  HealthTable& health() noexcept;

 private:
  std::unique_ptr<detail::ServerState> state_;  // outlives every loop, connection and call
};

}  // namespace rpcnet
