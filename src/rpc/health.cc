// HealthTable: a map of statuses under one mutex, and per watch a latest-status slot plus a
// one-shot Event that wakes the watch's coroutine (a fresh Event per wait: Events do not reset).
#include "rpcnet/health.h"

#include <asio/use_awaitable.hpp>
#include <map>
#include <set>
#include <vector>

#include "rpcnet/thread_annotations.h"
#include "runtime/event.h"

namespace rpcnet {

namespace detail {

struct HealthWatchState {
  explicit HealthWatchState(std::string watched) : service(std::move(watched)) {}
  const std::string service;
  Mutex mutex;
  HealthStatus latest RPCNET_GUARDED_BY(mutex) = HealthStatus::kServiceUnknown;
  std::optional<HealthStatus> delivered RPCNET_GUARDED_BY(mutex);  // last one next() returned
  bool closed RPCNET_GUARDED_BY(mutex) = false;
  std::shared_ptr<runtime::Event> wake RPCNET_GUARDED_BY(mutex);  // the pending next(), if any

  void update(HealthStatus status, bool close) {
    MutexLock lock(mutex);
    latest = status;
    closed = closed || close;
    if (wake) wake->set();
  }
};

struct HealthTableState {
  explicit HealthTableState(std::size_t limit) : max_watches(limit) {}
  const std::size_t max_watches;
  mutable Mutex mutex;
  std::map<std::string, HealthStatus, std::less<>> statuses RPCNET_GUARDED_BY(mutex);
  std::set<std::shared_ptr<HealthWatchState>> watches RPCNET_GUARDED_BY(mutex);
  std::map<std::uint64_t, HealthTable::Listener> listeners RPCNET_GUARDED_BY(mutex);
  std::uint64_t next_listener RPCNET_GUARDED_BY(mutex) = 1;
  bool shutting_down RPCNET_GUARDED_BY(mutex) = false;
  bool closed RPCNET_GUARDED_BY(mutex) = false;

  void store_locked(std::string service, HealthStatus status) RPCNET_REQUIRES(mutex) {
    auto [it, inserted] = statuses.try_emplace(std::move(service), status);
    if (!inserted && it->second == status) return;
    it->second = status;
    for (const auto& watch : watches) {
      if (watch->service == it->first) watch->update(status, false);
    }
    for (const auto& [id, listener] : listeners) listener(it->first, status);
  }

  HealthStatus status_locked(std::string_view service) const RPCNET_REQUIRES(mutex) {
    const auto it = statuses.find(service);
    return it == statuses.end() ? HealthStatus::kServiceUnknown : it->second;
  }
};

}  // namespace detail

std::string_view health_status_name(HealthStatus status) noexcept {
  switch (status) {
    case HealthStatus::kUnknown: return "UNKNOWN";
    case HealthStatus::kServing: return "SERVING";
    case HealthStatus::kNotServing: return "NOT_SERVING";
    case HealthStatus::kServiceUnknown: return "SERVICE_UNKNOWN";
  }
  return "UNKNOWN";
}

// ---- HealthWatch ----------------------------------------------------------------------------------

HealthWatch::HealthWatch(std::shared_ptr<detail::HealthTableState> table,
                         std::shared_ptr<detail::HealthWatchState> state)
    : table_(std::move(table)), state_(std::move(state)) {}

HealthWatch::~HealthWatch() {
  MutexLock lock(table_->mutex);
  table_->watches.erase(state_);
}

asio::awaitable<std::optional<HealthStatus>> HealthWatch::next() {
  for (;;) {
    std::shared_ptr<runtime::Event> wake;
    {
      MutexLock lock(state_->mutex);
      // A change made before the close is still delivered: a watcher sees NOT_SERVING before
      // its stream ends.
      if (state_->delivered != state_->latest) {
        state_->delivered = state_->latest;
        state_->wake.reset();
        co_return state_->latest;
      }
      if (state_->closed) co_return std::nullopt;
      state_->wake = std::make_shared<runtime::Event>();
      wake = state_->wake;
    }
    co_await wake->wait();
  }
}

// ---- HealthTable ----------------------------------------------------------------------------------

HealthTable::HealthTable(std::size_t max_watches)
    : state_(std::make_shared<detail::HealthTableState>(max_watches)) {}

HealthTable::~HealthTable() = default;

void HealthTable::set(std::string service, HealthStatus status) {
  MutexLock lock(state_->mutex);
  if (state_->shutting_down) return;
  state_->store_locked(std::move(service), status);
}

std::optional<HealthStatus> HealthTable::get(std::string_view service) const {
  MutexLock lock(state_->mutex);
  const auto it = state_->statuses.find(service);
  if (it == state_->statuses.end()) return std::nullopt;
  return it->second;
}

Result<std::unique_ptr<HealthWatch>> HealthTable::watch(std::string service) {
  MutexLock lock(state_->mutex);
  if (state_->watches.size() >= state_->max_watches) {
    return RpcError::status(StatusCode::kResourceExhausted,
                            "the server's " + std::to_string(state_->max_watches) +
                                " health watches are all in use");
  }
  auto watch_state = std::make_shared<detail::HealthWatchState>(std::move(service));
  watch_state->update(state_->status_locked(watch_state->service), state_->closed);
  state_->watches.insert(watch_state);
  return std::unique_ptr<HealthWatch>(new HealthWatch(state_, std::move(watch_state)));
}

std::size_t HealthTable::open_watches() const {
  MutexLock lock(state_->mutex);
  return state_->watches.size();
}

std::uint64_t HealthTable::add_listener(Listener listener) {
  MutexLock lock(state_->mutex);
  const std::uint64_t id = state_->next_listener++;
  state_->listeners.emplace(id, std::move(listener));
  return id;
}

void HealthTable::remove_listener(std::uint64_t id) {
  MutexLock lock(state_->mutex);
  state_->listeners.erase(id);
}

bool HealthTable::shutting_down() const {
  MutexLock lock(state_->mutex);
  return state_->shutting_down;
}

void HealthTable::set_if_absent(std::string service, HealthStatus status) {
  MutexLock lock(state_->mutex);
  if (state_->shutting_down || state_->statuses.contains(service)) return;
  state_->store_locked(std::move(service), status);
}

void HealthTable::begin_shutdown() {
  MutexLock lock(state_->mutex);
  if (state_->shutting_down) return;
  // The whole server first, so a listener publishing "" (the cluster's tag) acts at once.
  if (!state_->statuses.contains("")) state_->store_locked("", HealthStatus::kNotServing);
  std::vector<std::string> services;
  for (const auto& [service, status] : state_->statuses) services.push_back(service);
  for (auto& service : services) state_->store_locked(std::move(service), HealthStatus::kNotServing);
  state_->shutting_down = true;
}

void HealthTable::close_watches() {
  MutexLock lock(state_->mutex);
  state_->closed = true;
  for (const auto& watch : state_->watches) watch->update(state_->status_locked(watch->service), true);
}

}  // namespace rpcnet
