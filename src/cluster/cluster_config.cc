// The presets (memberlist's DefaultLANConfig / DefaultWANConfig / DefaultLocalConfig, see
// research/membership.md §2.1) and validation.
#include "rpcnet/cluster/cluster_config.h"

#include <string>

namespace rpcnet::cluster {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;

ClusterConfig ClusterConfig::Lan() { return ClusterConfig{}; }  // the member initialisers

ClusterConfig ClusterConfig::Wan() {
  ClusterConfig c = Lan();
  c.probe_interval = seconds(5);
  c.probe_timeout = seconds(3);
  c.suspicion_mult = 6;
  c.push_pull_interval = seconds(60);
  c.gossip_interval = milliseconds(500);
  c.gossip_nodes = 4;
  c.gossip_to_the_dead = seconds(60);
  c.phi_threshold = 12.0;
  c.phi_min_std_dev = milliseconds(500);
  c.phi_acceptable_pause = seconds(10);
  c.seed_retry_initial = seconds(2);
  c.seed_retry_max = seconds(60);
  c.reconnect_interval = seconds(60);
  c.partition_window = seconds(120);
  return c;
}

ClusterConfig ClusterConfig::Local() {
  ClusterConfig c = Lan();
  c.indirect_checks = 1;
  c.retransmit_mult = 2;
  c.suspicion_mult = 3;
  c.push_pull_interval = seconds(15);
  c.probe_timeout = milliseconds(200);
  c.gossip_interval = milliseconds(100);
  c.gossip_to_the_dead = seconds(15);
  c.dead_node_reclaim = hours(1);
  c.max_packet_bytes = 1400;
  c.reconnect_interval = seconds(15);
  c.partition_window = seconds(15);
  return c;
}

Status ClusterConfig::validate() const {
  const auto bad = [](const char* field, const char* why) {
    return RpcError::config(std::string("cluster config: ") + field + " " + why);
  };
  if (node_id.empty() || node_id.size() > kMaxMemberIdBytes) return bad("node_id", "must be 1..128 bytes");
  if (probe_interval <= Duration::zero()) return bad("probe_interval", "must be > 0");
  if (probe_timeout <= Duration::zero() || probe_timeout > probe_interval) {
    return bad("probe_timeout", "must be > 0 and <= probe_interval");
  }
  if (indirect_checks < 0 || indirect_checks > 16) return bad("indirect_checks", "must be 0..16");
  if (retransmit_mult < 1) return bad("retransmit_mult", "must be >= 1");
  if (suspicion_mult < 1) return bad("suspicion_mult", "must be >= 1");
  if (suspicion_max_timeout_mult < 1) return bad("suspicion_max_timeout_mult", "must be >= 1");
  if (push_pull_interval <= Duration::zero()) return bad("push_pull_interval", "must be > 0");
  if (gossip_interval <= Duration::zero()) return bad("gossip_interval", "must be > 0");
  if (gossip_nodes < 1) return bad("gossip_nodes", "must be >= 1");
  if (awareness_max_multiplier < 1) return bad("awareness_max_multiplier", "must be >= 1");
  if (!(phi_threshold > 0)) return bad("phi_threshold", "must be > 0");
  if (phi_window < 2) return bad("phi_window", "must be >= 2");
  if (phi_min_std_dev <= Duration::zero()) return bad("phi_min_std_dev", "must be > 0");
  if (max_packet_bytes < 512 || max_packet_bytes > 65507) {
    return bad("max_packet_bytes", "must be 512..65507");
  }
  // One alive message (id, address, tags) plus the envelope must fit in a packet.
  if (max_tags_bytes + 2 * kMaxMemberIdBytes + 300 > max_packet_bytes) {
    return bad("max_tags_bytes", "too large for max_packet_bytes");
  }
  if (seed_retry_initial <= Duration::zero() || seed_retry_max < seed_retry_initial) {
    return bad("seed_retry_initial/seed_retry_max", "must be > 0 and initial <= max");
  }
  if (reconnect_interval <= Duration::zero()) return bad("reconnect_interval", "must be > 0");
  if (max_clock_skew < std::chrono::seconds(1)) return bad("max_clock_skew", "must be >= 1 s");
  if (!(partition_fraction > 0 && partition_fraction <= 1)) {
    return bad("partition_fraction", "must be in (0, 1]");
  }
  if (partition_window <= Duration::zero()) return bad("partition_window", "must be > 0");
  if (max_members < 2) return bad("max_members", "must be >= 2");
  if (max_messages_per_packet < 1 || max_messages_per_packet > 255) {
    return bad("max_messages_per_packet", "must be 1..255");
  }
  return ok();
}

}  // namespace rpcnet::cluster
