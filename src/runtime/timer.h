// A one-shot timer on a Clock (clock.h): an asio::steady_timer on the real clock, or a wait on a
// VirtualTimeline, which completes when whoever drives the timeline moves time past it.
//
// VirtualTimeline keeps the waits of one simulated world in deadline order (ties in the order
// they were scheduled) and posts each due wait's handler to the executor it was scheduled from:
// a handler never runs inside advance_to(). Loop-local: the timeline, its timers and its driver
// share one thread.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/error.hpp>
#include <asio/steady_timer.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "runtime/clock.h"

namespace rpcnet::runtime {

// A completion handler of signature void(asio::error_code), type-erased and move-only.
class WaitHandler {
 public:
  template <class Handler>
  explicit WaitHandler(Handler handler) : impl_(std::make_unique<Impl<Handler>>(std::move(handler))) {}
  void operator()(const asio::error_code& error) { impl_->call(error); }

 private:
  struct Base {
    virtual ~Base() = default;
    virtual void call(const asio::error_code& error) = 0;
  };
  template <class Handler>
  struct Impl final : Base {
    explicit Impl(Handler h) : handler(std::move(h)) {}
    void call(const asio::error_code& error) override { std::move(handler)(error); }
    Handler handler;
  };
  std::unique_ptr<Base> impl_;
};

class VirtualTimeline {
 public:
  explicit VirtualTimeline(SteadyTime start) : now_(start) {}
  VirtualTimeline(const VirtualTimeline&) = delete;
  VirtualTimeline& operator=(const VirtualTimeline&) = delete;

  SteadyTime now() const noexcept { return now_; }

  // Registers a wait until `at`; returns its key for cancel().
  using Key = std::pair<SteadyTime, std::uint64_t>;
  Key schedule(SteadyTime at, asio::any_io_executor executor, WaitHandler handler);
  // Completes the wait with operation_aborted (posted); does nothing when it already fired.
  void cancel(const Key& key);

  // The earliest wait's deadline; nullopt when nothing waits.
  std::optional<SteadyTime> next_deadline() const;
  // Moves time to the earliest wait's deadline (never backwards) and posts every wait due then.
  // Returns false when nothing waits.
  bool fire_next();
  // Moves time forward to `to` without firing anything (call fire_next() first for what is due).
  void move_to(SteadyTime to) {
    if (to > now_) now_ = to;
  }

 private:
  struct Wait {
    asio::any_io_executor executor;
    WaitHandler handler;
  };
  static void complete(Wait wait, asio::error_code error);

  SteadyTime now_;
  std::uint64_t next_seq_ = 0;
  std::map<Key, Wait> waits_;
};

class Timer {
 public:
  Timer(const asio::any_io_executor& executor, Clock clock) : real_(executor), clock_(clock) {}
  ~Timer() { cancel(); }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  const Clock& clock() const noexcept { return clock_; }

  // Cancels a pending wait (as asio::steady_timer does) and sets the new expiry.
  void expires_at(SteadyTime at) {
    if (clock_.timeline() == nullptr) {
      real_.expires_at(at);
      return;
    }
    cancel();
    at_ = at;
  }
  void expires_after(SteadyTime::duration after) { expires_at(clock_.now() + after); }

  // Completes with void(asio::error_code): success at the expiry, operation_aborted when
  // cancelled. One wait at a time on a virtual clock.
  template <class Token>
  auto async_wait(Token&& token) {
    return asio::async_initiate<Token, void(asio::error_code)>(
        [this](auto handler) {
          if (clock_.timeline() == nullptr) {
            real_.async_wait(std::move(handler));
            return;
          }
          cancel();
          auto executor = asio::get_associated_executor(handler, real_.get_executor());
          pending_ = clock_.timeline()->schedule(at_, std::move(executor), WaitHandler(std::move(handler)));
        },
        token);
  }

  void cancel() {
    if (clock_.timeline() == nullptr) {
      real_.cancel();
      return;
    }
    if (pending_) clock_.timeline()->cancel(*std::exchange(pending_, std::nullopt));
  }

 private:
  asio::steady_timer real_;
  Clock clock_;
  SteadyTime at_{};
  std::optional<VirtualTimeline::Key> pending_;  // virtual clock: the wait in the timeline
};

}  // namespace rpcnet::runtime
