// Debian's python3-grpcio, with stubs python3-grpc-tools generates from echo.proto, calls an
// rpcnet server over its gRPC-compatible listener (tests/interop/python_client.py): all four call
// kinds, a deadline, a typed error, metadata both ways, cancellation of a stream (observed by the
// handler here), 1 MiB messages, and grpc.health.v1 / grpc.reflection.v1 as gRPC tools call them.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "echo_service.h"
#include "integration/harness.h"
#include "rpcnet/health_service.h"
#include "rpcnet/reflection.h"
#include "runtime/child_process.h"

namespace rpcnet::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kPython = "/usr/bin/python3";  // Debian's, where python3-grpcio lives

TEST(GrpcPythonClient, EveryCaseOfAStockPythonClientPasses) {
  interop::Observed observed;
  LoopbackServer server(server_config().with_grpc_over_tcp());
  interop::register_echo_service(server.server(), observed);
  enable_health_service(server.server());
  enable_reflection(server.server());
  server.start();
  const auto address = server.server().grpc_address();
  ASSERT_TRUE(address);
  TempDir generated;
  runtime::Process client({kPython, RPCNET_INTEROP_DIR "/python_client.py", "--port",
                           std::to_string(address->port()), "--ca", certificates().main.ca_cert,
                           "--proto-dir", RPCNET_INTEROP_DIR, "--out-dir", generated.path().string()});
  ASSERT_TRUE(client.started());
  const auto exit_code = client.wait_exit(120s);
  client.wait_output_end(10s);
  const std::vector<std::string> lines = client.lines();
  std::string output;
  for (const auto& line : lines) output += line + "\n";
  ASSERT_EQ(exit_code, 0) << output;
  EXPECT_EQ(lines, (std::vector<std::string>{"ok unary_with_metadata", "ok typed_error", "ok deadline",
                                             "ok server_streaming", "ok client_streaming",
                                             "ok bidirectional", "ok cancel", "ok big_messages",
                                             "ok health", "ok reflection"}));
  // The deadline and the cancellation reached the handlers, as a QUIC reset would.
  EXPECT_TRUE(observed.waits_cancelled.reaches(1));
  EXPECT_TRUE(observed.chats_cancelled.reaches(1));
}

}  // namespace
}  // namespace rpcnet::testing
