// Many deadlines, one timer: call deadlines of a connection (client) or a loop (server).
//
// A timer per call costs a timer-queue insertion and removal under the reactor's lock, a
// cancellation handler posted at every call's end, and a timerfd update whenever the call's
// deadline happens to be the loop's earliest. Here entries live in an intrusive binary min-heap
// (a vector of pointers; each entry knows its slot): add and remove are O(log n) whatever order
// deadlines arrive in, so a peer choosing its timeouts (say, each shorter than the last) cannot
// make inserts linear; the earliest deadline is O(1). Nothing is allocated per add beyond the
// vector's amortised growth, and the one asio timer moves only when the earliest deadline moves
// earlier. Entries due at the same time fire in the order they were added (a sequence number
// taken at each add breaks ties).
//
// Loop-local: use from the owning loop only. An entry must be removed (or have fired) before it
// is destroyed; the queue must outlive its entries.
#pragma once

#include <asio/any_io_executor.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "runtime/clock.h"
#include "runtime/timer.h"

namespace rpcnet::runtime {

class DeadlineQueue;

class DeadlineEntry {
 public:
  DeadlineEntry() = default;
  DeadlineEntry(const DeadlineEntry&) = delete;
  DeadlineEntry& operator=(const DeadlineEntry&) = delete;
  bool armed() const noexcept { return queue_ != nullptr; }

 protected:
  virtual ~DeadlineEntry() = default;
  // Runs on the loop, from the queue's timer handler (never inside another callback).
  virtual void on_deadline() = 0;

 private:
  friend class DeadlineQueue;
  SteadyTime at_{};
  std::uint64_t seq_ = 0;   // tie breaker: the queue's add counter when this entry was added
  std::size_t index_ = 0;   // slot in queue_->heap_ while armed
  DeadlineQueue* queue_ = nullptr;
};

class DeadlineQueue {
 public:
  explicit DeadlineQueue(const asio::any_io_executor& executor, Clock clock = {})
      : timer_(executor, clock), alive_(std::make_shared<bool>(true)) {}
  ~DeadlineQueue() {
    for (DeadlineEntry* entry : heap_) entry->queue_ = nullptr;
  }
  DeadlineQueue(const DeadlineQueue&) = delete;
  DeadlineQueue& operator=(const DeadlineQueue&) = delete;

  // Arms `entry` for `at`; an entry already armed here moves (and counts as added now for ties).
  void add(DeadlineEntry& entry, SteadyTime at) {
    if (entry.queue_ == this) {
      entry.at_ = at;
      entry.seq_ = next_seq_++;
      restore(entry.index_);
    } else {
      heap_.push_back(&entry);  // the only step that may throw: nothing is changed yet
      if (entry.queue_ != nullptr) entry.queue_->remove(entry);  // armed in another queue
      entry.at_ = at;
      entry.seq_ = next_seq_++;
      entry.queue_ = this;
      entry.index_ = heap_.size() - 1;
      sift_up(entry.index_);
    }
    if (heap_.front() == &entry) arm();
  }

  // Disarms `entry`; does nothing when it is not in this queue.
  void remove(DeadlineEntry& entry) {
    if (entry.queue_ != this) return;
    const std::size_t index = entry.index_;
    DeadlineEntry* last = heap_.back();
    heap_.pop_back();
    if (last != &entry) {
      heap_[index] = last;
      last->index_ = index;
      restore(index);
    }
    entry.index_ = 0;
    entry.queue_ = nullptr;
    // The timer is left as it is: firing early with nothing due just re-arms.
  }

 private:
  static bool earlier(const DeadlineEntry* a, const DeadlineEntry* b) noexcept {
    return a->at_ < b->at_ || (a->at_ == b->at_ && a->seq_ < b->seq_);
  }

  void place(DeadlineEntry* entry, std::size_t index) noexcept {
    heap_[index] = entry;
    entry->index_ = index;
  }

  void sift_up(std::size_t index) noexcept {
    DeadlineEntry* entry = heap_[index];
    while (index > 0) {
      const std::size_t parent = (index - 1) / 2;
      if (!earlier(entry, heap_[parent])) break;
      place(heap_[parent], index);
      index = parent;
    }
    place(entry, index);
  }

  void sift_down(std::size_t index) noexcept {
    DeadlineEntry* entry = heap_[index];
    const std::size_t size = heap_.size();
    for (;;) {
      std::size_t child = 2 * index + 1;
      if (child >= size) break;
      if (child + 1 < size && earlier(heap_[child + 1], heap_[child])) ++child;
      if (!earlier(heap_[child], entry)) break;
      place(heap_[child], index);
      index = child;
    }
    place(entry, index);
  }

  // Re-establishes heap order after the entry at `index` changed its key.
  void restore(std::size_t index) noexcept {
    if (index > 0 && earlier(heap_[index], heap_[(index - 1) / 2])) {
      sift_up(index);
    } else {
      sift_down(index);
    }
  }

  void arm() {
    const SteadyTime earliest = heap_.front()->at_;
    if (armed_ && armed_at_ <= earliest) return;
    armed_ = true;
    armed_at_ = earliest;
    timer_.expires_at(armed_at_);
    timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](const asio::error_code& error) {
      if (error || alive.expired()) return;
      armed_ = false;
      fire();
    });
  }

  void fire() {
    const SteadyTime now = timer_.clock().now();
    while (!heap_.empty() && heap_.front()->at_ <= now) {
      DeadlineEntry& due = *heap_.front();
      remove(due);
      due.on_deadline();  // may add or remove other entries
    }
    if (!heap_.empty()) arm();
  }

  Timer timer_;
  std::shared_ptr<bool> alive_;  // handlers check it: the queue may be gone when they run
  std::vector<DeadlineEntry*> heap_;  // min-heap on (at_, seq_); heap_[i]->index_ == i
  std::uint64_t next_seq_ = 0;
  bool armed_ = false;
  SteadyTime armed_at_{};
};

}  // namespace rpcnet::runtime
