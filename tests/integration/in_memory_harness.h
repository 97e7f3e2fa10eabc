// The in-memory counterpart of LoopbackServer (harness.h): a server and its clients on one
// testing::InMemoryNetwork, driven by the test's thread in virtual time. Timeouts of minutes take
// milliseconds, and every timer fires at its exact instant, so tests assert exact times. Several
// servers may share one network (the second gets the next port).
#pragma once

#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <memory>
#include <optional>
#include <string>

#include "harness.h"
#include "rpcnet/testing/in_memory_network.h"

namespace rpcnet::testing {

class InMemoryServer {
 public:
  explicit InMemoryServer(RpcConfig config = server_config(),
                          std::shared_ptr<InMemoryNetwork> network = std::make_shared<InMemoryNetwork>())
      : network_(std::move(network)), server_(config.with_network(network_)) {}
  ~InMemoryServer() { stop(); }

  RpcServer& server() { return server_; }
  InMemoryNetwork& network() { return *network_; }
  const std::shared_ptr<InMemoryNetwork>& network_ptr() const { return network_; }
  const SocketAddress& address() const { return address_; }

  void start() {
    auto bound = server_.bind();
    ASSERT_TRUE(bound) << bound.error();
    address_ = *bound;
    asio::co_spawn(network_->executor(), server_.serve(), [this](std::exception_ptr, Result<void> r) {
      served_ = std::move(r);
    });
  }

  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(0)) {
    if (address_.port() == 0 || stopped_) return;
    stopped_ = true;
    server_.shutdown(grace);
    ASSERT_TRUE(network_->run_until([this] { return served_.has_value(); }));
    EXPECT_TRUE(*served_) << served_->error();
  }

  // Runs `task` on the network until it finishes (virtual time jumps while nothing is ready).
  template <class T>
  T run(asio::awaitable<T> task) {
    return network_->run(std::move(task));
  }

  RpcClient connect(RpcConfig config = client_config()) {
    auto client = run(RpcClient::connect(address_, config.with_network(network_)));
    if (!client) throw std::runtime_error("connect failed: " + client.error().to_string());
    return std::move(*client);
  }

 private:
  std::shared_ptr<InMemoryNetwork> network_;
  RpcServer server_;
  SocketAddress address_;
  std::optional<Result<void>> served_;
  bool stopped_ = false;
};

}  // namespace rpcnet::testing
