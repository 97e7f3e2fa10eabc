// Waiting for membership events without blocking a thread: EventHub::Subscription::next() on a
// one-thread loop, woken by a publisher on that same loop (it could not run if next() blocked),
// by close(), by Asio per-operation cancellation and by its timeout; and next_blocking().
#include <gtest/gtest.h>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <chrono>
#include <optional>
#include <thread>

#include "rpcnet/cluster/event_hub.h"
#include "support/error_matchers.h"

namespace rpcnet::cluster {
namespace {

using std::chrono::milliseconds;
using rpcnet::testing::ErrorIs;

ClusterEvent joined(const std::string& id) {
  ClusterEvent event{EventKind::kNodeJoined, {}, 0, 0};
  event.member.id = id;
  return event;
}

// Runs `sub->next(timeout)` on `io` and returns what it completed with.
struct Outcome {
  std::optional<Result<ClusterEvent>> result;
};

void spawn_next(asio::io_context& io, std::shared_ptr<EventHub::Subscription> sub, milliseconds timeout,
                Outcome& out) {
  auto wait = [sub, timeout, &out]() -> asio::awaitable<void> { out.result = co_await sub->next(timeout); };
  asio::co_spawn(io, wait, asio::detached);
}

TEST(EventHubWait, NextSuspendsOnlyTheCoroutineAndWakesOnPublishFromTheSameLoop) {
  asio::io_context io;
  EventHub hub(8);
  auto sub = hub.subscribe();
  Outcome out;
  spawn_next(io, sub, EventHub::kForever, out);
  // Runs after the waiter suspended, on the only thread: a blocking next() would deadlock here.
  asio::post(io, [&] { hub.publish(joined("a")); });
  io.run();
  ASSERT_TRUE(out.result.has_value());
  ASSERT_TRUE(*out.result) << out.result->error();
  EXPECT_EQ((*out.result)->member.id, "a");
  EXPECT_EQ(sub->pending(), 0u);
}

TEST(EventHubWait, QueuedEventsComeFirstThenCloseEndsTheWaitWithCancelled) {
  asio::io_context io;
  EventHub hub(8);
  auto sub = hub.subscribe();
  hub.publish(joined("queued"));
  hub.close();
  Outcome first, second;
  spawn_next(io, sub, EventHub::kForever, first);
  io.run();
  io.restart();
  spawn_next(io, sub, EventHub::kForever, second);
  io.run();
  ASSERT_TRUE(first.result && *first.result);
  EXPECT_EQ((*first.result)->member.id, "queued");
  ASSERT_TRUE(second.result && !*second.result);
  EXPECT_THAT(*second.result, ErrorIs(ErrorKind::kCall, StatusCode::kCancelled));
  EXPECT_TRUE(sub->closed());
  EXPECT_TRUE(hub.subscribe()->closed()) << "a subscription to a closed hub starts closed";
}

TEST(EventHubWait, CloseWakesAWaiterSuspendedOnAnotherThread) {
  asio::io_context io;
  EventHub hub(8);
  auto sub = hub.subscribe();
  Outcome out;
  spawn_next(io, sub, EventHub::kForever, out);
  asio::post(io, [&] { std::thread([&] { hub.close(); }).join(); });
  io.run();
  ASSERT_TRUE(out.result && !*out.result);
  EXPECT_THAT(*out.result, ErrorIs(ErrorKind::kCall, StatusCode::kCancelled));
}

TEST(EventHubWait, PerOperationCancellationEndsTheWaitWithCancelledAndLeavesTheQueue) {
  asio::io_context io;
  EventHub hub(8);
  auto sub = hub.subscribe();
  asio::cancellation_signal signal;
  Outcome out;
  auto wait = [sub, &out]() -> asio::awaitable<void> { out.result = co_await sub->next(); };
  asio::co_spawn(io, wait, asio::bind_cancellation_slot(signal.slot(), asio::detached));
  asio::post(io, [&] { signal.emit(asio::cancellation_type::terminal); });
  io.run();
  ASSERT_TRUE(out.result && !*out.result);
  EXPECT_THAT(*out.result, ErrorIs(ErrorKind::kCall, StatusCode::kCancelled));
  hub.publish(joined("later"));
  EXPECT_EQ(sub->pending(), 1u) << "the cancelled wait took nothing";
}

TEST(EventHubWait, TimeoutEndsTheWaitWithTimeout) {
  asio::io_context io;
  EventHub hub(8);
  auto sub = hub.subscribe();
  Outcome out;
  const auto start = std::chrono::steady_clock::now();
  spawn_next(io, sub, milliseconds(20), out);
  io.run();
  ASSERT_TRUE(out.result && !*out.result);
  EXPECT_THAT(*out.result, ErrorIs(ErrorKind::kCall, StatusCode::kDeadlineExceeded));
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(20));
}

TEST(EventHubWait, NextBlockingReturnsTheEventTimesOutAndEndsWhenClosed) {
  EventHub hub(8);
  auto sub = hub.subscribe();
  hub.publish(joined("a"));
  auto event = sub->next_blocking(milliseconds(0));
  ASSERT_TRUE(event) << event.error();
  EXPECT_EQ(event->member.id, "a");
  auto none = sub->next_blocking(milliseconds(1));
  ASSERT_FALSE(none);
  EXPECT_THAT(none, ErrorIs(ErrorKind::kCall, StatusCode::kDeadlineExceeded));
  std::thread closer([&] { hub.close(); });
  auto closed = sub->next_blocking(EventHub::kForever);  // returns only because close() wakes it
  closer.join();
  ASSERT_FALSE(closed);
  EXPECT_THAT(closed, ErrorIs(ErrorKind::kCall, StatusCode::kCancelled));
}

}  // namespace
}  // namespace rpcnet::cluster
