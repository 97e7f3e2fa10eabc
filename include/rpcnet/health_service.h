// rpcnet/health_service.h — gRPC's standard health service, grpc.health.v1.Health, on an RpcServer.
//
// Contract: enable_health_service(server) registers grpc.health.v1.Health/Check and /Watch
// (proto/grpc/health/v1/health.proto: gRPC's package, messages and field numbers), answering
// from server.health() (rpcnet/health.h):
//   - Check(service) answers the status set for it ("" is the server as a whole), or ends with
//     NOT_FOUND when nobody has set one;
//   - Watch(service) sends the current status at once (SERVICE_UNKNOWN for a service nobody has
//     set), then every change, and ends with OK when the server stops serving (after its drain
//     delay). Past RpcConfig::with_max_health_watches open watches a new one ends at once with
//     RESOURCE_EXHAUSTED.
// Off by default: it lives in the rpcnet::health library (generated protobuf code), which the
// core does not link. The status table itself, and the drain phase, work without it.
//
// Example:
//   int main() {
//     rpcnet::RpcServer server(rpcnet::RpcConfig("certs/server.pem", "0.0.0.0:4433")
//                                  .with_key_path("certs/server-key.pem")
//                                  .with_drain_delay(std::chrono::seconds(5)));
//     rpcnet::enable_health_service(server);  // target_link_libraries(app PRIVATE rpcnet::health)
//     return server.run() ? 0 : 1;
//   }
#pragma once

#include "rpcnet/server.h"

namespace rpcnet {

// Registers grpc.health.v1.Health/Check and /Watch on `server`; call it before or while serving.
void enable_health_service(RpcServer& server);

}  // namespace rpcnet
