// Running a coroutine on another event loop and awaiting its result, safely across lifetimes.
//
// Why not `co_await co_spawn(other, body, use_awaitable)`: the spawned frame on the other loop
// keeps a work-tracking copy of the caller's executor and destroys it *after* the caller has
// been resumed, so a caller that then destroys its io_context (a test, a short-lived client
// runtime) races with that destruction (heap-use-after-free under ASan). Here the remote side
// holds nothing of the caller's loop but a plain executor copy and a weak reference, and the
// caller's timer is only ever touched on the caller's own thread.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>

namespace rpcnet::runtime {

// Runs `body()` (a callable returning awaitable<T>) on `target` and returns its value (or
// rethrows its exception) on the calling coroutine's executor. Cancellation does not cross.
template <class T, class Body>
asio::awaitable<T> run_on(asio::any_io_executor target, Body body) {
  struct Outcome {
    std::mutex mutex;
    std::optional<T> value;
    std::exception_ptr error;
  };
  const asio::any_io_executor caller = co_await asio::this_coro::executor;
  auto outcome = std::make_shared<Outcome>();
  auto done = std::make_shared<asio::steady_timer>(caller, asio::steady_timer::time_point::max());
  auto remote = [outcome, body = std::move(body), caller,
                 wake = std::weak_ptr<asio::steady_timer>(done)]() mutable -> asio::awaitable<void> {
    try {
      auto value = co_await body();
      std::lock_guard lock(outcome->mutex);
      outcome->value.emplace(std::move(value));
    } catch (...) {
      std::lock_guard lock(outcome->mutex);
      outcome->error = std::current_exception();
    }
    asio::post(caller, [wake = std::move(wake)] {
      if (auto timer = wake.lock()) timer->cancel();
    });
  };
  asio::co_spawn(target, std::move(remote), asio::detached);
  (void)co_await done->async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  std::lock_guard lock(outcome->mutex);
  if (outcome->error) std::rethrow_exception(outcome->error);
  co_return std::move(*outcome->value);
}

}  // namespace rpcnet::runtime
