// Whether ClusterClient's pooled connection to a worker may carry the next call, judged from
// what the connection was made for and what the registry says about the worker now. Sans-I/O so
// the rules are tested without sockets (tests/unit/cluster_routing/pooled_connection_test.cc).
#pragma once

#include <cstdint>

#include "rpcnet/address.h"
#include "rpcnet/cluster/load_balancing.h"
#include "rpcnet/cluster/member.h"

namespace rpcnet::cluster {

enum class PooledVerdict : std::uint8_t {
  kReuse,
  kClosed,     // the transport closed it (idle timeout, peer close, stateless reset, close())
  kMoved,      // the worker now publishes another RPC address
  kRestarted,  // the worker booted again since: the connection's peer process is gone
};

// `open`: the connection is still open. `made_for`: the worker as selected when it was made.
// Only a different boot time in the incarnation means a restart: the counter bits also rise
// when the worker refutes a suspicion or publishes tags, and its connection is as good as ever.
inline PooledVerdict judge_pooled_connection(bool open, const WorkerInfo& made_for, const WorkerInfo& now) noexcept {
  if (!open) return PooledVerdict::kClosed;
  if (made_for.address != now.address) return PooledVerdict::kMoved;
  if (incarnation_boot_seconds(made_for.incarnation) != incarnation_boot_seconds(now.incarnation)) {
    return PooledVerdict::kRestarted;
  }
  return PooledVerdict::kReuse;
}

}  // namespace rpcnet::cluster
