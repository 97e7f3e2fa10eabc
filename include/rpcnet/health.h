// rpcnet/health.h — HealthTable: the serving status of a server, per service and overall.
//
// Contract: every RpcServer owns one (RpcServer::health()). It maps a service name ("" for the
// server as a whole, otherwise a fully qualified service such as "pkg.Greeter") to a
// HealthStatus, with the meaning of gRPC's standard health service (grpc.health.v1), which
// rpcnet/health_service.h puts on the wire. The server keeps it in step with its lifecycle:
//   - when it starts serving, "" and every service it has handlers for become SERVING, unless
//     you set a status for them first (a service that warms up stays NOT_SERVING until you say);
//     services registered later become SERVING as they are registered;
//   - at the START of a graceful shutdown every entry becomes NOT_SERVING and the table is
//     frozen (set() does nothing any more), while the server still accepts calls for
//     RpcConfig::with_drain_delay, so load balancers and cluster peers stop sending first;
//   - when the drain delay ends, watches end (next() returns nullopt) and the server starts
//     refusing new calls.
// Watches (watch()) report the current status at once, then every change; a service nobody has
// set reports kServiceUnknown until it appears. They are a resource a peer can make the server
// hold, so the table admits at most max_watches at a time (RpcConfig::with_max_health_watches)
// and refuses more with RESOURCE_EXHAUSTED. Thread-safe: call it from any thread or handler.
//
// Example:
//   #include <iostream>
//
//   void warm_up_then_serve(rpcnet::RpcServer& server) {
//     rpcnet::HealthTable& health = server.health();
//     health.set("pkg.Search", rpcnet::HealthStatus::kNotServing);  // index still loading
//     health.add_listener([](std::string_view service, rpcnet::HealthStatus status) {
//       std::cout << "'" << service << "' is " << rpcnet::health_status_name(status) << "\n";
//     });
//     // ... once the index has loaded:
//     health.set("pkg.Search", rpcnet::HealthStatus::kServing);
//   }
#pragma once

#include <asio/awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "rpcnet/result.h"

namespace rpcnet {

class RpcServer;

namespace detail {
class ServerState;
struct HealthTableState;
struct HealthWatchState;
}  // namespace detail

// Numbered as grpc.health.v1.HealthCheckResponse.ServingStatus, so values convert as they are.
enum class HealthStatus : int {
  kUnknown = 0,
  kServing = 1,
  kNotServing = 2,
  kServiceUnknown = 3,  // only reported by watches: nobody has set this service
};

// "UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN" (gRPC's names).
std::string_view health_status_name(HealthStatus status) noexcept;

// One watch on one service: see HealthTable::watch(). Destroying it releases its slot.
class HealthWatch {
 public:
  ~HealthWatch();
  HealthWatch(const HealthWatch&) = delete;
  HealthWatch& operator=(const HealthWatch&) = delete;

  // The first call returns the current status at once; later ones wait for a status different
  // from the last one returned (changes in between collapse into the latest). nullopt once the
  // table closed its watches (the server stops serving): end the stream cleanly then. Honours
  // Asio cancellation of the awaiting coroutine (the wait then throws operation_aborted).
  asio::awaitable<std::optional<HealthStatus>> next();

 private:
  friend class HealthTable;
  HealthWatch(std::shared_ptr<detail::HealthTableState> table,
              std::shared_ptr<detail::HealthWatchState> state);
  std::shared_ptr<detail::HealthTableState> table_;
  std::shared_ptr<detail::HealthWatchState> state_;
};

class HealthTable {
 public:
  // Watches admitted at a time, unless RpcConfig::with_max_health_watches says otherwise.
  static constexpr std::size_t kDefaultMaxWatches = 1'024;
  using Listener = std::function<void(std::string_view service, HealthStatus status)>;

  explicit HealthTable(std::size_t max_watches = kDefaultMaxWatches);
  ~HealthTable();
  HealthTable(const HealthTable&) = delete;
  HealthTable& operator=(const HealthTable&) = delete;

  // Sets a service's status ("" for the server as a whole). Does nothing once the server's
  // shutdown has begun: a draining server must not look SERVING again.
  void set(std::string service, HealthStatus status);
  // The status set for `service`, nullopt when nobody has set it (gRPC's Check answers
  // NOT_FOUND then).
  std::optional<HealthStatus> get(std::string_view service) const;

  // A watch on `service`. Errors: kStatus with kResourceExhausted when max_watches are open.
  Result<std::unique_ptr<HealthWatch>> watch(std::string service);
  std::size_t open_watches() const;

  // Calls `listener` on every change (a status that differs from the previous one), on the
  // thread that made it, with the table's lock held: keep it short, and never call back into
  // this table from it. Returns an id for remove_listener().
  std::uint64_t add_listener(Listener listener);
  void remove_listener(std::uint64_t id);

  bool shutting_down() const;

 private:
  friend class detail::ServerState;
  friend class RpcServer;
  // The server's lifecycle (see the contract above).
  void set_if_absent(std::string service, HealthStatus status);
  void begin_shutdown();
  void close_watches();

  std::shared_ptr<detail::HealthTableState> state_;
};

}  // namespace rpcnet
