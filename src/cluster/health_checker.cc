// HealthChecker: the HealthTracker driven by the membership's heartbeats (its listener runs on the
// member's loop under the member's lock) and by a ticker coroutine on the same loop for members
// that went silent. Lock order: the member's lock, then the checker's; the checker never calls
// the member while holding its own.
#include "rpcnet/cluster/health_checker.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <future>

#include "cluster/health_tracker.h"
#include "rpcnet/thread_annotations.h"
#include "runtime/clock.h"

namespace rpcnet::cluster {

HealthCheckerConfig HealthCheckerConfig::from(const ClusterConfig& config) {
  HealthCheckerConfig out;
  out.phi_threshold = config.phi_threshold;
  out.window = config.phi_window;
  out.min_std_dev = config.phi_min_std_dev;
  out.acceptable_pause = config.phi_acceptable_pause;
  out.event_queue_capacity = config.event_queue_capacity;
  return out;
}

Result<void> HealthCheckerConfig::validate() const {
  const auto bad = [](const char* field, const char* rule) {
    return RpcError::config(std::string("HealthCheckerConfig::") + field + " " + rule);
  };
  if (!(phi_threshold > 0)) return bad("phi_threshold", "must be > 0");
  if (window < 2) return bad("window", "must be >= 2");
  if (min_std_dev <= Duration::zero()) return bad("min_std_dev", "must be > 0");
  if (acceptable_pause < Duration::zero()) return bad("acceptable_pause", "must be >= 0");
  if (check_interval <= Duration::zero()) return bad("check_interval", "must be > 0");
  return ok();
}

struct HealthChecker::Impl {
  Impl(ClusterMembership cluster_in, HealthCheckerConfig config_in)
      : cluster(std::move(cluster_in)),
        config(config_in),
        tracker(config),
        hub(config.event_queue_capacity),
        timer(std::make_shared<asio::steady_timer>(cluster.executor())) {}

  // Evaluates a snapshot and publishes the transitions (outside the checker's lock: subscribers
  // may be slow).
  void evaluate(std::span<const Member> members, Time now) {
    std::vector<ClusterEvent> events;
    {
      MutexLock lock(mutex);
      if (stopped) return;
      events = tracker.evaluate(members, cluster.id(), now);
    }
    for (const auto& event : events) hub.publish(event);
  }

  ClusterMembership cluster;
  const HealthCheckerConfig config;
  mutable Mutex mutex;
  HealthTracker tracker RPCNET_GUARDED_BY(mutex);
  EventHub hub;
  std::shared_ptr<asio::steady_timer> timer;  // the member's loop only
  bool started RPCNET_GUARDED_BY(mutex) = false;
  bool stopped RPCNET_GUARDED_BY(mutex) = false;
  std::uint64_t listener RPCNET_GUARDED_BY(mutex) = 0;
  std::future<void> ticker_done;  // start() and the destructor: the owner's thread

  // Re-evaluates every member each check_interval until stopped (the timer is cancelled).
  static asio::awaitable<void> tick(std::shared_ptr<Impl> impl, std::shared_ptr<std::promise<void>> done) {
    for (;;) {
      impl->timer->expires_after(impl->config.check_interval);
      std::error_code error;
      co_await impl->timer->async_wait(asio::redirect_error(asio::use_awaitable, error));
      {
        MutexLock lock(impl->mutex);
        if (impl->stopped) break;
      }
      const auto members = impl->cluster.members();
      impl->evaluate(members, runtime::steady_now());
    }
    impl.reset();
    done->set_value();
  }
};

HealthChecker::HealthChecker(ClusterMembership cluster, HealthCheckerConfig config)
    : impl_(std::make_shared<Impl>(std::move(cluster), config)) {}

HealthChecker::~HealthChecker() {
  stop();
  if (impl_->ticker_done.valid()) impl_->ticker_done.wait();  // no tick runs after this
}

Result<void> HealthChecker::start() {
  if (auto valid = impl_->config.validate(); !valid) return valid;
  {
    MutexLock lock(impl_->mutex);
    if (impl_->stopped) return RpcError::cancelled("HealthChecker: stopped");
    if (impl_->started) return ok();
    impl_->started = true;
  }
  if (impl_->cluster.stopped()) {
    stop();
    return RpcError::cancelled("HealthChecker: the membership has stopped");
  }
  // A heartbeat re-evaluates its member at once, so a recovery is reported without waiting for
  // the next tick.
  const std::weak_ptr<Impl> weak = impl_;
  const std::uint64_t listener = impl_->cluster.add_heartbeat_listener(
      [weak](const Member& member, Time now, Duration expected) {
        const auto impl = weak.lock();
        if (!impl) return;
        {
          MutexLock lock(impl->mutex);
          impl->tracker.heartbeat(member.id, now, expected);
        }
        impl->evaluate(std::span<const Member>(&member, 1), now);
      });
  auto done = std::make_shared<std::promise<void>>();
  {
    MutexLock lock(impl_->mutex);
    impl_->listener = listener;
    impl_->ticker_done = done->get_future();
  }
  asio::co_spawn(impl_->cluster.executor(), Impl::tick(impl_, done), asio::detached);
  return ok();
}

void HealthChecker::stop() {
  std::uint64_t listener = 0;
  {
    MutexLock lock(impl_->mutex);
    if (impl_->stopped) return;
    impl_->stopped = true;
    listener = std::exchange(impl_->listener, 0);
  }
  if (listener != 0) impl_->cluster.remove_heartbeat_listener(listener);
  asio::post(impl_->cluster.executor(), [timer = impl_->timer] { timer->cancel(); });
  impl_->hub.close();
}

std::vector<MemberHealth> HealthChecker::members() const {
  const auto snapshot = impl_->cluster.members();
  MutexLock lock(impl_->mutex);
  return impl_->tracker.view(snapshot, impl_->cluster.id(), runtime::steady_now());
}

std::optional<MemberHealth> HealthChecker::member(std::string_view id) const {
  for (auto& health : members()) {
    if (health.member.id == id) return std::move(health);
  }
  return std::nullopt;
}

bool HealthChecker::healthy(std::string_view id) const {
  const auto health = member(id);
  return health && health->healthy;
}

std::shared_ptr<EventHub::Subscription> HealthChecker::subscribe() { return impl_->hub.subscribe(); }

const HealthCheckerConfig& HealthChecker::config() const noexcept { return impl_->config; }

}  // namespace rpcnet::cluster
