// The `rpcnet` tool's subcommands. Each returns the process exit code.
#pragma once

#include <string>
#include <vector>

namespace rpcnet::tool {

// `rpcnet certs`: development certificates (rpcnet::make_dev_certificates).
struct CertsOptions {
  std::string out = "./certs";
  std::vector<std::string> hosts = {"localhost", "127.0.0.1", "::1"};
  std::string client_name = "rpcnet-dev-client";
  int days = 30;
};
int run_certs(const CertsOptions& options);

// `rpcnet demo`: a guided tour of unary calls, the three streaming patterns, errors, a small
// loopback benchmark and graceful shutdown, server and client in this process.
struct DemoOptions {
  bool quick = false;  // shortens the benchmark (the test suite runs the demo this way)
};
int run_demo(const DemoOptions& options);

}  // namespace rpcnet::tool
