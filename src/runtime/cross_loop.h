// Running a coroutine on another event loop and awaiting its result, safely across lifetimes.
//
// Why not `co_await co_spawn(other, body, use_awaitable)`: the spawned frame on the other loop
// keeps a work-tracking copy of the caller's executor and destroys it *after* the caller has
// been resumed, so a caller that then destroys its io_context (a test, a short-lived client
// runtime) races with that destruction (heap-use-after-free under ASan). Here the remote side
// holds nothing of the caller's loop: it sets a runtime::Event, whose completion is posted to
// the caller's loop and touches nothing of it afterwards.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/detached.hpp>
#include <asio/use_awaitable.hpp>
#include <exception>
#include <memory>
#include <optional>

#include "rpcnet/thread_annotations.h"
#include "runtime/event.h"

namespace rpcnet::runtime {

// Runs `body()` (a callable returning awaitable<T>) on `target` and returns its value (or
// rethrows its exception) on the calling coroutine's executor. Cancellation does not cross: the
// caller's cancellation neither reaches `body` nor ends the wait, so a result (say, a message
// read from a stream) is never dropped half-way; bound `body` itself (a deadline) instead.
template <class T, class Body>
asio::awaitable<T> run_on(asio::any_io_executor target, Body body) {
  struct Outcome {
    Mutex mutex;
    std::optional<T> value RPCNET_GUARDED_BY(mutex);
    std::exception_ptr error RPCNET_GUARDED_BY(mutex);
    Event done;
  };
  auto outcome = std::make_shared<Outcome>();  // co-owned by the remote coroutine
  auto remote = [outcome, body = std::move(body)]() mutable -> asio::awaitable<void> {
    try {
      auto value = co_await body();
      MutexLock lock(outcome->mutex);
      outcome->value.emplace(std::move(value));
    } catch (...) {
      MutexLock lock(outcome->mutex);
      outcome->error = std::current_exception();
    }
    outcome->done.set();
  };
  asio::co_spawn(target, std::move(remote), asio::detached);
  co_await outcome->done.async_wait(asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable));
  MutexLock lock(outcome->mutex);
  if (outcome->error) std::rethrow_exception(outcome->error);
  co_return std::move(*outcome->value);
}

}  // namespace rpcnet::runtime
