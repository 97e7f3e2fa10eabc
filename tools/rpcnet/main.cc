// rpcnet — command-line tool: development certificates and the guided demo.
//
//   rpcnet certs [--out DIR] [--host NAME]... [--client-name CN] [--days N]
//   rpcnet demo [--quick]
//   rpcnet --version | --help
#include <CLI/CLI.hpp>
#include <iostream>

#include "commands.h"

#ifndef RPCNET_VERSION
#define RPCNET_VERSION "unknown"
#endif

int main(int argc, char** argv) {
  CLI::App app{"rpcnet: RPC over QUIC + TLS 1.3 (development certificates and a guided demo)",
               "rpcnet"};
  app.set_version_flag("--version", std::string("rpcnet ") + RPCNET_VERSION);
  app.require_subcommand(1);

  rpcnet::tool::CertsOptions certs;
  CLI::App* certs_cmd = app.add_subcommand(
      "certs", "Write a development CA plus server and client certificates (PEM) for local use");
  certs_cmd->add_option("--out", certs.out, "Directory to write the six PEM files to")
      ->capture_default_str();
  certs_cmd
      ->add_option("--host", certs.hosts,
                   "Server certificate name: DNS name or IP address (repeatable)")
      ->capture_default_str();
  certs_cmd->add_option("--client-name", certs.client_name, "CN of the client certificate")
      ->capture_default_str();
  certs_cmd->add_option("--days", certs.days, "Validity in days")
      ->check(CLI::Range(1, 3'000'000))
      ->capture_default_str();

  rpcnet::tool::DemoOptions demo;
  CLI::App* demo_cmd = app.add_subcommand(
      "demo", "Walk through unary and streaming calls, errors, a benchmark and shutdown on loopback");
  demo_cmd->add_flag("--quick", demo.quick, "Shorten the benchmark (used by the test suite)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help and --version exit 0; usage errors exit 2 (after CLI11 printed the message).
    return app.exit(error) == 0 ? 0 : 2;
  }

  if (certs_cmd->parsed()) return rpcnet::tool::run_certs(certs);
  if (demo_cmd->parsed()) return rpcnet::tool::run_demo(demo);
  std::cerr << app.help();
  return 1;
}
