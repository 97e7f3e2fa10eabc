// The method table of a server. Registration takes a mutex and publishes an immutable snapshot;
// each event loop keeps its own copy of the snapshot and refreshes it only when the version moves,
// so looking a method up on the call path is one relaxed atomic load, no lock, no shared write.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "rpcnet/thread_annotations.h"
#include "rpcnet/server.h"

namespace rpcnet::rpc {

struct MethodHandler {
  enum class Kind : std::uint8_t { kUnary, kBlocking, kStreaming };
  Kind kind = Kind::kUnary;
  UnaryHandler unary;
  BlockingHandler blocking;
  StreamingHandler streaming;
};

using HandlerMap = std::unordered_map<std::string, std::shared_ptr<const MethodHandler>>;

class HandlerRegistry {
 public:
  void add(std::string name, MethodHandler handler) {
    MutexLock lock(mutex_);
    auto next = std::make_shared<HandlerMap>(*current_);
    (*next)[std::move(name)] = std::make_shared<const MethodHandler>(std::move(handler));
    current_ = std::move(next);
    version_.fetch_add(1, std::memory_order_release);
  }

  // Drops every handler (and whatever they captured).
  void clear() {
    MutexLock lock(mutex_);
    current_ = std::make_shared<HandlerMap>();
    version_.fetch_add(1, std::memory_order_release);
  }

  std::uint64_t version() const noexcept { return version_.load(std::memory_order_acquire); }

  std::shared_ptr<const HandlerMap> snapshot() const {
    MutexLock lock(mutex_);
    return current_;
  }

 private:
  mutable Mutex mutex_;
  std::shared_ptr<const HandlerMap> current_ RPCNET_GUARDED_BY(mutex_) = std::make_shared<HandlerMap>();
  std::atomic<std::uint64_t> version_{1};
};

// One loop's cached view of the registry. Loop-local: no synchronisation.
class HandlerCache {
 public:
  std::shared_ptr<const MethodHandler> find(const HandlerRegistry& registry, const std::string& name) {
    const std::uint64_t version = registry.version();
    if (version != version_) {
      map_ = registry.snapshot();
      version_ = version;
    }
    const auto it = map_->find(name);
    return it == map_->end() ? nullptr : it->second;
  }

 private:
  std::uint64_t version_ = 0;
  std::shared_ptr<const HandlerMap> map_;
};

}  // namespace rpcnet::rpc
