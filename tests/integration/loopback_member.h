// The membership configuration the loopback cluster tests share: a Local-preset member with the
// given id on 127.0.0.1, port chosen by the OS.
#pragma once

#include <string>

#include "rpcnet/address.h"
#include "rpcnet/cluster/cluster_config.h"

namespace rpcnet::testing {

inline cluster::ClusterConfig member_config(const std::string& id) {
  auto config = cluster::ClusterConfig::Local();
  config.node_id = id;
  config.bind_address = *parse_socket_address("127.0.0.1:0");
  return config;
}

}  // namespace rpcnet::testing
