// The two implementations under test. Each provides a server (serves until killed, printing
// "PORT <n>" once it listens) and the client side of every scenario.
#pragma once

#include <string>

#include "common.h"

namespace bench {

// rpcnet: methods "echo" (unary), "stream" (server streaming; request = encode_stream_request),
// "echo_stream" (bidi).
int rpcnet_server_main(const std::string& cert_path, const std::string& key_path);
int rpcnet_client_main(const ClientArgs& args);

// gRPC C++: service rpcnetbench.EchoService (bench/suite/echo.proto). Without
// RPCNET_BENCH_GRPC these report that gRPC was not built and return 2.
bool grpc_available();
std::string grpc_version();  // "" when not built
int grpc_server_main(const std::string& cert_path, const std::string& key_path);
int grpc_client_main(const ClientArgs& args);

}  // namespace bench
