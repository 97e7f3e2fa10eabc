#include "rpcnet/testing/sim_network.h"

#include <algorithm>
#include <array>

#include "rpcnet/random.h"

namespace rpcnet::testing {
namespace {

const SimCounters kZeroCounters{};

// FNV-1a over the value's 8 bytes, least significant first (the same on every platform).
std::uint64_t fnv_mix(std::uint64_t hash, std::uint64_t value) {
  std::array<std::byte, 8> bytes;
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::byte>(value >> (8 * i));
  return rpcnet::fnv1a64(bytes, hash);
}

std::uint64_t fnv_address(std::uint64_t hash, const SocketAddress& address) {
  if (address.address().is_v4()) {
    hash = fnv_mix(hash, address.address().to_v4().to_uint());
  } else {
    for (unsigned char byte : address.address().to_v6().to_bytes()) hash = fnv_mix(hash, byte);
  }
  return fnv_mix(hash, address.port());
}

// Transcript record tags: what became of a packet.
constexpr std::uint8_t kTagDelivered = 1;
constexpr std::uint8_t kTagLost = 2;
constexpr std::uint8_t kTagPartitioned = 3;
constexpr std::uint8_t kTagUnreachable = 4;
constexpr std::uint8_t kTagOversize = 5;

RpcError unknown_node(const SocketAddress& address) {
  return RpcError::status(StatusCode::kNotFound, "no node is registered at " + to_string(address));
}

}  // namespace

SimNetwork::SimNetwork(SimNetworkOptions options)
    : options_(options), now_(options.start), rng_(options.seed) {}

Result<void> SimNetwork::add_node(const SocketAddress& address, SimNode& node) {
  auto [it, inserted] = nodes_.try_emplace(address);
  if (!inserted) return RpcError::status(StatusCode::kAlreadyExists, "a node is registered at " + to_string(address));
  it->second.node = &node;
  arm_timer(it->second, address);
  return ok();
}

Result<void> SimNetwork::remove_node(const SocketAddress& address) {
  if (nodes_.erase(address) == 0) return unknown_node(address);
  return ok();
}

bool SimNetwork::has_node(const SocketAddress& address) const { return nodes_.contains(address); }

bool SimNetwork::is_up(const SocketAddress& address) const {
  auto it = nodes_.find(address);
  return it != nodes_.end() && it->second.up;
}

void SimNetwork::reschedule(const SocketAddress& address) {
  auto it = nodes_.find(address);
  if (it != nodes_.end()) arm_timer(it->second, address);
}

void SimNetwork::record(std::uint8_t tag, const SocketAddress& from, const SocketAddress& to,
                        std::size_t size) {
  std::uint64_t h = fnv_mix(transcript_, tag);
  h = fnv_mix(h, static_cast<std::uint64_t>(now_.time_since_epoch().count()));
  h = fnv_address(h, from);
  h = fnv_address(h, to);
  transcript_ = fnv_mix(h, size);
}

const LinkConfig& SimNetwork::link_for(const SocketAddress& from, const SocketAddress& to) const {
  if (!links_.empty()) {
    auto it = links_.find({from, to});
    if (it != links_.end()) return it->second;
  }
  return options_.link;
}

void SimNetwork::send(const SocketAddress& from, const SocketAddress& to,
                      std::span<const std::byte> bytes) {
  NodeEntry* sender = nullptr;
  if (auto it = nodes_.find(from); it != nodes_.end()) {
    if (!it->second.up) return;  // a crashed host sends nothing
    sender = &it->second;
    ++sender->counters.packets_sent;
    sender->counters.bytes_sent += bytes.size();
  }
  if (bytes.size() > options_.max_datagram_bytes) {
    if (sender) ++sender->counters.dropped_oversize;
    record(kTagOversize, from, to, bytes.size());
    return;
  }
  auto receiver = nodes_.find(to);
  const int from_group = sender ? sender->group : 0;
  const int to_group = receiver != nodes_.end() ? receiver->second.group : 0;
  if (from_group != to_group) {
    if (sender) ++sender->counters.dropped_partition;
    record(kTagPartitioned, from, to, bytes.size());
    return;
  }
  const LinkConfig& link = link_for(from, to);
  if (rng_.bernoulli(link.loss)) {
    if (sender) ++sender->counters.dropped_loss;
    record(kTagLost, from, to, bytes.size());
    return;
  }
  SimDuration delay = link.delay;
  if (link.jitter > SimDuration::zero()) {
    delay += SimDuration(
        static_cast<SimDuration::rep>(rng_.uniform(static_cast<std::uint64_t>(link.jitter.count()) + 1)));
  }
  Event event{.at = now_ + delay, .seq = 0, .kind = EventKind::kArrive, .from = from, .to = to,
              .generation = 0, .bytes = {bytes.begin(), bytes.end()}, .action = {}};
  push(std::move(event));
}

void SimNetwork::schedule(SimTime at, std::function<void()> action) {
  Event event{.at = std::max(at, now_), .seq = 0, .kind = EventKind::kAction, .from = {}, .to = {},
              .generation = 0, .bytes = {}, .action = std::move(action)};
  push(std::move(event));
}

void SimNetwork::set_link(const SocketAddress& from, const SocketAddress& to,
                          const LinkConfig& link) {
  links_[{from, to}] = link;
}

void SimNetwork::clear_link(const SocketAddress& from, const SocketAddress& to) {
  links_.erase({from, to});
}

void SimNetwork::partition(const std::vector<std::vector<SocketAddress>>& groups) {
  for (auto& [address, entry] : nodes_) entry.group = 0;
  int group = 0;
  for (const auto& members : groups) {
    ++group;
    for (const auto& address : members) {
      if (auto it = nodes_.find(address); it != nodes_.end()) it->second.group = group;
    }
  }
}

void SimNetwork::heal() {
  for (auto& [address, entry] : nodes_) entry.group = 0;
}

Result<void> SimNetwork::crash(const SocketAddress& address) {
  auto it = nodes_.find(address);
  if (it == nodes_.end()) return unknown_node(address);
  if (!it->second.up) return RpcError::status(StatusCode::kFailedPrecondition, to_string(address) + " is down already");
  it->second.up = false;
  ++it->second.timer_generation;  // cancels the armed timer
  it->second.timer_at = SimTime::max();
  return ok();
}

Result<void> SimNetwork::restart(const SocketAddress& address, SimNode* replacement) {
  auto it = nodes_.find(address);
  if (it == nodes_.end()) return unknown_node(address);
  if (it->second.up) return RpcError::status(StatusCode::kFailedPrecondition, to_string(address) + " is running");
  if (replacement) it->second.node = replacement;
  it->second.up = true;
  arm_timer(it->second, address);
  return ok();
}

Result<void> SimNetwork::set_slow(const SocketAddress& address, SimDuration inbound, SimDuration timers) {
  auto it = nodes_.find(address);
  if (it == nodes_.end()) return unknown_node(address);
  if (inbound < SimDuration::zero() || timers < SimDuration::zero()) {
    return RpcError::status(StatusCode::kInvalidArgument, "a slowdown cannot be negative");
  }
  it->second.slow_inbound = inbound;
  it->second.slow_timers = timers;
  arm_timer(it->second, address);
  return ok();
}

void SimNetwork::push(Event event) {
  event.seq = next_seq_++;
  queue_.push_back(std::move(event));
  std::push_heap(queue_.begin(), queue_.end(), Later{});
}

void SimNetwork::arm_timer(NodeEntry& entry, const SocketAddress& address) {
  if (!entry.up) return;
  const SimTime deadline = entry.node->next_deadline();
  SimTime fire = SimTime::max();
  if (deadline != SimTime::max()) fire = std::max(deadline, now_) + entry.slow_timers;
  if (fire == entry.timer_at) return;  // already armed for exactly that time
  ++entry.timer_generation;
  entry.timer_at = fire;
  if (fire == SimTime::max()) return;
  Event event{.at = fire, .seq = 0, .kind = EventKind::kTimer, .from = {}, .to = address,
              .generation = entry.timer_generation, .bytes = {}, .action = {}};
  push(std::move(event));
}

void SimNetwork::deliver(Event& event) {
  auto it = nodes_.find(event.to);
  auto sender = nodes_.find(event.from);
  if (it == nodes_.end() || !it->second.up) {
    if (sender != nodes_.end()) ++sender->second.counters.dropped_unreachable;
    record(kTagUnreachable, event.from, event.to, event.bytes.size());
    return;
  }
  NodeEntry& entry = it->second;
  if (event.kind == EventKind::kArrive && entry.slow_inbound > SimDuration::zero()) {
    // A slow host has the packet in its socket buffer but gets to it late.
    event.kind = EventKind::kProcess;
    event.at = now_ + entry.slow_inbound;
    push(std::move(event));
    return;
  }
  ++entry.counters.packets_received;
  entry.counters.bytes_received += event.bytes.size();
  record(kTagDelivered, event.from, event.to, event.bytes.size());
  entry.node->on_datagram(event.from, event.bytes, now_);
  // The callback may have crashed/replaced nodes through the network; look the entry up again.
  if (auto again = nodes_.find(event.to); again != nodes_.end()) arm_timer(again->second, event.to);
}

void SimNetwork::run_event(Event& event) {
  now_ = event.at;
  ++events_processed_;
  switch (event.kind) {
    case EventKind::kArrive:
    case EventKind::kProcess:
      deliver(event);
      break;
    case EventKind::kTimer: {
      auto it = nodes_.find(event.to);
      if (it == nodes_.end() || !it->second.up ||
          it->second.timer_generation != event.generation) {
        break;  // stale: re-armed, crashed or removed since
      }
      it->second.timer_at = SimTime::max();
      ++it->second.counters.timers_fired;
      it->second.node->on_timer(now_);
      if (auto again = nodes_.find(event.to); again != nodes_.end()) {
        arm_timer(again->second, event.to);
      }
      break;
    }
    case EventKind::kAction:
      event.action();
      break;
  }
}

bool SimNetwork::step() {
  if (queue_.empty()) return false;
  std::pop_heap(queue_.begin(), queue_.end(), Later{});
  Event event = std::move(queue_.back());
  queue_.pop_back();
  run_event(event);
  return true;
}

Result<void> SimNetwork::run_until(SimTime t) {
  std::uint64_t budget = options_.max_events_per_run;
  while (!queue_.empty() && queue_.front().at <= t) {
    if (budget-- == 0) {
      return RpcError::status(StatusCode::kResourceExhausted, "the event budget ran out (a runaway node?)");
    }
    (void)step();
  }
  if (t > now_) now_ = t;
  return ok();
}

const SimCounters& SimNetwork::counters(const SocketAddress& address) const {
  auto it = nodes_.find(address);
  return it == nodes_.end() ? kZeroCounters : it->second.counters;
}

SimCounters SimNetwork::totals() const {
  SimCounters sum;
  for (const auto& [address, entry] : nodes_) {
    const SimCounters& c = entry.counters;
    sum.packets_sent += c.packets_sent;
    sum.bytes_sent += c.bytes_sent;
    sum.packets_received += c.packets_received;
    sum.bytes_received += c.bytes_received;
    sum.dropped_loss += c.dropped_loss;
    sum.dropped_partition += c.dropped_partition;
    sum.dropped_unreachable += c.dropped_unreachable;
    sum.dropped_oversize += c.dropped_oversize;
    sum.timers_fired += c.timers_fired;
  }
  return sum;
}

}  // namespace rpcnet::testing
