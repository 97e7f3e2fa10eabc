#include "rpcnet/cluster/cluster_server.h"

namespace rpcnet::cluster {

namespace {

void publish_health(ClusterMembership& member, HealthStatus status) {
  // A failure here (tags over max_tags_bytes) leaves the last published value; the RPC address
  // tag, published first, is what makes the member a worker at all.
  (void)member.update_tag(std::string(kRpcHealthTag), std::string(health_status_name(status)));
}

}  // namespace

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
  HealthTable& health = server.health();
  health.add_listener([weak = std::weak_ptr<ClusterMembership::Owner>(member->owner_)](
                          std::string_view service, HealthStatus status) {
    if (!service.empty()) return;  // the cluster routes to the server as a whole
    if (auto owner = weak.lock()) {
      ClusterMembership alive(std::move(owner));
      publish_health(alive, status);
    }
  });
  if (const auto status = health.get("")) publish_health(*member, *status);
  return member;
}

}  // namespace rpcnet::cluster
