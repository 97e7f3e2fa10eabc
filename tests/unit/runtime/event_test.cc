// runtime::Event: a set before the wait is not lost, set wakes every waiter on its own loop (and
// from other threads), completions are posted, pending waits keep their loop running,
// cancellation and destruction complete a wait with operation_aborted, and racing a timer works.
//
// Loops are driven with poll() (runs what is ready, never blocks), so nothing waits on time.
#include "runtime/event.h"

#include <gtest/gtest.h>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <future>
#include <optional>
#include <thread>
#include <vector>

namespace rpcnet::runtime {
namespace {

using namespace asio::experimental::awaitable_operators;

// Records the outcome of one async_wait.
struct Outcome {
  std::optional<std::error_code> error;
  std::thread::id thread;
};

auto record(asio::io_context& io, Outcome& outcome) {
  return asio::bind_executor(io, [&outcome](std::error_code error) {
    outcome.error = error;
    outcome.thread = std::this_thread::get_id();
  });
}

TEST(EventTest, AWaitStartedAfterSetCompletesWithSuccess) {
  asio::io_context io;
  Event event;
  event.set();
  Outcome outcome;
  event.async_wait(record(io, outcome));
  EXPECT_FALSE(outcome.error.has_value()) << "the completion must be posted, not run inline";
  io.poll();
  ASSERT_TRUE(outcome.error.has_value());
  EXPECT_EQ(*outcome.error, std::error_code());
}

TEST(EventTest, SetWakesEveryPendingWaiterOnItsLoopAndNotInline) {
  asio::io_context io;
  Event event;
  std::vector<Outcome> outcomes(3);
  for (auto& outcome : outcomes) event.async_wait(record(io, outcome));
  io.poll();
  for (const auto& outcome : outcomes) EXPECT_FALSE(outcome.error.has_value()) << "woken before set()";
  EXPECT_FALSE(event.is_set());
  event.set();
  EXPECT_TRUE(event.is_set());
  for (const auto& outcome : outcomes) EXPECT_FALSE(outcome.error.has_value()) << "completed inside set()";
  io.poll();
  for (const auto& outcome : outcomes) {
    ASSERT_TRUE(outcome.error.has_value());
    EXPECT_EQ(*outcome.error, std::error_code());
  }
}

TEST(EventTest, ASecondSetDoesNothing) {
  asio::io_context io;
  Event event;
  int completions = 0;
  event.async_wait(asio::bind_executor(io, [&](std::error_code) { ++completions; }));
  event.set();
  event.set();
  io.poll();
  EXPECT_EQ(completions, 1);
}

TEST(EventTest, APendingWaitKeepsItsLoopRunning) {
  asio::io_context io;
  Event event;
  bool resumed = false;
  auto waiter = [&]() -> asio::awaitable<void> {
    co_await event.wait();
    resumed = true;
  };
  asio::co_spawn(io, std::move(waiter), asio::detached);
  io.poll();
  EXPECT_FALSE(io.stopped()) << "the loop ran out of work while a coroutine waited on the event";
  EXPECT_FALSE(resumed);
  event.set();
  io.poll();
  EXPECT_TRUE(resumed);
  EXPECT_TRUE(io.stopped()) << "the finished wait still holds the loop";
}

TEST(EventTest, SetFromAnotherThreadResumesEachWaiterOnItsOwnLoop) {
  asio::io_context loop_a;
  asio::io_context loop_b;
  Event event;
  Outcome on_a;
  Outcome on_b;
  std::promise<std::thread::id> id_a;
  std::promise<std::thread::id> id_b;
  asio::post(loop_a, [&] {
    id_a.set_value(std::this_thread::get_id());
    event.async_wait(record(loop_a, on_a));
  });
  asio::post(loop_b, [&] {
    id_b.set_value(std::this_thread::get_id());
    event.async_wait(record(loop_b, on_b));
  });
  std::thread thread_a([&] { loop_a.run(); });  // returns once the wait has completed
  std::thread thread_b([&] { loop_b.run(); });
  const std::thread::id a = id_a.get_future().get();
  const std::thread::id b = id_b.get_future().get();
  // Both waits are registered once both loops have run their post; set() may still race with
  // the registration, which the event must absorb (a set before the wait is not lost).
  event.set();
  thread_a.join();
  thread_b.join();
  ASSERT_TRUE(on_a.error.has_value());
  ASSERT_TRUE(on_b.error.has_value());
  EXPECT_EQ(*on_a.error, std::error_code());
  EXPECT_EQ(*on_b.error, std::error_code());
  EXPECT_EQ(on_a.thread, a);
  EXPECT_EQ(on_b.thread, b);
}

TEST(EventTest, ACancelledWaitCompletesWithOperationAbortedAndLeavesOthersWaiting) {
  asio::io_context io;
  Event event;
  asio::cancellation_signal signal;
  Outcome cancelled;
  Outcome other;
  event.async_wait(asio::bind_cancellation_slot(signal.slot(), record(io, cancelled)));
  event.async_wait(record(io, other));
  signal.emit(asio::cancellation_type::terminal);
  io.poll();
  ASSERT_TRUE(cancelled.error.has_value());
  EXPECT_EQ(*cancelled.error, asio::error::operation_aborted);
  EXPECT_FALSE(other.error.has_value());
  EXPECT_FALSE(event.is_set());
  event.set();
  io.poll();
  ASSERT_TRUE(other.error.has_value());
  EXPECT_EQ(*other.error, std::error_code());
  EXPECT_EQ(*cancelled.error, asio::error::operation_aborted) << "a cancelled wait completed twice";
}

TEST(EventTest, ACancellationAfterSetIsIgnored) {
  asio::io_context io;
  Event event;
  asio::cancellation_signal signal;
  int completions = 0;
  std::error_code seen;
  event.async_wait(asio::bind_cancellation_slot(signal.slot(), asio::bind_executor(io, [&](std::error_code e) {
                                                  ++completions;
                                                  seen = e;
                                                })));
  event.set();
  signal.emit(asio::cancellation_type::terminal);  // before the posted completion has run
  io.poll();
  EXPECT_EQ(completions, 1);
  EXPECT_EQ(seen, std::error_code());
}

TEST(EventTest, DestroyingTheEventAbortsPendingWaits) {
  asio::io_context io;
  Outcome outcome;
  {
    Event event;
    event.async_wait(record(io, outcome));
  }
  io.poll();
  ASSERT_TRUE(outcome.error.has_value());
  EXPECT_EQ(*outcome.error, asio::error::operation_aborted);
}

TEST(EventTest, RacedWithAnExpiredTimerTheTimerWinsAndTheWaitIsWithdrawn) {
  asio::io_context io;
  Event event;
  std::optional<std::size_t> winner;
  auto race = [&]() -> asio::awaitable<void> {
    asio::steady_timer timer(io, asio::steady_timer::time_point::min());  // already expired
    auto result = co_await (event.wait() || timer.async_wait(asio::use_awaitable));
    winner = result.index();
  };
  asio::co_spawn(io, std::move(race), asio::detached);
  io.run();  // bounded: the expired timer wins, the event wait is cancelled and completes
  ASSERT_TRUE(winner.has_value());
  EXPECT_EQ(*winner, 1u);
  EXPECT_FALSE(event.is_set());
}

TEST(EventTest, RacedWithAFarTimerASetEventWins) {
  asio::io_context io;
  Event event;
  std::optional<std::size_t> winner;
  auto race = [&]() -> asio::awaitable<void> {
    asio::steady_timer timer(io, asio::steady_timer::time_point::max());
    auto result = co_await (event.wait() || timer.async_wait(asio::use_awaitable));
    winner = result.index();
  };
  asio::co_spawn(io, std::move(race), asio::detached);
  io.poll();
  EXPECT_FALSE(winner.has_value());
  event.set();
  io.run();  // bounded: the event wins and the timer wait is cancelled
  ASSERT_TRUE(winner.has_value());
  EXPECT_EQ(*winner, 0u);
}

}  // namespace
}  // namespace rpcnet::runtime
