// DeadlineQueue: order of firing (deadline, then FIFO among ties), add/re-add/remove, callbacks
// that change the queue, destruction with armed entries, and many out-of-order inserts.
//
// Deadlines that should fire are in the past (due at once); ones that should not are an hour
// away. The loop runs in bounded run_for slices until the expected entries have fired.
#include "runtime/deadline_queue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

namespace rpcnet::runtime {
namespace {

using namespace std::chrono_literals;

class Entry final : public DeadlineEntry {
 public:
  Entry(int id, std::vector<int>& log) : id_(id), log_(&log) {}
  // Runs after the entry has logged its firing.
  std::function<void(Entry&)> hook;

 private:
  void on_deadline() override {
    log_->push_back(id_);
    if (hook) hook(*this);
  }

  int id_;
  std::vector<int>* log_;
};

// Runs `io` in 10 ms slices until `done()` holds; at most 500 slices.
template <class Done>
bool run_until(asio::io_context& io, Done done) {
  for (int i = 0; i < 500 && !done(); ++i) {
    io.restart();
    io.run_for(10ms);
  }
  return done();
}

// Lets everything already due run (the queue fires all due entries in one handler).
void run_due(asio::io_context& io) {
  io.restart();
  io.run_for(20ms);
}

SteadyTime past(std::chrono::nanoseconds offset = 0ns) {
  return steady_now() - 1h + offset;
}

SteadyTime far_future() { return steady_now() + 1h; }

// Members in this order so that the queue goes first (disarming what is left, even when an
// assertion ends a test early), then the entries, then the loop.
class DeadlineQueueTest : public ::testing::Test {
 protected:
  // The next entry; its id is its position.
  Entry& new_entry() { return entries.emplace_back(static_cast<int>(entries.size()), log); }
  // Entries with ids 0 .. count-1.
  void make_entries(int count) {
    for (int i = 0; i < count; ++i) new_entry();
  }
  Entry& nth(int id) { return entries[static_cast<std::size_t>(id)]; }
  // Runs the loop until `count` firings have been logged.
  bool run_until_fired(std::size_t count) {
    return run_until(io, [&] { return log.size() == count; });
  }

  asio::io_context io;
  std::vector<int> log;
  std::deque<Entry> entries;
  DeadlineQueue queue{io.get_executor()};
};

std::vector<int> iota_ids(int first, int count) {
  std::vector<int> ids(static_cast<std::size_t>(count));
  std::iota(ids.begin(), ids.end(), first);
  return ids;
}

TEST_F(DeadlineQueueTest, FiresAThousandEntriesInDeadlineOrderWhateverTheInsertionOrder) {
  make_entries(1000);
  std::vector<int> order = iota_ids(0, 1000);
  std::mt19937 rng(20240607);
  std::shuffle(order.begin(), order.end(), rng);

  const SteadyTime base = past();
  for (int id : order) queue.add(nth(id), base + id * 1us);

  ASSERT_TRUE(run_until_fired(1000));
  EXPECT_EQ(log, iota_ids(0, 1000));
  for (const Entry& entry : entries) EXPECT_FALSE(entry.armed());
}

TEST_F(DeadlineQueueTest, FiresEntriesWithEqualDeadlinesInTheOrderTheyWereAdded) {
  make_entries(8);
  const SteadyTime early = past();
  const SteadyTime late = past(1ms);

  // Interleaved: the late ones first, so the heap has to reorder them.
  queue.add(nth(0), late);
  queue.add(nth(1), early);
  queue.add(nth(2), late);
  queue.add(nth(3), early);
  queue.add(nth(4), late);
  queue.add(nth(5), early);
  queue.add(nth(6), late);
  queue.add(nth(7), early);

  ASSERT_TRUE(run_until_fired(8));
  EXPECT_EQ(log, (std::vector<int>{1, 3, 5, 7, 0, 2, 4, 6}));
}

TEST_F(DeadlineQueueTest, KeepsFifoOrderAmongManyTiesAddedInRandomTimeOrder) {
  constexpr int kCount = 600;
  make_entries(kCount);
  // Three distinct deadlines, chosen at random per entry.
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> slot(0, 2);
  const SteadyTime base = past();
  std::vector<std::pair<int, int>> expected;  // (slot, id): ids ascend within a slot
  for (int i = 0; i < kCount; ++i) {
    const int s = slot(rng);
    queue.add(nth(i), base + s * 1ms);
    expected.emplace_back(s, i);
  }
  std::sort(expected.begin(), expected.end());

  ASSERT_TRUE(run_until_fired(kCount));
  std::vector<int> expected_ids;
  for (const auto& [s, id] : expected) expected_ids.push_back(id);
  EXPECT_EQ(log, expected_ids);
}

TEST_F(DeadlineQueueTest, RemovedHeadMiddleAndTailEntriesNeverFire) {
  make_entries(10);
  const SteadyTime base = past();
  // Added in reverse so the removals hit varied heap positions.
  for (int i = 9; i >= 0; --i) queue.add(nth(i), base + i * 1us);

  queue.remove(nth(0));  // head
  queue.remove(nth(5));  // middle
  queue.remove(nth(9));  // tail
  EXPECT_FALSE(nth(0).armed());
  EXPECT_FALSE(nth(5).armed());
  EXPECT_FALSE(nth(9).armed());
  queue.remove(nth(5));  // a second removal is a no-op

  ASSERT_TRUE(run_until_fired(7));
  run_due(io);
  EXPECT_EQ(log, (std::vector<int>{1, 2, 3, 4, 6, 7, 8}));
}

TEST_F(DeadlineQueueTest, RemoveIgnoresAnEntryThatIsNotInThatQueue) {
  DeadlineQueue other(io.get_executor());
  Entry& idle = new_entry();
  Entry& elsewhere = new_entry();
  Entry& here = new_entry();
  other.add(elsewhere, past());
  queue.add(here, past(1us));

  queue.remove(idle);
  queue.remove(elsewhere);
  EXPECT_FALSE(idle.armed());
  EXPECT_TRUE(elsewhere.armed());

  ASSERT_TRUE(run_until_fired(2));
  std::sort(log.begin(), log.end());
  EXPECT_EQ(log, (std::vector<int>{1, 2}));
}

TEST_F(DeadlineQueueTest, ReAddingAnArmedEntryMovesItInsteadOfAddingItTwice) {
  Entry& a = new_entry();
  Entry& b = new_entry();
  Entry& c = new_entry();
  queue.add(a, far_future());
  queue.add(b, past(2us));
  queue.add(c, past(1us));
  queue.add(a, past(3us));  // from the future to after both
  queue.add(c, past(4us));  // from first to last
  queue.add(b, far_future());  // from due to not due

  ASSERT_TRUE(run_until_fired(2));
  run_due(io);
  EXPECT_EQ(log, (std::vector<int>{0, 2}));
  EXPECT_TRUE(b.armed());
}

TEST_F(DeadlineQueueTest, ReAddingAtTheSameTimeMovesTheEntryBehindItsTies) {
  Entry& a = new_entry();
  Entry& b = new_entry();
  Entry& c = new_entry();
  const SteadyTime at = past();
  queue.add(a, at);
  queue.add(b, at);
  queue.add(c, at);
  queue.add(a, at);

  ASSERT_TRUE(run_until_fired(3));
  EXPECT_EQ(log, (std::vector<int>{1, 2, 0}));
}

TEST_F(DeadlineQueueTest, AnEarlierDeadlineRearmsTheTimerSetForALaterOne) {
  Entry& later = new_entry();
  Entry& due = new_entry();
  queue.add(later, far_future());
  run_due(io);  // the timer now waits for the far future
  queue.add(due, past());

  ASSERT_TRUE(run_until_fired(1));
  EXPECT_EQ(log, (std::vector<int>{1}));
  EXPECT_TRUE(later.armed());
}

TEST_F(DeadlineQueueTest, AnEntryNotYetDueFiresOnceItsTimeComes) {
  Entry& now_entry = new_entry();
  Entry& soon = new_entry();
  queue.add(now_entry, past());
  queue.add(soon, steady_now() + 5ms);  // left over after the first firing: the timer re-arms

  ASSERT_TRUE(run_until_fired(2));
  EXPECT_EQ(log, (std::vector<int>{0, 1}));
  EXPECT_FALSE(soon.armed());
}

TEST_F(DeadlineQueueTest, OnDeadlineMayReAddItselfAndRemoveAnotherEntry) {
  Entry& x = new_entry();
  Entry& y = new_entry();
  Entry& z = new_entry();
  int x_firings = 0;
  x.hook = [&](Entry& self) {
    EXPECT_FALSE(self.armed());  // disarmed before its callback runs
    ++x_firings;
    if (x_firings == 1) {
      queue.remove(y);
      queue.add(self, past(10us));  // due again, after z
      EXPECT_TRUE(self.armed());
    } else if (x_firings == 2) {
      queue.add(self, far_future());  // not due: stays armed
    }
  };
  queue.add(x, past(1us));
  queue.add(y, past(2us));
  queue.add(z, past(3us));

  ASSERT_TRUE(run_until_fired(3));
  run_due(io);
  EXPECT_EQ(log, (std::vector<int>{0, 2, 0}));
  EXPECT_FALSE(y.armed());
  EXPECT_TRUE(x.armed());
}

TEST_F(DeadlineQueueTest, OnDeadlineMayAddAnEntryThatIsDueAtOnce) {
  Entry& first = new_entry();
  Entry& added = new_entry();
  first.hook = [&](Entry&) { queue.add(added, past()); };
  queue.add(first, past(1us));

  ASSERT_TRUE(run_until_fired(2));
  EXPECT_EQ(log, (std::vector<int>{0, 1}));
}

TEST_F(DeadlineQueueTest, DestroyingTheQueueDisarmsItsEntriesAndNothingFires) {
  make_entries(5);
  auto doomed = std::make_unique<DeadlineQueue>(io.get_executor());
  doomed->add(nth(0), past());
  doomed->add(nth(1), past(1us));
  doomed->add(nth(2), far_future());
  doomed->add(nth(3), far_future());
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(nth(i).armed());
  EXPECT_FALSE(nth(4).armed());

  doomed.reset();
  for (const Entry& entry : entries) EXPECT_FALSE(entry.armed());
  run_due(io);  // the cancelled timer's handler must not touch the dead queue
  EXPECT_TRUE(log.empty());
}

TEST_F(DeadlineQueueTest, ArmedTracksAddRemoveAndFiring) {
  Entry& entry = new_entry();
  EXPECT_FALSE(entry.armed());
  queue.add(entry, far_future());
  EXPECT_TRUE(entry.armed());
  queue.remove(entry);
  EXPECT_FALSE(entry.armed());
  queue.add(entry, past());
  EXPECT_TRUE(entry.armed());
  ASSERT_TRUE(run_until_fired(1));
  EXPECT_FALSE(entry.armed());
}

TEST_F(DeadlineQueueTest, AddingAnEntryArmedInAnotherQueueMovesItThere) {
  auto first = std::make_unique<DeadlineQueue>(io.get_executor());
  DeadlineQueue second(io.get_executor());
  Entry& entry = new_entry();
  Entry& stays = new_entry();
  first->add(entry, far_future());
  first->add(stays, far_future());
  second.add(entry, far_future());
  first.reset();  // disarms what it still lists
  EXPECT_TRUE(entry.armed());
  EXPECT_FALSE(stays.armed());

  second.add(entry, past());
  ASSERT_TRUE(run_until_fired(1));
  EXPECT_EQ(log, (std::vector<int>{0}));
}

// Random adds, re-adds and removes against a model ordered by (deadline, add counter).
TEST_F(DeadlineQueueTest, MatchesAModelUnderRandomAddsAndRemoves) {
  constexpr int kCount = 500;
  make_entries(kCount);
  std::map<int, std::pair<int, std::uint64_t>> model;  // id -> (slot, add counter)
  std::mt19937 rng(99);
  std::uniform_int_distribution<int> pick(0, kCount - 1);
  std::uniform_int_distribution<int> op(0, 3);
  std::uniform_int_distribution<int> slot(0, 40);  // few distinct deadlines: many ties
  const SteadyTime base = past();
  std::uint64_t counter = 0;
  for (int step = 0; step < 20000; ++step) {
    const int id = pick(rng);
    Entry& entry = nth(id);
    if (op(rng) == 0) {
      queue.remove(entry);
      model.erase(id);
    } else {
      const int s = slot(rng);
      queue.add(entry, base + s * 1us);
      model[id] = {s, counter++};
    }
    ASSERT_EQ(entry.armed(), model.count(id) == 1);
  }
  std::vector<std::pair<std::pair<int, std::uint64_t>, int>> expected;
  for (const auto& [id, key] : model) expected.emplace_back(key, id);
  std::sort(expected.begin(), expected.end());
  std::vector<int> expected_ids;
  for (const auto& [key, id] : expected) expected_ids.push_back(id);

  ASSERT_TRUE(run_until_fired(expected_ids.size()));
  run_due(io);
  EXPECT_EQ(log, expected_ids);
}

// With the old sorted list this was O(n^2): every insert walked the whole list.
TEST_F(DeadlineQueueTest, HandlesAHundredThousandInsertsInDecreasingOrder) {
  constexpr int kCount = 100000;
  log.reserve(kCount);
  make_entries(kCount);
  const SteadyTime base = past();
  for (int i = 0; i < kCount; ++i) {
    queue.add(nth(i), base + (kCount - i) * 1ns);
  }

  ASSERT_TRUE(run_until_fired(kCount));
  ASSERT_EQ(log.size(), static_cast<std::size_t>(kCount));
  for (int k = 0; k < kCount; ++k) ASSERT_EQ(log[static_cast<std::size_t>(k)], kCount - 1 - k);
}

}  // namespace
}  // namespace rpcnet::runtime
