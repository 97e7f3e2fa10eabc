// Toy SimNodes for the simulator's own tests: a pinger that sends one numbered ping per period
// and records pongs, and a ponger that answers every ping (and records what it saw, and when).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "rpcnet/testing/sim_network.h"

namespace rpcnet::testing::toy {

struct Seen {
  SocketAddress from;
  std::uint32_t seq;
  std::size_t size;
  SimTime at;
};

inline std::vector<std::byte> packet(char kind, std::uint32_t seq, std::size_t size = 8) {
  std::vector<std::byte> bytes(size < 5 ? 5 : size);
  bytes[0] = static_cast<std::byte>(kind);
  std::memcpy(bytes.data() + 1, &seq, sizeof seq);
  return bytes;
}

inline std::uint32_t seq_of(std::span<const std::byte> bytes) {
  std::uint32_t seq = 0;
  if (bytes.size() >= 5) std::memcpy(&seq, bytes.data() + 1, sizeof seq);
  return seq;
}

// Answers each ping 'P' with a pong 'Q' of the same number; optionally runs a periodic timer
// that only counts its firings (to observe timer behaviour).
class Ponger : public SimNode {
 public:
  Ponger(SimNetwork& net, SocketAddress self, SimDuration period = SimDuration::zero())
      : net_(net), self_(self), period_(period),
        deadline_(period > SimDuration::zero() ? net.now() + period : SimTime::max()) {}

  void on_datagram(const SocketAddress& from, std::span<const std::byte> bytes,
                   SimTime now) override {
    seen.push_back({from, seq_of(bytes), bytes.size(), now});
    if (!bytes.empty() && bytes[0] == std::byte{'P'}) net_.send(self_, from, packet('Q', seq_of(bytes)));
  }
  void on_timer(SimTime now) override {
    timer_fires.push_back(now);
    deadline_ += period_;
  }
  SimTime next_deadline() const override { return deadline_; }

  std::vector<Seen> seen;
  std::vector<SimTime> timer_fires;

 private:
  SimNetwork& net_;
  SocketAddress self_;
  SimDuration period_;
  SimTime deadline_;
};

// Sends ping number 0, 1, 2, ... to `peer` every `period`, starting one period after creation.
class Pinger : public SimNode {
 public:
  Pinger(SimNetwork& net, SocketAddress self, SocketAddress peer, SimDuration period)
      : net_(net), self_(self), peer_(peer), period_(period), deadline_(net.now() + period) {}

  void on_datagram(const SocketAddress& from, std::span<const std::byte> bytes,
                   SimTime now) override {
    pongs.push_back({from, seq_of(bytes), bytes.size(), now});
  }
  void on_timer(SimTime now) override {
    ping_times.push_back(now);
    net_.send(self_, peer_, packet('P', next_seq_++));
    deadline_ += period_;
  }
  SimTime next_deadline() const override { return deadline_; }

  std::vector<Seen> pongs;
  std::vector<SimTime> ping_times;

 private:
  SimNetwork& net_;
  SocketAddress self_;
  SocketAddress peer_;
  SimDuration period_;
  SimTime deadline_;
  std::uint32_t next_seq_ = 0;
};

// Wants its timer to run again immediately, forever: the runaway node the event budget stops.
class Runaway : public SimNode {
 public:
  explicit Runaway(SimNetwork& net) : net_(net) {}
  void on_datagram(const SocketAddress&, std::span<const std::byte>, SimTime) override {}
  void on_timer(SimTime) override { ++fires; }
  SimTime next_deadline() const override { return net_.now(); }
  std::uint64_t fires = 0;

 private:
  SimNetwork& net_;
};

}  // namespace rpcnet::testing::toy
