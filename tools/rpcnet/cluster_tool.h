// Helpers shared by the cluster subcommands (cluster_commands.cc, cluster_demo.cc).
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "commands.h"
#include "rpcnet/address.h"
#include "rpcnet/cluster/cluster_config.h"
#include "rpcnet/cluster/event_hub.h"
#include "rpcnet/cluster/key_ring.h"
#include "rpcnet/cluster/membership.h"
#include "rpcnet/result.h"

namespace rpcnet::tool {

// Everything a cluster command needs before it starts a member, parsed and validated together.
struct NodeSetup {
  cluster::ClusterConfig config;
  cluster::KeyRing keys;
  std::vector<SocketAddress> seeds;
};
Result<NodeSetup> node_setup(const ClusterNodeOptions& options);
// Publishes each "key=value" (or "key": empty value) in `tags`; the error names the tag.
Result<void> apply_tags(cluster::ClusterMembership& member, const std::vector<std::string>& tags);

Result<cluster::ClusterConfig> cluster_config(const ClusterNodeOptions& options);
// --key, else $RPCNET_CLUSTER_KEY.
Result<cluster::KeyRing> cluster_keys(const std::string& key);
Result<std::vector<SocketAddress>> parse_addresses(const std::vector<std::string>& texts);
std::string tags_text(const std::map<std::string, std::string>& tags);
long long steady_ms(std::chrono::steady_clock::time_point t);
// 32 random bytes as 64 hex digits (GnuTLS's key-grade RNG). Errors: INTERNAL when
// the system random generator fails.
Result<std::string> random_cluster_key();
// One line on stdout, flushed, whole (lines from several threads never interleave).
void print_line(const std::string& line);
// Prints `event <kind> id=... t_ms=...` lines until `done` becomes true.
std::thread print_events(std::shared_ptr<cluster::EventHub::Subscription> events, const std::atomic<bool>& done);

}  // namespace rpcnet::tool
