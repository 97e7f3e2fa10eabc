#include "rpcnet/cluster/cluster_server.h"

namespace rpcnet::cluster {

Result<ClusterMembership> enable_cluster(RpcServer& server, ClusterConfig config, KeyRing keys) {
  const auto rpc = server.socket_addr();
  if (!rpc) return RpcError::config("enable_cluster: bind() the server first");
  auto member = ClusterMembership::start(std::move(config), std::move(keys));
  if (!member) return member.error();
  SocketAddress published = *rpc;
  if (published.address().is_unspecified()) published.address(member->advertised_address().address());
  if (auto tagged = member->update_tag(std::string(kRpcAddressTag), to_string(published)); !tagged) {
    return tagged.error();
  }
  return member;
}

}  // namespace rpcnet::cluster
