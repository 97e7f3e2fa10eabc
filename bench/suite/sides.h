// The two implementations under test, and the floor they are read against. Each provides a
// server (binds to the given IPv4 address, serves until killed, printing "PORT <n>" once it
// listens) and the client side of every scenario.
#pragma once

#include <string>

#include "common.h"

namespace rpcnet {
class RpcServer;
}

namespace bench {

// Servers serve on `loops` event loops / completion-queue threads; 0: the implementation's
// default (one per core for both).
//
// rpcnet: methods "echo" (unary), "stream" (server streaming; request = encode_stream_request),
// "echo_stream" (bidi). `grpc_over_tcp` (server "rpcnet_h2"): its gRPC-over-HTTP/2 listener on
// too, serving rpcnetbench.EchoService for gRPC C++'s client; "PORT" then names the TCP port.
int rpcnet_server_main(const std::string& cert_path, const std::string& key_path, const std::string& bind_host,
                       int loops, bool grpc_over_tcp);

// Registers rpcnetbench.EchoService's four methods on an rpcnet server, parsing and serialising
// the protobuf messages as gRPC's generated server does, so that a gRPC client gets the same
// service, with the same work, from either server (rpcnet_grpc_service.cc). False when gRPC and
// protobuf were not built in.
bool register_grpc_echo_service(rpcnet::RpcServer& server);
int rpcnet_client_main(const ClientArgs& args);

// gRPC C++: service rpcnetbench.EchoService (bench/suite/echo.proto). Without
// RPCNET_BENCH_GRPC these report that gRPC was not built and return 2.
bool grpc_available();
std::string grpc_version();  // "" when not built
int grpc_server_main(const std::string& cert_path, const std::string& key_path, const std::string& bind_host,
                     int loops);
int grpc_client_main(const ClientArgs& args);

// The physical floor (floor.cc): a UDP echo server and a 64-byte ping-pong client, with
// blocking sockets or through epoll on both ends.
int floor_server_main(const std::string& bind_host, bool through_epoll);
int floor_client_main(const ClientArgs& args, bool through_epoll);

}  // namespace bench
