// Waiting for a runtime::Event with a deadline on the real steady clock, telling apart the three
// ways the wait can end: the event was set, the deadline passed, or the awaiting operation was
// cancelled (Asio per-operation cancellation). The callers turn these into their own errors.
//
// Example (a waiter that gives up after 5 s):
//   switch (co_await rpcnet::runtime::wait_until(stopped, std::chrono::steady_clock::now() + 5s)) {
//     case WaitEnd::kSet: ...; case WaitEnd::kTimedOut: ...; case WaitEnd::kCancelled: ...;
//   }
#pragma once

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/multiple_exceptions.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>

#include "runtime/event.h"

namespace rpcnet::runtime {

enum class WaitEnd : unsigned char { kSet, kTimedOut, kCancelled };

// `event` must outlive the wait. A set event wins over a deadline that has passed as well, so
// a caller never reports a timeout for a condition that holds. time_point::max() waits for ever.
inline asio::awaitable<WaitEnd> wait_until(Event& event, std::chrono::steady_clock::time_point deadline) {
  using namespace asio::experimental::awaitable_operators;
  if (event.is_set()) co_return WaitEnd::kSet;
  if (std::chrono::steady_clock::now() >= deadline) co_return WaitEnd::kTimedOut;
  asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
  bool aborted = false;
  try {
    (void)co_await (event.wait() || timer.async_wait(asio::use_awaitable));
  } catch (const asio::multiple_exceptions&) {
    // Neither side succeeded: only a cancellation of the caller's wait does that (both sides
    // then end with operation_aborted).
    aborted = true;
  }
  if (event.is_set()) co_return WaitEnd::kSet;
  co_return aborted ? WaitEnd::kCancelled : WaitEnd::kTimedOut;
}

}  // namespace rpcnet::runtime
