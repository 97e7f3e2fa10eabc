// rpcnet — command-line tool: development certificates and the guided demo.
//
//   rpcnet certs [--out DIR] [--host NAME]... [--client-name CN] [--days N]
//   rpcnet demo [--quick]
//   rpcnet gossip --id ID [--bind ADDR] [--seed ADDR]... [--key KEY] [--preset lan|wan|local]
//   rpcnet cluster-key
//   rpcnet cluster-demo [--quick]            (what `make demo` runs)
//   rpcnet director | worker | members ...   (the cluster example's programs)
//   rpcnet top --metrics HOST:PORT [--interval-ms N] [--iterations N] [--side server|client]
//   rpcnet call [--ca FILE] [--proto FILE] HOST:PORT package.Service/Method '{...}' | list | describe | health
//   rpcnet --version | --help
#include <CLI/CLI.hpp>
#include <iostream>

#include "call/call_command.h"
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

  rpcnet::tool::GossipOptions gossip;
  CLI::App* gossip_cmd = app.add_subcommand(
      "gossip", "Run one cluster member (membership only): events on stdout, commands on stdin");
  gossip_cmd->add_option("--id", gossip.id, "Unique node id")->required();
  gossip_cmd->add_option("--bind", gossip.bind, "Gossip UDP address")->capture_default_str();
  gossip_cmd->add_option("--advertise", gossip.advertise, "Address other members reach this node at");
  gossip_cmd->add_option("--seed", gossip.seeds, "Member to join through (repeatable)");
  gossip_cmd->add_option("--key", gossip.key, "Cluster key (64 hex digits or base64); default: $RPCNET_CLUSTER_KEY");
  gossip_cmd->add_option("--preset", gossip.preset, "Timing preset: lan, wan or local")->capture_default_str();
  gossip_cmd->add_option("--tag", gossip.tags, "Tag key=value (repeatable)");

  CLI::App* key_cmd = app.add_subcommand("cluster-key", "Print a fresh random cluster key");

  const auto add_node_options = [](CLI::App* cmd, rpcnet::tool::ClusterNodeOptions& node, bool id_required) {
    auto* id = cmd->add_option("--id", node.id, "Unique node id");
    if (id_required) id->required();
    cmd->add_option("--gossip", node.gossip, "Gossip UDP bind address")->capture_default_str();
    cmd->add_option("--seed", node.seeds, "Member to join through (repeatable)");
    cmd->add_option("--key", node.key, "Cluster key (64 hex digits or base64); default: $RPCNET_CLUSTER_KEY");
    cmd->add_option("--preset", node.preset, "Timing preset: lan, wan or local")->capture_default_str();
    cmd->add_option("--tag", node.tags, "Tag key=value (repeatable)");
  };

  rpcnet::tool::WorkerOptions worker;
  CLI::App* worker_cmd = app.add_subcommand("worker", "Serve `compute` as a cluster worker (role=worker)");
  add_node_options(worker_cmd, worker.node, true);
  worker_cmd->add_option("--rpc", worker.rpc, "RPC (QUIC) bind address")->capture_default_str();
  worker_cmd->add_option("--certs", worker.certs, "Directory written by `rpcnet certs`")->capture_default_str();

  rpcnet::tool::DirectorOptions director;
  director.node.id = "director";
  CLI::App* director_cmd =
      app.add_subcommand("director", "Route `compute` calls to the cluster's workers (ClusterClient)");
  add_node_options(director_cmd, director.node, false);
  director_cmd->add_option("--rpc", director.rpc, "RPC (QUIC) bind address")->capture_default_str();
  director_cmd->add_option("--certs", director.certs, "Directory written by `rpcnet certs`")->capture_default_str();
  director_cmd->add_option("--strategy", director.strategy, "round_robin, random, least_connections or p2c")
      ->capture_default_str();
  director_cmd->add_option("--filter", director.filter, "Which members are workers (tag filter)")
      ->capture_default_str();

  director_cmd->add_option("--report-ms", director.report_ms, "Print routing counters this often (0: never)");
  director_cmd->add_flag("--grpc-over-tcp", director.grpc_over_tcp,
                         "Also serve gRPC over HTTP/2 + TLS on TCP, on the RPC port's number");

  rpcnet::tool::LoadOptions load;
  CLI::App* load_cmd = app.add_subcommand("load", "Call a director's `compute` concurrently until `stop` on stdin");
  load_cmd->add_option("--director", load.director, "The director's RPC address")->required();
  load_cmd->add_option("--certs", load.certs, "Directory written by `rpcnet certs`")->capture_default_str();
  load_cmd->add_option("--concurrency", load.concurrency, "Concurrent callers")->capture_default_str();
  load_cmd->add_option("--seconds", load.seconds, "Stop after this long at the latest")->capture_default_str();

  rpcnet::tool::MembersOptions members;
  CLI::App* members_cmd = app.add_subcommand("members", "List a cluster's members (joins briefly as an observer)");
  add_node_options(members_cmd, members.node, false);
  members_cmd->add_option("--wait-ms", members.wait_ms, "How long to wait for the seed")->capture_default_str();

  rpcnet::tool::ClusterDemoOptions cluster_demo;
  CLI::App* cluster_demo_cmd = app.add_subcommand(
      "cluster-demo", "A director, workers and a load client as processes; a worker dies, another joins");
  cluster_demo_cmd->add_flag("--quick", cluster_demo.quick, "Shorter run (used by the test suite)");
  cluster_demo_cmd->add_option("--seconds", cluster_demo.seconds, "Length of the load phase")->capture_default_str();
  cluster_demo_cmd->add_option("--concurrency", cluster_demo.concurrency, "Concurrent callers")->capture_default_str();

  rpcnet::tool::TopOptions top;
  CLI::App* top_cmd = app.add_subcommand(
      "top", "Live calls/s, errors/s and p50/p99 latency per method from a /metrics endpoint");
  top_cmd->add_option("--metrics", top.metrics, "The endpoint's host:port (serving GET /metrics)")->required();
  top_cmd->add_option("--interval-ms", top.interval_ms, "Refresh interval")
      ->check(CLI::Range(10, 3'600'000))
      ->capture_default_str();
  top_cmd->add_option("--iterations", top.iterations, "Print this many refreshes, then exit (0: run until ^C)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  top_cmd->add_option("--side", top.side, "Show the server's or the client's call metrics")
      ->check(CLI::IsMember({"server", "client"}))
      ->capture_default_str();
  top_cmd->add_option("--timeout-ms", top.timeout_ms, "Give up on a scrape after this long")
      ->check(CLI::Range(1, 600'000))
      ->capture_default_str();

  rpcnet::tool::CallCommandOptions call;
  CLI::App* call_cmd = rpcnet::tool::add_call_command(app, call);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help and --version exit 0; usage errors exit 2 (after CLI11 printed the message).
    return app.exit(error) == 0 ? 0 : 2;
  }

  if (certs_cmd->parsed()) return rpcnet::tool::run_certs(certs);
  if (demo_cmd->parsed()) return rpcnet::tool::run_demo(demo);
  if (gossip_cmd->parsed()) return rpcnet::tool::run_gossip(gossip);
  if (key_cmd->parsed()) return rpcnet::tool::run_cluster_key();
  if (worker_cmd->parsed()) return rpcnet::tool::run_worker(worker);
  if (director_cmd->parsed()) return rpcnet::tool::run_director(director);
  if (members_cmd->parsed()) return rpcnet::tool::run_members(members);
  if (load_cmd->parsed()) return rpcnet::tool::run_load(load);
  if (cluster_demo_cmd->parsed()) return rpcnet::tool::run_cluster_demo(cluster_demo);
  if (top_cmd->parsed()) return rpcnet::tool::run_top(top);
  if (call_cmd->parsed()) return rpcnet::tool::run_call(call);
  std::cerr << app.help();
  return 1;
}
