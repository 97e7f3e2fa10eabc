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

// `rpcnet gossip`: runs one cluster member (membership only). Prints one line per event on
// stdout and takes commands on stdin (see gossip_command.cc); used by the namespace tests.
struct GossipOptions {
  std::string id;
  std::string bind = "0.0.0.0:7946";
  std::string advertise;
  std::vector<std::string> seeds;
  std::string key;       // 64 hex digits or base64; else RPCNET_CLUSTER_KEY
  std::string preset = "lan";
  std::vector<std::string> tags;  // key=value
};
int run_gossip(const GossipOptions& options);

// `rpcnet cluster-key`: prints a fresh random cluster key (64 hex digits).
int run_cluster_key();

// What every cluster program needs to be a member.
struct ClusterNodeOptions {
  std::string id;
  std::string gossip = "127.0.0.1:0";   // gossip UDP bind address
  std::vector<std::string> seeds;
  std::string key;                      // else RPCNET_CLUSTER_KEY
  std::string preset = "local";
  std::vector<std::string> tags;        // key=value
};

// `rpcnet worker`: an RpcServer with a `compute` method that joins the cluster as role=worker.
struct WorkerOptions {
  ClusterNodeOptions node;
  std::string rpc = "127.0.0.1:0";
  std::string certs = "certs";          // from `rpcnet certs`
};
int run_worker(const WorkerOptions& options);

// `rpcnet director`: a cluster member with a WorkerRegistry and a ClusterClient, serving
// `compute` (routed to a worker) and `stats` (per-worker routing counters).
struct DirectorOptions {
  ClusterNodeOptions node;
  std::string rpc = "127.0.0.1:0";
  std::string certs = "certs";
  std::string strategy = "p2c";
  std::string filter = "role=worker";
  int report_ms = 0;  // > 0: print per-worker routing counters this often
  bool grpc_over_tcp = false;  // also serve gRPC over HTTP/2 + TLS on TCP (same port number)
};
int run_director(const DirectorOptions& options);

// `rpcnet members --seed host:port`: joins briefly as an observer and lists the members.
struct MembersOptions {
  ClusterNodeOptions node;
  int wait_ms = 5000;
};
int run_members(const MembersOptions& options);

// `rpcnet load`: concurrent `compute` calls to a director until `stop` on stdin (or `seconds`);
// prints `tick ...` lines each second and `done calls=<n> failed=<n>` at the end.
struct LoadOptions {
  std::string director;
  std::string certs = "certs";
  int concurrency = 8;
  int seconds = 60;
};
int run_load(const LoadOptions& options);

// `rpcnet cluster-demo`: the complete example (`make demo`): a director and three workers as
// separate processes, a load client, a worker killed and another one joining.
struct ClusterDemoOptions {
  bool quick = false;
  int seconds = 14;
  int concurrency = 16;
};
int run_cluster_demo(const ClusterDemoOptions& options);

// `rpcnet top --metrics host:port`: a live per-method view (calls/s, errors/s, p50, p99) of
// what an RpcServer or RpcClient reports at its /metrics endpoint, refreshed every interval.
// Exits 1 with a message when a scrape fails (unreachable, not 200, malformed beyond bounds).
struct TopOptions {
  std::string metrics;          // host:port of the /metrics endpoint
  int interval_ms = 1000;
  int iterations = 0;           // frames to print, then exit; 0: until interrupted
  std::string side = "server";  // whose metrics: server or client
  int timeout_ms = 2000;        // per scrape
};
int run_top(const TopOptions& options);

}  // namespace rpcnet::tool
