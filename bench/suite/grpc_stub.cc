// Built instead of grpc_side.cc when RPCNET_BENCH_GRPC is OFF: the suite then measures rpcnet
// only and reports gRPC's values as null.
#include <cstdio>

#include "sides.h"

namespace bench {

bool grpc_available() { return false; }
std::string grpc_version() { return {}; }

int grpc_server_main(const std::string&, const std::string&, const std::string&, int) {
  std::fprintf(stderr, "gRPC side not built (configure with -DRPCNET_BENCH_GRPC=ON)\n");
  return 2;
}

bool register_grpc_echo_service(rpcnet::RpcServer&) { return false; }

int grpc_client_main(const ClientArgs&) {
  std::fprintf(stderr, "gRPC side not built (configure with -DRPCNET_BENCH_GRPC=ON)\n");
  return 2;
}

}  // namespace bench
