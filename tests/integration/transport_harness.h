// One server fixture over either transport, for suites that run the same tests over loopback
// UDP (real time, real threads) and over an in-memory network (virtual time, the test's thread),
// the way KJ runs its RPC tests over its in-memory network too.
#pragma once

#include <gtest/gtest.h>

#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness.h"
#include "in_memory_harness.h"

namespace rpcnet::testing {

enum class Transport { kLoopback, kInMemory };

inline std::string transport_name(const ::testing::TestParamInfo<Transport>& info) {
  return info.param == Transport::kLoopback ? "Loopback" : "InMemory";
}

// The transports a run covers: both, or over HTTP/2 (over_http2()) loopback only, since an
// in-memory network has no TCP. Read when gtest registers the instantiations, after the
// environment is known.
inline std::vector<Transport> transports_of_this_run() {
  if (over_http2()) return {Transport::kLoopback};
  return {Transport::kLoopback, Transport::kInMemory};
}

// Instantiates a TEST_P suite over transports_of_this_run().
#define RPCNET_OVER_BOTH_TRANSPORTS(suite)                                                   \
  INSTANTIATE_TEST_SUITE_P(, suite, ::testing::ValuesIn(::rpcnet::testing::transports_of_this_run()), \
                           ::rpcnet::testing::transport_name)

class TransportServer {
 public:
  explicit TransportServer(Transport transport, RpcConfig config = server_config()) {
    if (transport == Transport::kLoopback) {
      loopback_.emplace(std::move(config));
    } else {
      in_memory_.emplace(std::move(config));
    }
  }
  // A server on `network` (shared with other servers and their clients), or on loopback when
  // `network` is null.
  TransportServer(std::shared_ptr<InMemoryNetwork> network, RpcConfig config) {
    if (network) {
      in_memory_.emplace(std::move(config), std::move(network));
    } else {
      loopback_.emplace(std::move(config));
    }
  }
  // Another server beside `neighbour`: on loopback too, or on the same in-memory network (whose
  // clients reach both; run tasks through `neighbour`).
  TransportServer(TransportServer& neighbour, RpcConfig config)
      : TransportServer(neighbour.network(), std::move(config)) {}

  RpcServer& server() { return loopback_ ? loopback_->server() : in_memory_->server(); }
  void start() { loopback_ ? loopback_->start() : in_memory_->start(); }
  const SocketAddress& address() const { return loopback_ ? loopback_->address() : in_memory_->address(); }
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(0)) {
    loopback_ ? loopback_->stop(grace) : in_memory_->stop(grace);
  }
  // The in-memory network, or null over loopback.
  std::shared_ptr<InMemoryNetwork> network() const {
    return in_memory_ ? in_memory_->network_ptr() : nullptr;
  }
  // The clock the server and its clients read: virtual in memory, the steady clock on loopback.
  std::chrono::steady_clock::time_point now() const {
    return in_memory_ ? in_memory_->network_ptr()->now() : std::chrono::steady_clock::now();
  }
  // Waits `duration` on the clock above, from a coroutine on executor().
  asio::awaitable<void> sleep(std::chrono::nanoseconds duration) {
    if (in_memory_) {
      co_await in_memory_->network().sleep(duration);
      co_return;
    }
    asio::steady_timer timer(co_await asio::this_coro::executor, duration);
    (void)co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  }
  // The loop run() runs tasks on (the client's loop).
  asio::any_io_executor executor() {
    return loopback_ ? loopback_->runtime().executor(0) : in_memory_->network().executor();
  }

  // Runs `task` to completion: bounded in real time on loopback, in virtual time in memory.
  template <class T>
  T run(asio::awaitable<T> task, std::chrono::seconds limit = std::chrono::seconds(60)) {
    return loopback_ ? run_bounded(loopback_->runtime(), std::move(task), limit)
                     : in_memory_->run(std::move(task));
  }

  // Connects from the calling coroutine's loop (inside run()).
  asio::awaitable<RpcClient> connect(RpcConfig config = client_config()) {
    auto client = co_await try_connect(std::move(config));
    if (!client) throw std::runtime_error("connect failed: " + client.error().to_string());
    co_return std::move(*client);
  }
  // As connect(), reporting a failure instead of throwing.
  asio::awaitable<Result<RpcClient>> try_connect(RpcConfig config = client_config()) {
    if (in_memory_) config.with_network(in_memory_->network_ptr());
    co_return co_await RpcClient::connect(address(), std::move(config));
  }

 private:
  std::optional<LoopbackServer> loopback_;
  std::optional<InMemoryServer> in_memory_;
};

}  // namespace rpcnet::testing
