// `rpcnet call`: calls any method of an rpcnet server from the shell, JSON in and JSON out, as
// grpcurl does for gRPC; also lists and describes services and asks a server's health.
//
//   rpcnet call [--ca FILE] [--proto FILE -I DIR] [-H key:value] [--timeout 2s] HOST:PORT
//               package.Service/Method ['{"json": "request"}' | -]
//   rpcnet call HOST:PORT list [package.Service]
//   rpcnet call HOST:PORT describe [symbol]
//   rpcnet call HOST:PORT health [service]
//   rpcnet call --raw HOST:PORT method < request.bin > response.bin
//
// doc/tools.md is the reference (every example there is run by tests/tools); exit codes are in
// exit_code.h.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace rpcnet::tool {

struct CallCommandOptions {
  std::string target;                  // HOST:PORT (run_call takes it from arguments' front)
  std::vector<std::string> arguments;  // HOST:PORT, then a method and its request, list, describe, health
  std::string ca = "certs/ca.pem";     // the CA that issued the server's certificate
  std::string cert;                    // with key: this client's certificate (mutual TLS)
  std::string key;
  std::string server_name;             // the name to verify; default: the host as written
  std::vector<std::string> protos;     // --proto: descriptors from these files, not reflection
  std::vector<std::string> import_paths;
  std::vector<std::string> headers;    // key:value metadata
  std::string timeout;                 // e.g. 2s, 500ms; default: the client's 30 s
  bool raw = false;                    // stdin bytes in, response bytes out
};

// Declares the subcommand and its options on `app`, filling `options` when parsed.
CLI::App* add_call_command(CLI::App& app, CallCommandOptions& options);

// Runs it; returns the exit code (exit_code.h).
int run_call(const CallCommandOptions& options);

}  // namespace rpcnet::tool
