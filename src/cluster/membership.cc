// The I/O driver of the SWIM core: one UDP socket and one timer on one event loop. The core is
// guarded by a mutex so public methods may run on any thread; the socket and the timer are only
// touched on the loop (Asio objects are not thread-safe), so public methods post a flush there.
#include "rpcnet/cluster/membership.h"

#include "cluster/cluster_metrics.h"

#include <gnutls/crypto.h>
#include <ifaddrs.h>
#include <net/if.h>

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <condition_variable>
#include <cstring>
#include <map>

#include "cluster/swim_core.h"
#include "cluster/wait_deadline.h"
#include "rpcnet/runtime.h"
#include "rpcnet/thread_annotations.h"
#include "runtime/clock.h"
#include "runtime/event_wait.h"
#include "runtime/udp_socket.h"

namespace rpcnet::cluster {

namespace {

SocketAddress from_sockaddr(const sockaddr* address, socklen_t length) {
  SocketAddress endpoint;
  if (length > endpoint.capacity()) return endpoint;
  std::memcpy(endpoint.data(), address, length);
  endpoint.resize(length);
  return endpoint;
}

// The host's first non-loopback, up interface address of `v6 ? IPv6 : IPv4`.
std::optional<asio::ip::address> first_interface_address(bool v6) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return std::nullopt;
  std::optional<asio::ip::address> found;
  for (const ifaddrs* it = list; it != nullptr && !found; it = it->ifa_next) {
    if (it->ifa_addr == nullptr || (it->ifa_flags & IFF_UP) == 0 || (it->ifa_flags & IFF_LOOPBACK) != 0) {
      continue;
    }
    if (!v6 && it->ifa_addr->sa_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(it->ifa_addr);
      found = asio::ip::address_v4(ntohl(in->sin_addr.s_addr));
    } else if (v6 && it->ifa_addr->sa_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(it->ifa_addr);
      asio::ip::address_v6::bytes_type bytes;
      std::memcpy(bytes.data(), in6->sin6_addr.s6_addr, bytes.size());
      const asio::ip::address_v6 address(bytes, in6->sin6_scope_id);
      if (!address.is_link_local()) found = address;
    }
  }
  freeifaddrs(list);
  return found;
}

Result<SocketAddress> advertised(const ClusterConfig& config, const SocketAddress& bound) {
  if (config.advertise_address) {
    SocketAddress address = *config.advertise_address;
    if (address.port() == 0) address.port(bound.port());
    if (address.address().is_unspecified()) {
      return RpcError::config("advertise_address must name an IP other members can reach, not " +
                              to_string(address));
    }
    return address;
  }
  SocketAddress address = bound;
  if (address.address().is_unspecified()) {
    auto ip = first_interface_address(address.address().is_v6());
    if (!ip) {
      return RpcError::config("bind_address " + to_string(bound) +
                              " is a wildcard and the host has no other interface address; set "
                              "advertise_address");
    }
    address.address(*ip);
  }
  return address;
}

// The core's inputs from the system: randomness from GnuTLS's generator (the nonce secret must
// never repeat across processes) and the wall clock that orders this node's boots.
Result<CoreStart> core_start_from_system() {
  CoreStart start;
  if (gnutls_rnd(GNUTLS_RND_NONCE, &start.rng_seed, sizeof start.rng_seed) < 0 ||
      gnutls_rnd(GNUTLS_RND_NONCE, start.nonce_secret.data(), start.nonce_secret.size()) < 0) {
    return RpcError::status(StatusCode::kInternal, "the system random generator failed");
  }
  start.wall_clock = std::chrono::system_clock::now();
  return start;
}

}  // namespace

struct ClusterMembership::State : std::enable_shared_from_this<State> {
  State(asio::any_io_executor executor_in, SwimCore core_in, std::size_t queue_capacity)
      : executor(std::move(executor_in)),
        timer(executor),
        core(std::move(core_in)),
        hub(queue_capacity) {}

  asio::any_io_executor executor;
  std::unique_ptr<Runtime> owned_runtime;  // set when the member runs on a loop of its own
  std::unique_ptr<runtime::UdpSocket> socket;  // loop only
  asio::steady_timer timer;                    // loop only
  Time armed = Time::max();                    // loop only

  mutable Mutex mutex;
  bool flush_posted RPCNET_GUARDED_BY(mutex) = false;
  std::condition_variable_any stopped_changed;  // with mutex
  runtime::Event stopped_event;  // set once `stopped` is; wakes the coroutines in await_stopped()
  std::map<std::uint64_t, ClusterMembership::HeartbeatListener> heartbeat_listeners RPCNET_GUARDED_BY(mutex);
  std::uint64_t next_listener_id RPCNET_GUARDED_BY(mutex) = 1;
  SwimCore core RPCNET_GUARDED_BY(mutex);
  EventHub hub;
  // Set before the state is shared, constant afterwards.
  std::string id;
  SocketAddress local;
  SocketAddress advertise;
  bool stopped RPCNET_GUARDED_BY(mutex) = false;
  bool leaving RPCNET_GUARDED_BY(mutex) = false;
  Time leave_deadline RPCNET_GUARDED_BY(mutex) = {};

  static Time now() { return runtime::steady_now(); }

  // Loop only, mutex held: sends what the core produced, publishes events, re-arms the timer.
  void flush_locked() RPCNET_REQUIRES(mutex) {
    if (stopped) return;
    while (auto datagram = core.poll_datagram()) {
      const auto* bytes = reinterpret_cast<const std::uint8_t*>(datagram->bytes.data());
      socket->send(datagram->to.data(), static_cast<socklen_t>(datagram->to.size()), bytes,
                   datagram->bytes.size(), datagram->bytes.size());
    }
    while (auto event = core.poll_event()) hub.publish(*event);
    if (leaving && (core.pending_broadcasts() == 0 || now() >= leave_deadline)) {
      stop_locked();
      return;
    }
    Time next = core.next_deadline();
    if (leaving && leave_deadline < next) next = leave_deadline;
    if (next != armed) {
      armed = next;
      timer.expires_at(next);
      timer.async_wait([weak = weak_from_this()](const std::error_code& error) {
        if (error) return;  // re-armed or stopped
        if (auto self = weak.lock()) self->on_timer();
      });
    }
  }

  // Loop only, mutex held.
  void stop_locked() RPCNET_REQUIRES(mutex) {
    if (stopped) return;
    stopped = true;
    timer.cancel();
    if (socket) socket->close();
    stopped_changed.notify_all();
    stopped_event.set();
    hub.close();  // a subscriber waiting in next() learns that nothing more comes
  }

  void on_timer() {
    MutexLock lock(mutex);
    armed = Time::max();
    const Time t = now();
    if (t >= core.next_deadline()) core.on_timer(t);
    flush_locked();
  }

  void wait_readable() {
    socket->async_wait_readable([weak = weak_from_this()](const std::error_code& error) {
      auto self = weak.lock();
      if (!self || error) return;
      self->on_readable();
    });
  }

  void on_readable() {
    bool more_ready = false;
    {
      MutexLock lock(mutex);
      if (stopped) return;
      const Time t = now();
      more_ready = socket->receive_ready(
          // Called by receive_ready() right here, with mutex held (the analysis cannot follow it).
          [&](const runtime::ReceivedDatagram& datagram) RPCNET_NO_THREAD_SAFETY_ANALYSIS {
            core.on_datagram(from_sockaddr(datagram.from, datagram.from_len),
                             std::as_bytes(datagram.data), t);
          },
          8).more_ready;
      (void)socket->take_error();  // ICMP errors from dead peers: the core's timeouts handle them
      flush_locked();
    }
    if (more_ready) {
      // Datagrams were left queued and the wait is edge-triggered (UdpSocket::receive_ready):
      // read on after the loop's other work instead of waiting for a new arrival.
      asio::post(executor, [weak = weak_from_this()] {
        if (auto self = weak.lock()) self->on_readable();
      });
    } else {
      wait_readable();
    }
  }

  // Any thread, mutex held: has the loop flush soon (once, however many calls come in).
  void request_flush_locked() RPCNET_REQUIRES(mutex) {
    if (flush_posted || stopped) return;
    flush_posted = true;
    asio::post(executor, [self = shared_from_this()] {
      MutexLock lock(self->mutex);
      self->flush_posted = false;
      self->flush_locked();
    });
  }
};

// The handles' shared part: the last handle to go stops the member and, when it owns its loop,
// joins the loop thread, so no handler of this member runs after the last handle is gone.
struct ClusterMembership::Owner {
  explicit Owner(std::shared_ptr<State> state_in) : state(std::move(state_in)) {}
  ~Owner() {
    metrics.reset();  // no scrape reads the member from here on
    ClusterMembership::stop_state(*state);
    if (state->owned_runtime) state->owned_runtime->shutdown();
    // Subscribers outlive the member: if its loop is gone before the posted stop ran, they must
    // still learn that nothing more comes.
    state->hub.close();
  }
  Owner(const Owner&) = delete;
  Owner& operator=(const Owner&) = delete;
  std::shared_ptr<State> state;
  std::shared_ptr<MetricsRegistry> metrics_registry;  // when the config named one
  CollectorHandle metrics;
};

ClusterMembership::ClusterMembership(std::shared_ptr<Owner> owner) : owner_(std::move(owner)) {}

ClusterMembership::State& ClusterMembership::state() const noexcept { return *owner_->state; }

Result<ClusterMembership> ClusterMembership::start(ClusterConfig config, KeyRing keys) {
  auto runtime = std::make_unique<Runtime>(1);
  auto member = start(std::move(config), std::move(keys), runtime->executor(0));
  if (!member) return member.error();
  member->state().owned_runtime = std::move(runtime);
  return member;
}

Result<ClusterMembership> ClusterMembership::start(ClusterConfig config, KeyRing keys,
                                                   asio::any_io_executor executor) {
  std::shared_ptr<MetricsRegistry> metrics_registry = config.metrics_registry;
  if (config.node_id.empty() || config.node_id.size() > kMaxMemberIdBytes) {
    return RpcError::config("node_id must be 1.." + std::to_string(kMaxMemberIdBytes) + " bytes");
  }
  runtime::UdpSocketOptions options;
  options.buffer_bytes = 1 << 20;
  auto socket = runtime::UdpSocket::bind(executor, config.bind_address, options);
  if (!socket) return socket.error();
  const SocketAddress local = (*socket)->local_address();
  auto advertise = advertised(config, local);
  if (!advertise) return advertise.error();
  config.advertise_address = *advertise;
  const std::size_t capacity = config.event_queue_capacity;
  std::string id = config.node_id;

  auto start = core_start_from_system();
  if (!start) return start.error();
  auto state = std::make_shared<State>(executor, SwimCore(std::move(config), std::move(keys), *start, State::now()),
                                       capacity);
  state->socket = std::move(*socket);
  state->id = std::move(id);
  state->local = local;
  state->advertise = *advertise;
  {
    MutexLock lock(state->mutex);
    // The core calls this with the state's mutex held (every input runs under it), which the
    // analysis cannot follow through the stored std::function.
    state->core.set_heartbeat_observer(
        [raw = state.get()](const Member& member, Time now, Duration expected) RPCNET_NO_THREAD_SAFETY_ANALYSIS {
          for (const auto& [listener_id, listener] : raw->heartbeat_listeners) listener(member, now, expected);
        });
  }
  asio::post(executor, [state] {
    {
      MutexLock lock(state->mutex);
      if (state->stopped) return;
      state->flush_locked();
    }
    state->wait_readable();
  });
  auto owner = std::make_shared<Owner>(std::move(state));
  owner->metrics_registry = std::move(metrics_registry);
  // The collector holds no reference to the owner (that would keep it alive); the owner removes
  // it before anything it reads is gone.
  owner->metrics = collect_membership_metrics(
      owner->metrics_registry ? *owner->metrics_registry : default_metrics(), [raw = owner->state.get()] {
        std::lock_guard lock(raw->mutex);
        return MembershipSnapshot{raw->core.counters(), raw->core.members()};
      });
  return ClusterMembership(std::move(owner));
}

Result<void> ClusterMembership::join(std::vector<SocketAddress> seeds) {
  for (const auto& seed : seeds) {
    if (seed.port() == 0 || seed.address().is_unspecified()) {
      return RpcError::config("join: seed " + to_string(seed) + " is not an address a member can be reached at");
    }
  }
  State& s = state();
  MutexLock lock(s.mutex);
  if (s.stopped) return RpcError::cancelled("join: the member has stopped");
  if (s.leaving) return RpcError::cancelled("join: the member is leaving");
  s.core.join(seeds, State::now());
  s.request_flush_locked();
  return ok();
}

Result<void> ClusterMembership::update_tag(std::string key, std::string value) {
  State& s = state();
  MutexLock lock(s.mutex);
  auto status = s.core.update_tag(std::move(key), std::move(value), State::now());
  if (status) s.request_flush_locked();
  return status;
}

Result<void> ClusterMembership::remove_tag(std::string_view key) {
  State& s = state();
  MutexLock lock(s.mutex);
  auto status = s.core.remove_tag(key, State::now());
  if (status) s.request_flush_locked();
  return status;
}

void ClusterMembership::leave(std::chrono::milliseconds grace) {
  State& s = state();
  MutexLock lock(s.mutex);
  if (s.stopped || s.leaving) return;
  s.core.leave(State::now());
  s.leaving = true;
  s.leave_deadline = State::now() + grace;
  s.request_flush_locked();
}

void ClusterMembership::stop() { stop_state(state()); }

void ClusterMembership::stop_state(State& s) {
  MutexLock lock(s.mutex);
  if (s.stopped) return;
  // The socket and timer belong to the loop; it closes them.
  asio::post(s.executor, [state = s.shared_from_this()] {
    MutexLock inner(state->mutex);
    state->stop_locked();
  });
}

asio::awaitable<Result<void>> ClusterMembership::await_stopped(std::chrono::milliseconds timeout) {
  const auto owner = owner_;  // the wait keeps the member's state alive
  State& s = *owner->state;
  const runtime::WaitEnd end = co_await runtime::wait_until(s.stopped_event, detail::wait_deadline(timeout));
  switch (end) {
    case runtime::WaitEnd::kSet: co_return ok();
    case runtime::WaitEnd::kTimedOut: co_return RpcError::timeout("the member did not stop within the timeout");
    case runtime::WaitEnd::kCancelled: break;
  }
  co_return RpcError::cancelled("the wait for the member to stop was cancelled");
}

Result<void> ClusterMembership::wait_stopped_blocking(std::chrono::milliseconds timeout) {
  State& s = state();
  MutexLock lock(s.mutex);
  // The predicate runs with s.mutex held, inside a std:: template the analysis cannot see.
  const auto stopped = [&s]() RPCNET_NO_THREAD_SAFETY_ANALYSIS { return s.stopped; };
  if (!s.stopped_changed.wait_until(s.mutex, detail::wait_deadline(timeout), stopped)) {
    return RpcError::timeout("the member did not stop within the timeout");
  }
  return ok();
}

std::uint64_t ClusterMembership::add_heartbeat_listener(HeartbeatListener listener) {
  State& s = state();
  MutexLock lock(s.mutex);
  const std::uint64_t id = s.next_listener_id++;
  s.heartbeat_listeners.emplace(id, std::move(listener));
  return id;
}

void ClusterMembership::remove_heartbeat_listener(std::uint64_t id) {
  State& s = state();
  MutexLock lock(s.mutex);
  s.heartbeat_listeners.erase(id);
}

asio::any_io_executor ClusterMembership::executor() const { return state().executor; }

bool ClusterMembership::stopped() const {
  State& s = state();
  MutexLock lock(s.mutex);
  return s.stopped;
}

std::vector<Member> ClusterMembership::members() const {
  auto& s = state();
  MutexLock lock(s.mutex);
  return s.core.members();
}

Member ClusterMembership::self() const {
  auto& s = state();
  MutexLock lock(s.mutex);
  return s.core.self();
}

SocketAddress ClusterMembership::local_address() const { return state().local; }
SocketAddress ClusterMembership::advertised_address() const { return state().advertise; }
const std::string& ClusterMembership::id() const noexcept { return state().id; }

std::shared_ptr<EventHub::Subscription> ClusterMembership::subscribe() { return state().hub.subscribe(); }

Result<void> ClusterMembership::add_key(std::span<const std::byte> key) {
  auto& s = state();
  MutexLock lock(s.mutex);
  return s.core.key_ring().add(key);
}

Result<void> ClusterMembership::use_key(std::span<const std::byte> key) {
  auto& s = state();
  MutexLock lock(s.mutex);
  return s.core.key_ring().use(key);
}

Result<void> ClusterMembership::remove_key(std::span<const std::byte> key) {
  auto& s = state();
  MutexLock lock(s.mutex);
  return s.core.key_ring().remove(key);
}

MembershipCounters ClusterMembership::stats() const {
  auto& s = state();
  MutexLock lock(s.mutex);
  return s.core.counters();
}

}  // namespace rpcnet::cluster
