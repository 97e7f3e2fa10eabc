#include "membership/cluster_sim.h"

#include <array>
#include <charconv>
#include <cstdio>
#include <stdexcept>
#include <utility>

#include "rpcnet/testing/seeded_rng.h"

namespace rpcnet::membench {
namespace {

constexpr std::uint64_t kNetworkStream = 0xFFFF'FFFF'0000'0001ULL;
constexpr std::uint64_t kJoinStream = 0xFFFF'FFFF'0000'0002ULL;
constexpr std::string_view kIdPrefix = "node-";

std::string make_id(std::size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "node-%06zu", i);
  return buf;
}

SocketAddress make_address(std::size_t i) {
  // 10.<hi>.<mid>.<lo+1>:7946 — unique for any i < 2^24.
  const auto v = static_cast<std::uint32_t>((10u << 24) | (i + 1));
  return SocketAddress(asio::ip::address_v4(v), 7946);
}

cluster::KeyRing bench_keys() {
  std::array<std::byte, cluster::kKeyBytes> key{};
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::byte>(0x5a ^ i);
  auto ring = cluster::KeyRing::create(key);
  if (!ring) throw std::runtime_error("membench: KeyRing::create failed");
  return std::move(*ring);
}

}  // namespace

testing::LinkConfig lan_link(double loss) {
  return {.loss = loss, .delay = std::chrono::microseconds(800),
          .jitter = std::chrono::microseconds(400)};
}

std::optional<std::size_t> index_of(const std::string& id) {
  if (id.size() <= kIdPrefix.size() || id.compare(0, kIdPrefix.size(), kIdPrefix) != 0) {
    return std::nullopt;
  }
  std::size_t value = 0;
  const char* first = id.data() + kIdPrefix.size();
  const char* last = id.data() + id.size();
  auto [ptr, ec] = std::from_chars(first, last, value);
  if (ec != std::errc{} || ptr != last) return std::nullopt;
  return value;
}

// ---- SwimNode ------------------------------------------------------------------------------

SwimNode::SwimNode(ClusterSim& owner, std::size_t index, cluster::SwimCore core)
    : owner_(owner), index_(index), core_(std::move(core)) {}

void SwimNode::on_datagram(const SocketAddress& from, std::span<const std::byte> bytes,
                           SimTime now) {
  core_.on_datagram(from, bytes, now);
  drain(now);
}

void SwimNode::on_timer(SimTime now) {
  core_.on_timer(now);
  drain(now);
}

SimTime SwimNode::next_deadline() const { return core_.next_deadline(); }

void SwimNode::drain(SimTime now) {
  const SocketAddress& self = owner_.address(index_);
  while (auto datagram = core_.poll_datagram()) {
    owner_.net().send(self, datagram->to, datagram->bytes);
  }
  while (auto event = core_.poll_event()) owner_.record(index_, now, *event);
}

// ---- ClusterSim ----------------------------------------------------------------------------

ClusterSim::ClusterSim(ClusterSimOptions options)
    : options_(std::move(options)),
      net_({.seed = testing::SeededRng(options_.seed).fork(kNetworkStream).seed(),
            .link = options_.link,
            .max_datagram_bytes = options_.max_datagram_bytes}) {
  const std::size_t n = options_.n;
  addresses_.reserve(n);
  ids_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    addresses_.push_back(make_address(i));
    ids_.push_back(make_id(i));
  }
  up_.assign(n, true);
  up_count_ = n;
  views_.assign(n * n, View::kUnknown);
  for (std::size_t i = 0; i < n; ++i) views_[i * n + i] = View::kAlive;
  nodes_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    nodes_.push_back(make_node(i, 0));
    must(net_.add_node(addresses_[i], *nodes_.back()));
  }
  recount();
}

ClusterSim::~ClusterSim() = default;

std::unique_ptr<SwimNode> ClusterSim::make_node(std::size_t i, std::uint64_t incarnation_salt) {
  cluster::ClusterConfig config = options_.config;
  config.node_id = ids_[i];
  config.bind_address = addresses_[i];
  config.advertise_address = addresses_[i];
  const std::uint64_t seed =
      testing::SeededRng(options_.seed).fork(i + (incarnation_salt << 32)).seed();
  cluster::SwimCore core(std::move(config), bench_keys(), cluster::CoreStart::simulated(seed, net_.now()), net_.now());
  return std::make_unique<SwimNode>(*this, i, std::move(core));
}

void ClusterSim::start_join(SimDuration stagger) {
  testing::SeededRng rng = testing::SeededRng(options_.seed).fork(kJoinStream);
  for (std::size_t i = 1; i < size(); ++i) {
    SimDuration offset{0};
    if (stagger > SimDuration::zero()) {
      offset = SimDuration(static_cast<SimDuration::rep>(
          rng.uniform(static_cast<std::uint64_t>(stagger.count()))));
    }
    net_.schedule(net_.now() + offset, [this, i] {
      if (!up_[i]) return;
      const SocketAddress seed = addresses_[0];
      drive(i, [&](cluster::SwimCore& core, SimTime now) {
        core.join(std::span<const SocketAddress>(&seed, 1), now);
      });
    });
  }
}

void ClusterSim::drive(std::size_t i,
                       const std::function<void(cluster::SwimCore&, SimTime)>& fn) {
  fn(nodes_[i]->core(), net_.now());
  nodes_[i]->drain(net_.now());
  net_.reschedule(addresses_[i]);
}

std::optional<SimTime> ClusterSim::run_until_converged(SimDuration timeout) {
  const SimTime end = net_.now() + timeout;
  // Step in 50 ms slices; the exact instant comes from converged_at_.
  while (!converged() && net_.now() < end) {
    must(net_.run_until(std::min(end, net_.now() + std::chrono::milliseconds(50))));
  }
  if (converged()) return converged_at_;
  return std::nullopt;
}

void ClusterSim::crash(std::size_t i) {
  if (!up_[i]) return;
  must(net_.crash(addresses_[i]));
  up_[i] = false;
  --up_count_;
  recount();
}

void ClusterSim::restart(std::size_t i, std::size_t seed_node) {
  if (up_[i]) return;
  retired_.push_back(std::move(nodes_[i]));
  nodes_[i] = make_node(i, ++restarts_);
  const std::size_t n = size();
  for (std::size_t s = 0; s < n; ++s) views_[i * n + s] = s == i ? View::kAlive : View::kUnknown;
  up_[i] = true;
  ++up_count_;
  must(net_.restart(addresses_[i], nodes_[i].get()));
  recount();
  const SocketAddress seed = addresses_[seed_node];
  drive(i, [&](cluster::SwimCore& core, SimTime now) {
    core.join(std::span<const SocketAddress>(&seed, 1), now);
  });
}

bool ClusterSim::pair_wrong(std::size_t observer, std::size_t subject) const {
  if (!up_[observer] || observer == subject) return false;
  const View v = view(observer, subject);
  return up_[subject] ? v != View::kAlive : v == View::kAlive;
}

void ClusterSim::recount() {
  const std::size_t n = size();
  std::size_t wrong = 0;
  for (std::size_t o = 0; o < n; ++o) {
    if (!up_[o]) continue;
    for (std::size_t s = 0; s < n; ++s) wrong += pair_wrong(o, s);
  }
  wrong_pairs_ = wrong;
  if (wrong_pairs_ == 0) converged_at_ = net_.now();
}

void ClusterSim::set_view(std::size_t observer, std::size_t subject, View v) {
  const bool before = pair_wrong(observer, subject);
  views_[observer * size() + subject] = v;
  const bool after = pair_wrong(observer, subject);
  if (before == after) return;
  if (after) {
    ++wrong_pairs_;
  } else if (--wrong_pairs_ == 0) {
    converged_at_ = net_.now();
  }
}

void ClusterSim::record(std::size_t observer, SimTime at, const cluster::ClusterEvent& event) {
  ++events_seen_;
  std::size_t subject = size();
  using cluster::EventKind;
  if (event.kind != EventKind::kPartitionDetected && event.kind != EventKind::kPartitionHealed) {
    auto index = index_of(event.member.id);
    if (!index || *index >= size()) return;  // not one of ours: ignore
    subject = *index;
    if (subject != observer) {
      switch (event.kind) {
        case EventKind::kNodeJoined:
        case EventKind::kNodeRecovered:
          set_view(observer, subject, View::kAlive);
          break;
        case EventKind::kNodeFailed:
          set_view(observer, subject, View::kFailed);
          break;
        case EventKind::kNodeLeft:
          set_view(observer, subject, View::kLeft);
          break;
        default:
          break;
      }
    }
  }
  if (on_event) on_event(NodeEvent{at, observer, subject, event});
}

}  // namespace rpcnet::membench
