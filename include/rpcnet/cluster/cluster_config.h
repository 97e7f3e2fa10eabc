// rpcnet/cluster/cluster_config.h — every membership knob, with its unit and default.
//
// Contract: start from a preset and override what you must. The presets follow HashiCorp
// memberlist (DefaultLANConfig / DefaultWANConfig / DefaultLocalConfig), whose defaults are the
// most field-tested SWIM+Lifeguard numbers available; where rpcnet adds a knob, its default is
// justified next to it. Formulas (all logarithms base 10, as memberlist ships them), n = number
// of members not dead or left, self included:
//   suspicion minimum  = suspicion_mult * max(1, log10(n)) * probe_interval
//   suspicion maximum  = suspicion_max_timeout_mult * suspicion minimum
//   retransmit limit   = retransmit_mult * max(2, ceil(log10(n + 1))) (per queued update)
//   push-pull period   = push_pull_interval * (n <= 32 ? 1 : ceil(log2(n) - log2(32)) + 1)
//   Lifeguard scaling  = probe_interval and probe_timeout times (awareness score + 1),
//                        score in 0 .. awareness_max_multiplier - 1 (the paper scales both;
//                        memberlist only scales the interval)
// All nodes of one cluster must share max_packet_bytes (larger packets are dropped).
//
// Example:
//   rpcnet::cluster::ClusterConfig worker_config() {
//     auto config = rpcnet::cluster::ClusterConfig::Lan();
//     config.node_id = "worker-7";
//     config.bind_address = *rpcnet::parse_socket_address("0.0.0.0:7946");
//     config.push_pull_interval = std::chrono::seconds(10);
//     return config;
//   }
#pragma once

#include <chrono>
#include <memory>
#include <cstddef>
#include <optional>
#include <string>

#include "rpcnet/address.h"
#include "rpcnet/cluster/member.h"

namespace rpcnet {
class MetricsRegistry;
}

namespace rpcnet::cluster {

struct ClusterConfig {
  // Data-centre network: memberlist DefaultLANConfig.
  static ClusterConfig Lan();
  // Between regions: memberlist DefaultWANConfig (slower probes, longer timeouts).
  static ClusterConfig Wan();
  // Loopback / one host: memberlist DefaultLocalConfig (fast timeouts).
  static ClusterConfig Local();

  // Unique node name, 1..128 bytes. Default: empty (must be set; validate() rejects it).
  std::string node_id;
  // Where the gossip UDP socket binds. Default 0.0.0.0:7946 (memberlist's port).
  SocketAddress bind_address{asio::ip::address_v4::any(), 7946};
  // Address other members reach this node at; unset => bind_address. Default unset.
  std::optional<SocketAddress> advertise_address;

  // Time between probes of successive members (SWIM's protocol period). Lan 1 s, Wan 5 s,
  // Local 1 s.
  Duration probe_interval = std::chrono::seconds(1);
  // Wait for a direct ack before asking for indirect probes; ~99th percentile RTT.
  // Lan 500 ms, Wan 3 s, Local 200 ms.
  Duration probe_timeout = std::chrono::milliseconds(500);
  // Members asked to probe indirectly (k) after a direct probe times out. Lan/Wan 3, Local 1.
  int indirect_checks = 3;
  // Multiplier of the retransmit limit (see formula). Lan/Wan 4, Local 2.
  int retransmit_mult = 4;
  // Multiplier of the suspicion minimum (alpha). Lan 4, Wan 6, Local 3.
  int suspicion_mult = 4;
  // Suspicion maximum / minimum (beta), used while confirmations are missing. 6.
  int suspicion_max_timeout_mult = 6;
  // Period of full-state anti-entropy with one random alive member (scaled, see formula).
  // Lan 30 s, Wan 60 s, Local 15 s.
  Duration push_pull_interval = std::chrono::seconds(30);
  // Period of piggyback-only gossip (sent only while updates are queued). Lan 200 ms,
  // Wan 500 ms, Local 100 ms.
  Duration gossip_interval = std::chrono::milliseconds(200);
  // Members gossiped to per gossip_interval. Lan 3, Wan 4, Local 3.
  int gossip_nodes = 3;
  // Dead members still receive gossip this long, so a quickly healed one can refute.
  // Lan 30 s, Wan 60 s, Local 15 s.
  Duration gossip_to_the_dead = std::chrono::seconds(30);
  // Retention of dead/left members before they are forgotten; while retained, dead ones are
  // re-contacted every reconnect_interval so a healed partition merges. Lan/Wan 24 h (Serf's
  // reconnect window), Local 1 h.
  Duration dead_node_reclaim = std::chrono::hours(24);
  // Lifeguard local-health multiplier cap: score in 0..mult-1. 8 (probe period up to 8x).
  int awareness_max_multiplier = 8;
  // Lifeguard (local health awareness, nacks, dynamic suspicion, buddy system). false => plain
  // SWIM with suspicion timeout = the minimum. Default true.
  bool lifeguard = true;

  // Phi accrual (Akka's normal model). A member whose phi reaches the threshold is unhealthy.
  // Threshold: Lan/Local 8 (Akka's default), Wan 12 (Akka's cloud advice).
  double phi_threshold = 8.0;
  // Inter-arrival samples kept per member. 1000 (Akka max-sample-size).
  std::size_t phi_window = 1000;
  // Floor of the standard deviation. 100 ms (Akka). Wan 500 ms.
  Duration phi_min_std_dev = std::chrono::milliseconds(100);
  // Silence tolerated on top of the mean before phi rises. 3 s (Akka). Wan 10 s.
  Duration phi_acceptable_pause = std::chrono::seconds(3);

  // Largest UDP datagram sent or accepted, sealing overhead included (bytes). Lan/Wan 1200
  // (fits any IPv6 path), Local 1400. At least 512.
  std::size_t max_packet_bytes = 1200;
  // Cap on a member's tags: sum of key and value sizes (bytes). 512 (Serf's meta limit).
  std::size_t max_tags_bytes = 512;

  // Join: first retry delay after an unanswered join, doubled up to seed_retry_max.
  // 1 s and 30 s (Wan 2 s and 60 s).
  Duration seed_retry_initial = std::chrono::seconds(1);
  Duration seed_retry_max = std::chrono::seconds(30);
  // Period of re-contacting one seed (unless it is a live member) and one dead member with a
  // push-pull, so partitions heal without an operator. Lan 30 s, Wan 60 s, Local 15 s.
  Duration reconnect_interval = std::chrono::seconds(30);

  // Partition rule (see events.h): fraction of the other members, and the window (time).
  // 0.5 and 30 s (Wan 120 s, Local 15 s).
  double partition_fraction = 0.5;
  Duration partition_window = std::chrono::seconds(30);

  // Events buffered per EventHub subscriber before the oldest are dropped. 1024.
  std::size_t event_queue_capacity = 1024;

  // rpcnet additions (memory bounds against a misbehaving authenticated peer):
  // Members kept (self, dead and left included); beyond it new members are dropped and counted
  // once no dead/left member can be evicted. 10000.
  std::size_t max_members = 10000;
  // Messages accepted in one packet; a packet with more is dropped. 64.
  std::size_t max_messages_per_packet = 64;
  // How far ahead of this node's wall clock another member's clock may run. Boot ids and
  // incarnations carry their member's start time; one that claims a start further in the future
  // than this is dropped as implausible (a forged value there would otherwise outrank the real
  // member for good). A node whose clock runs ahead of the others' by more than this is not
  // heard by them. 5 minutes (Kerberos' default skew). At least 1 s.
  Duration max_clock_skew = std::chrono::minutes(5);

  // The registry the member's counters and member counts are reported to (doc/operations.md).
  // Default (null): default_metrics().
  std::shared_ptr<MetricsRegistry> metrics_registry;

  // Errors (kConfig) name the first invalid field.
  Status validate() const;
  // advertise_address or bind_address.
  SocketAddress advertised() const { return advertise_address.value_or(bind_address); }
};

}  // namespace rpcnet::cluster
