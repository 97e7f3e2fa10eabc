// Loopback test harness: fresh development certificates per test binary, a server on port 0
// with two event loops, a client runtime, and a bounded way to run a coroutine to completion.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "rpcnet/certs.h"
#include "rpcnet/client.h"
#include "rpcnet/runtime.h"
#include "rpcnet/server.h"
#include "runtime/event.h"

namespace rpcnet::testing {

// A directory removed with everything in it when the object goes away.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "rpcnet-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// One set of certificates per process; `other` is an unrelated CA with its own certificates.
struct Certificates {
  DevCertificatePaths main;
  DevCertificatePaths other;
};

inline const Certificates& certificates() {
  static TempDir dir;
  static const Certificates certs = [] {
    DevCertificateOptions options;
    options.directory = (dir.path() / "main").string();
    auto main = make_dev_certificates(options);
    options.directory = (dir.path() / "other").string();
    auto other = make_dev_certificates(options);
    if (!main || !other) throw std::runtime_error("cannot make test certificates");
    return Certificates{*main, *other};
  }();
  return certs;
}

// The suites that run over both transports run twice (tests/integration/CMakeLists.txt): as
// they are (QUIC), and with RPCNET_TEST_OVER_HTTP2=1 in the environment, where every server also
// serves gRPC over TCP and every client connects over HTTP/2 only (RpcConfig::with_transport), so
// the same tests check that calls, streaming, deadlines, cancellation and errors behave alike on
// both.
inline bool over_http2() {
  static const bool over = [] {
    const char* value = std::getenv("RPCNET_TEST_OVER_HTTP2");
    return value != nullptr && std::string_view(value) == "1";
  }();
  return over;
}

inline RpcConfig server_config() {
  const auto& c = certificates().main;
  RpcConfig config = RpcConfig(c.server_cert, "127.0.0.1:0").with_key_path(c.server_key).with_event_loops(2);
  if (over_http2()) config.with_grpc_over_tcp();
  return config;
}

inline RpcConfig client_config() {
  RpcConfig config = RpcConfig(certificates().main.ca_cert, "127.0.0.1:0").with_server_name("localhost");
  if (over_http2()) config.with_transport(TransportChoice::kHttp2Only);
  return config;
}

// Runs `task` on `runtime` and waits at most `limit` for it; a hang fails the test instead of
// blocking the suite.
template <class T>
T run_bounded(Runtime& runtime, asio::awaitable<T> task,
              std::chrono::seconds limit = std::chrono::seconds(60)) {
  auto future = asio::co_spawn(runtime.executor(0), std::move(task), asio::use_future);
  if (future.wait_for(limit) != std::future_status::ready) {
    ADD_FAILURE() << "task did not finish within " << limit.count() << " s";
    std::abort();  // the task still references stack objects: do not unwind past it
  }
  return future.get();
}

// Lets a coroutine wait until other coroutines report completion: a runtime::Event under the
// name the suites use (the executor argument is kept for them; the event needs none).
class Completion {
 public:
  explicit Completion(const asio::any_io_executor& /*executor*/) {}
  void done() { event_.set(); }
  asio::awaitable<void> wait() { co_await event_.wait(); }

 private:
  runtime::Event event_;
};

// A server started on port 0 plus a client runtime.
class LoopbackServer {
 public:
  explicit LoopbackServer(RpcConfig config = server_config()) : server_(std::move(config)) {}
  ~LoopbackServer() { stop(); }

  RpcServer& server() { return server_; }
  const SocketAddress& address() const { return address_; }
  Runtime& runtime() { return runtime_; }

  void start() {
    auto bound = server_.bind();
    ASSERT_TRUE(bound) << bound.error();
    address_ = *bound;
    serving_ = asio::co_spawn(runtime_.executor(0), server_.serve(), asio::use_future);
  }

  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(0)) {
    if (!serving_.valid()) return;
    server_.shutdown(grace);
    ASSERT_EQ(serving_.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    auto result = serving_.get();
    EXPECT_TRUE(result) << result.error();
  }

  asio::awaitable<RpcClient> connect(RpcConfig config = client_config()) {
    auto client = co_await RpcClient::connect(address_, std::move(config));
    if (!client) throw std::runtime_error("connect failed: " + client.error().to_string());
    co_return std::move(*client);
  }

 private:
  // Declared first so it is destroyed last: the server's loop threads wake coroutines on this
  // runtime, and a wake-up may still be returning when its waiter has already finished.
  Runtime runtime_{1};
  RpcServer server_;
  SocketAddress address_;
  std::future<Result<void>> serving_;
};

}  // namespace rpcnet::testing
