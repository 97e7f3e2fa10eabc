// sim_harness.h — a tiny deterministic message pump that wires SwimCore instances together
// (manual time, FIFO queue with fixed latency, per-link drop rules). Not the project simulator
// (include/rpcnet/testing); just enough for the core's own tests.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cluster/gossip_codec.h"
#include "cluster/packet_seal.h"
#include "cluster/prng.h"
#include "cluster/swim_core.h"

namespace rpcnet::cluster::test {

inline Key test_key(int fill = 7) {
  Key k;
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::byte>(fill * 31 + static_cast<int>(i));
  return k;
}

inline SocketAddress node_address(std::size_t i) {
  return SocketAddress(asio::ip::make_address_v4(static_cast<asio::ip::address_v4::uint_type>(0x0a000001 + i)), 7946);
}

inline std::string node_name(std::size_t i) { return "n" + std::to_string(i); }

class Sim {
 public:
  using Config = std::function<void(ClusterConfig&)>;

  explicit Sim(std::size_t n, Config tweak = {}, int key_fill = 7) {
    for (std::size_t i = 0; i < n; ++i) add_node(tweak, key_fill);
  }

  std::size_t add_node(const Config& tweak = {}, int key_fill = 7) {
    const std::size_t i = nodes_.size();
    ClusterConfig c = ClusterConfig::Lan();
    c.node_id = node_name(i);
    c.bind_address = node_address(i);
    if (tweak) tweak(c);
    EXPECT_TRUE(c.validate().ok());
    nodes_.push_back(std::make_unique<SwimCore>(c, std::move(*KeyRing::create(test_key(key_fill))),
                                                CoreStart::simulated(1000 + i, now_), now_));
    down_.push_back(false);
    events_.emplace_back();
    return i;
  }

  SwimCore& node(std::size_t i) { return *nodes_[i]; }
  std::size_t size() const { return nodes_.size(); }
  Time now() const { return now_; }
  std::vector<ClusterEvent>& events(std::size_t i) { return events_[i]; }

  // Node i's process restarts: a fresh core (same id, address and key) booted at the current
  // virtual time, which joins through `seed`.
  void restart(std::size_t i, std::size_t seed) {
    ClusterConfig c = nodes_[i]->config();
    nodes_[i] = std::make_unique<SwimCore>(c, std::move(*KeyRing::create(test_key())),
                                           CoreStart::simulated(5000 + i + restarts_++, now_), now_);
    down_[i] = false;
    join(i, seed);
  }

  // Crashed nodes neither send, receive, nor run timers.
  void crash(std::size_t i) { down_[i] = true; }
  void restore(std::size_t i) { down_[i] = false; }
  void set_drop(std::function<bool(std::size_t from, std::size_t to)> drop) { drop_ = std::move(drop); }
  // Called for every datagram a node sends to an address that is no node's.
  void set_stray_tap(std::function<void(std::size_t from, const OutgoingDatagram&)> tap) { stray_tap_ = std::move(tap); }
  // Called for every datagram handed to the network (after the drop rule).
  void set_tap(std::function<void(std::size_t from, std::size_t to, const OutgoingDatagram&)> tap) {
    tap_ = std::move(tap);
  }

  void join_all_via(std::size_t seed) {
    const SocketAddress seeds[] = {node_address(seed)};
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      nodes_[i]->join(seeds, now_);
      drain(i);
    }
  }

  void join(std::size_t i, std::size_t seed) {
    const SocketAddress seeds[] = {node_address(seed)};
    nodes_[i]->join(seeds, now_);
    drain(i);
  }

  // Delivers a raw datagram (for replay / forgery tests).
  void inject(std::size_t to, const SocketAddress& from, std::span<const std::byte> bytes) {
    nodes_[to]->on_datagram(from, bytes, now_);
    drain(to);
  }

  void drain(std::size_t i) {
    while (auto d = nodes_[i]->poll_datagram()) {
      EXPECT_LE(d->bytes.size(), nodes_[i]->config().max_packet_bytes);
      max_datagram_ = std::max(max_datagram_, d->bytes.size());
      const std::size_t to = index_of(d->to);
      if (to >= nodes_.size() && stray_tap_ && !down_[i]) stray_tap_(i, *d);
      if (to >= nodes_.size() || down_[i]) continue;
      if (tap_) tap_(i, to, *d);
      if (drop_ && drop_(i, to)) continue;
      queue_.push_back(InFlight{now_ + latency_, i, to, std::move(d->bytes)});
    }
    while (auto e = nodes_[i]->poll_event()) events_[i].push_back(std::move(*e));
  }

  // Runs until `end` (virtual time). Bounded: every step advances time or drains the queue.
  void run_for(Duration d) { run_until(now_ + d); }
  void run_until(Time end) {
    for (std::size_t steps = 0; steps < 50'000'000; ++steps) {
      Time next = Time::max();
      if (!queue_.empty()) next = queue_.front().at;
      for (std::size_t i = 0; i < nodes_.size(); ++i) {
        if (!down_[i]) next = std::min(next, nodes_[i]->next_deadline());
      }
      if (next > end) {
        now_ = end;
        return;
      }
      now_ = std::max(now_, next);
      while (!queue_.empty() && queue_.front().at <= now_) {
        InFlight f = std::move(queue_.front());
        queue_.pop_front();
        if (down_[f.to]) continue;
        nodes_[f.to]->on_datagram(node_address(f.from), f.bytes, now_);
        drain(f.to);
      }
      for (std::size_t i = 0; i < nodes_.size(); ++i) {
        if (!down_[i] && nodes_[i]->next_deadline() <= now_) {
          nodes_[i]->on_timer(now_);
          drain(i);
        }
      }
    }
    FAIL() << "simulation did not finish";
  }

  // Runs in `step` increments until pred() or `limit`; returns the elapsed time or nullopt.
  std::optional<Duration> run_until_true(const std::function<bool()>& pred, Duration limit,
                                         Duration step = std::chrono::milliseconds(50)) {
    const Time start = now_;
    while (now_ - start <= limit) {
      if (pred()) return now_ - start;
      run_for(step);
    }
    return std::nullopt;
  }

  std::optional<Member> view(std::size_t observer, std::size_t subject) const {
    for (auto& m : nodes_[observer]->members()) {
      if (m.id == node_name(subject)) return m;
    }
    return std::nullopt;
  }

  std::optional<MemberState> state(std::size_t observer, std::size_t subject) const {
    auto m = view(observer, subject);
    return m ? std::optional<MemberState>(m->state) : std::nullopt;
  }

  std::size_t count_events(std::size_t observer, EventKind kind, const std::string& id = {}) const {
    return static_cast<std::size_t>(std::count_if(events_[observer].begin(), events_[observer].end(), [&](const auto& e) {
      return e.kind == kind && (id.empty() || e.member.id == id);
    }));
  }

  std::size_t max_datagram() const { return max_datagram_; }

 private:
  struct InFlight {
    Time at;
    std::size_t from;
    std::size_t to;
    std::vector<std::byte> bytes;
  };

  std::size_t index_of(const SocketAddress& a) const {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (node_address(i) == a) return i;
    }
    return nodes_.size();
  }

  std::vector<std::unique_ptr<SwimCore>> nodes_;
  std::vector<bool> down_;
  std::vector<std::vector<ClusterEvent>> events_;
  std::deque<InFlight> queue_;
  std::function<bool(std::size_t, std::size_t)> drop_;
  std::function<void(std::size_t, std::size_t, const OutgoingDatagram&)> tap_;
  std::function<void(std::size_t, const OutgoingDatagram&)> stray_tap_;
  std::size_t restarts_ = 0;
  Time now_ = Time{} + std::chrono::hours(1);
  Duration latency_ = std::chrono::milliseconds(1);
  std::size_t max_datagram_ = 0;
};

// True when each of the first `n` members sees each of them alive.
inline bool full_view(Sim& sim, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      if (sim.state(i, j) != MemberState::kAlive) return false;
    }
  }
  return true;
}

inline bool full_view(Sim& sim) { return full_view(sim, sim.size()); }

// Every member joins through member 0; fails the test unless all see all alive within 10 s of
// virtual time.
inline void converge(Sim& sim) {
  sim.join_all_via(0);
  ASSERT_TRUE(sim.run_until_true([&] { return full_view(sim); }, std::chrono::seconds(10)));
}

inline NonceSequence::Secret test_nonce_secret(std::uint8_t fill) {
  NonceSequence::Secret secret;
  secret.fill(std::byte{fill});
  return secret;
}

// An authenticated peer sealing its own packets (a malicious member, or a scripted one), each
// addressed to the member `to` ("" for the unaddressed format of a first contact).
class Forger {
 public:
  explicit Forger(std::string id, std::uint64_t boot_id = 99)
      : id_(std::move(id)), boot_id_(boot_id), keys_(std::move(*KeyRing::create(test_key()))) {}
  std::vector<std::byte> packet(const std::string& to, const std::vector<gossip::Message>& messages) {
    std::vector<gossip::Buffer> framed;
    for (const auto& m : messages) framed.push_back(gossip::encode_message(m));
    const auto plain = gossip::encode_packet({id_, boot_id_, ++seq_}, framed);
    return std::move(*seal_packet(keys_, nonces_, to, plain));
  }

 private:
  std::string id_;
  std::uint64_t boot_id_;
  KeyRing keys_;
  NonceSequence nonces_{test_nonce_secret(5)};
  std::uint64_t seq_ = 0;
};

// Opens a datagram a core sent to the member `recipient`, with the test key: the plaintext
// messages it carries.
inline std::vector<gossip::Message> open_messages(const std::vector<std::byte>& sealed, const std::string& recipient,
                                                  int key_fill = 7) {
  const KeyRing keys = std::move(*KeyRing::create(test_key(key_fill)));
  const Opened opened = open_packet(keys, recipient, sealed);
  EXPECT_EQ(opened.error, OpenError::kNone);
  auto decoded = gossip::decode_packet(opened.plaintext, 1024);
  EXPECT_EQ(decoded.error, gossip::DecodeError::kNone);
  return std::move(decoded.packet.messages);
}

}  // namespace rpcnet::cluster::test
