// rpcnet/cluster/cluster_server.h — an RpcServer that is also a cluster member.
//
// Contract: enable_cluster() starts a ClusterMembership next to a bound RpcServer and publishes
// the server's RPC address in the tag `rpc_addr` ("ip:port"), which is how WorkerRegistry and
// ClusterClient find the server: members without it are not callable workers. The IP is the
// server's bound IP, or the membership's advertised IP when the server is bound to a wildcard.
// The returned membership (a handle, see membership.h) is where the server's own tags and
// cluster events live: call update_tag() and subscribe() on it.
//
// It also publishes the server's overall health (RpcServer::health(), service "") in the tag
// `rpc_health` ("SERVING", "NOT_SERVING"), and follows it: at the start of a graceful shutdown
// the tag turns NOT_SERVING and WorkerRegistry stops selecting the worker while the server still
// accepts calls for its drain delay (RpcConfig::with_drain_delay; give it a few gossip rounds),
// so callers routing through ClusterClient move away before anything is refused. It runs on an event loop of its
// own and lives as long as you hold a copy; leave() it before shutting the server down so
// workers depart gracefully.
//
// Example:
//   rpcnet::Result<void> serve_as_worker(rpcnet::RpcConfig rpc, rpcnet::cluster::KeyRing keys,
//                                        rpcnet::SocketAddress director_gossip_address) {
//     rpcnet::RpcServer server(std::move(rpc));
//     server.register_method("compute", [](rpcnet::Bytes data)
//         -> asio::awaitable<rpcnet::Result<rpcnet::Bytes>> { co_return data; });
//     if (auto bound = server.bind(); !bound) return bound.error();
//     auto config = rpcnet::cluster::ClusterConfig::Lan();
//     config.node_id = "worker-1";
//     auto cluster = rpcnet::cluster::enable_cluster(server, config, std::move(keys));
//     if (!cluster) return cluster.error();
//     if (auto tagged = cluster->update_tag("role", "worker"); !tagged) return tagged;
//     if (auto joined = cluster->join({director_gossip_address}); !joined) return joined;
//     return server.run();  // until server.shutdown(grace), after cluster->leave()
//   }
#pragma once

#include <memory>
#include <string_view>

#include "rpcnet/cluster/cluster_config.h"
#include "rpcnet/cluster/key_ring.h"
#include "rpcnet/cluster/membership.h"
#include "rpcnet/result.h"
#include "rpcnet/server.h"

namespace rpcnet::cluster {

// The tag carrying a member's RPC address.
inline constexpr std::string_view kRpcAddressTag = "rpc_addr";
// The tag carrying the server's overall health (health_status_name); a worker whose tag is
// present and not "SERVING" is not selected. Absent (a member that does not publish it): callable.
inline constexpr std::string_view kRpcHealthTag = "rpc_health";

// Errors: kConfig when the server is not bound yet, or from ClusterMembership::start.
Result<ClusterMembership> enable_cluster(RpcServer& server, ClusterConfig config, KeyRing keys);

}  // namespace rpcnet::cluster
