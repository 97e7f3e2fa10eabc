#include "rpcnet/runtime.h"

#include <asio/executor_work_guard.hpp>
#include <optional>

namespace rpcnet {

struct Runtime::Loop {
  // Exposes io_context's protected shutdown(): destroy pending handlers, keep the services.
  struct Context : asio::io_context {
    Context() : asio::io_context(1) {}  // concurrency hint 1: driven by exactly one thread
    using asio::io_context::shutdown;
  };
  Context context;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work{
      context.get_executor()};
  std::thread thread;
};

Runtime::Runtime(std::size_t loops) {
  if (loops == 0) loops = std::max(1u, std::thread::hardware_concurrency());
  loops_.reserve(loops);
  for (std::size_t i = 0; i < loops; ++i) {
    auto loop = std::make_unique<Loop>();
    Loop* raw = loop.get();
    loop->thread = std::thread([raw] { raw->context.run(); });
    loops_.push_back(std::move(loop));
  }
}

Runtime::~Runtime() { shutdown(); }

void Runtime::shutdown() {
  stop();
  for (auto& loop : loops_) {
    if (loop->thread.joinable()) loop->thread.join();
  }
  for (auto& loop : loops_) loop->context.shutdown();
}

void Runtime::stop() {
  for (auto& loop : loops_) {
    loop->work.reset();
    loop->context.stop();
  }
}

asio::any_io_executor Runtime::executor(std::size_t index) const {
  return loops_.at(index)->context.get_executor();
}

asio::any_io_executor Runtime::next_executor() {
  return executor(next_.fetch_add(1, std::memory_order_relaxed) % loops_.size());
}

}  // namespace rpcnet
