// rpcnet/runtime.h — event loops to run rpcnet on.
//
// A Runtime owns N event loops (Asio io_contexts), each driven by its own thread. Every rpcnet
// object lives on one loop: a connection and its calls never migrate, so the data path takes no
// locks. RpcServer owns a Runtime of its own (one loop per core by default); clients live on the
// loop of the coroutine that connects them, which is typically a loop of your Runtime.
//
// Contract: a loop is single-threaded. If you run rpcnet clients on an io_context of your own,
// drive it from exactly one thread.
//
// Example:
//   rpcnet::Result<rpcnet::Bytes> ping(rpcnet::SocketAddress addr, rpcnet::RpcConfig config) {
//     rpcnet::Runtime runtime(1);
//     return runtime.block_on([&]() -> asio::awaitable<rpcnet::Result<rpcnet::Bytes>> {
//       auto client = co_await rpcnet::RpcClient::connect(addr, config);
//       if (!client) co_return client.error();
//       co_return co_await client->call("ping", {});
//     }());
//   }
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>
#include <atomic>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

namespace rpcnet {

class Runtime {
 public:
  // `loops` == 0 means one loop per hardware thread.
  explicit Runtime(std::size_t loops = 0);
  // Stops every loop and joins its thread. Work still queued is abandoned.
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  std::size_t size() const noexcept { return loops_.size(); }
  asio::any_io_executor executor(std::size_t index) const;
  // Loops in round-robin order, to spread new work.
  asio::any_io_executor next_executor();

  // Runs `task` on loop 0 and blocks the calling thread until it finishes; returns its value or
  // rethrows its exception. Must not be called from one of this runtime's own loops.
  template <class T>
  T block_on(asio::awaitable<T> task) {
    return asio::co_spawn(executor(0), std::move(task), asio::use_future).get();
  }

  // Stops all loops (idempotent). Pending handlers are not run.
  void stop();
  // Stops all loops, joins their threads and destroys every pending handler (coroutine frames
  // included), on all loops before any loop is destroyed, so objects those frames own may still
  // use any loop's services while they are destroyed. Idempotent; the destructor calls it.
  void shutdown();

 private:
  struct Loop;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::atomic<std::size_t> next_{0};
};

}  // namespace rpcnet
