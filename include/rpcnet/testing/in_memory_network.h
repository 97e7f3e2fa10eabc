// rpcnet/testing/in_memory_network.h — RpcServer and RpcClient in virtual time, without sockets.
//
// Contract: an InMemoryNetwork is one event loop, a virtual clock and a datagram network in
// memory. A server or client whose RpcConfig names it (RpcConfig::with_network) sends its QUIC
// packets through the network instead of UDP sockets, reads the virtual clock instead of the
// real one (transport timers, idle timeout, keep-alive, call deadlines, shutdown grace), and
// runs on the network's loop instead of threads of its own. Nothing runs until the test drives
// the network from its own thread: run() / run_until() run whatever is ready, and whenever
// nothing is, move virtual time to the next timer and fire it, so a test that waits a minute of
// protocol time takes milliseconds and every timer fires at its exact instant. advance() moves
// time by a given step, firing the timers on the way.
//
// Datagrams are delivered on the next turn of the loop at the same virtual instant (no latency,
// no loss); a datagram to an address nobody holds is dropped. Addresses look like loopback ones
// (a server binding 127.0.0.1:0 gets 127.0.0.1:40000, then :40001, ...).
//
// WARNING: code on the loop must wait with sleep() (or on rpcnet objects), not asio timers of
// its own: the network cannot see a real timer, so time jumps past it. A timer that never
// expires (time_point::max(), cancelled by someone) is fine. Blocking handlers run on the
// server's worker threads in real time; virtual time does not wait for them. Not thread-safe:
// one thread drives the network and owns everything on it.
//
// Example (an echo call after five idle minutes, in no time; the configs are a loopback test's):
//   bool echo_after_idle(rpcnet::RpcConfig server_config, rpcnet::RpcConfig client_config) {
//     auto network = std::make_shared<rpcnet::testing::InMemoryNetwork>();
//     rpcnet::RpcServer server(server_config.with_network(network));
//     server.register_method("echo", [](rpcnet::Bytes b) -> asio::awaitable<rpcnet::Result<rpcnet::Bytes>> {
//       co_return b;
//     });
//     auto address = server.bind();                    // 127.0.0.1:40000, on the network
//     if (!address) return false;
//     asio::co_spawn(network->executor(), server.serve(), asio::detached);
//     auto client = network->run(rpcnet::RpcClient::connect(*address, client_config.with_network(network)));
//     if (!client) return false;
//     network->advance(std::chrono::minutes(5));       // instant; keep-alive PINGs fire on the way
//     auto reply = network->run(client->call("echo", {}));
//     server.shutdown(std::chrono::seconds(0));
//     return reply.ok();
//   }
//
// Keep the network alive as long as anything on it (configs that name it keep it alive).
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>

namespace rpcnet::runtime {
class MemoryNetwork;
}

namespace rpcnet::testing {

class InMemoryNetwork {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  InMemoryNetwork();
  ~InMemoryNetwork();
  InMemoryNetwork(const InMemoryNetwork&) = delete;
  InMemoryNetwork& operator=(const InMemoryNetwork&) = delete;

  // The loop everything on the network runs on.
  asio::any_io_executor executor() const;
  // Virtual time; starts one hour after the steady clock's epoch (like ManualClock).
  time_point now() const;

  // Runs what is ready, then moves time forward by `step`, running each timer due on the way at
  // its own instant and everything it sets off.
  void advance(std::chrono::nanoseconds step);
  // Runs until done() holds; whenever nothing is ready, time jumps to the next timer. Returns
  // false when done() still fails and nothing can happen any more (no timer within `limit` of
  // virtual time, and nothing arrived from another thread for 10 s of real time).
  bool run_until(const std::function<bool()>& done,
                 std::chrono::nanoseconds limit = std::chrono::hours(24));
  // Runs `task` on the loop to completion (as run_until does) and returns its value or rethrows
  // its exception. Throws std::runtime_error when the task can never finish (a deadlock).
  template <class T>
  T run(asio::awaitable<T> task, std::chrono::nanoseconds limit = std::chrono::hours(24));

  // Completes after `duration` of virtual time. Use on the network's loop only.
  asio::awaitable<void> sleep(std::chrono::nanoseconds duration);

  std::uint64_t datagrams_delivered() const;
  std::uint64_t datagrams_dropped() const;  // sent to an address nobody holds

  // rpcnet's own servers and clients reach the network through this; tests have no use for it.
  runtime::MemoryNetwork& implementation() noexcept { return *impl_; }

 private:
  std::unique_ptr<runtime::MemoryNetwork> impl_;
};

template <class T>
T InMemoryNetwork::run(asio::awaitable<T> task, std::chrono::nanoseconds limit) {
  struct Outcome {
    std::conditional_t<std::is_void_v<T>, bool, std::optional<T>> value{};
    std::exception_ptr error;
    bool finished = false;
  } outcome;
  auto body = [](asio::awaitable<T> inner, Outcome& out) -> asio::awaitable<void> {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(inner);
    } else {
      out.value.emplace(co_await std::move(inner));
    }
  };
  asio::co_spawn(executor(), body(std::move(task), outcome), [&outcome](std::exception_ptr error) {
    outcome.error = error;
    outcome.finished = true;
  });
  if (!run_until([&outcome] { return outcome.finished; }, limit)) {
    throw std::runtime_error("InMemoryNetwork::run: the task can never finish (deadlock)");
  }
  if (outcome.error) std::rethrow_exception(outcome.error);
  if constexpr (!std::is_void_v<T>) return std::move(*outcome.value);
}

}  // namespace rpcnet::testing
