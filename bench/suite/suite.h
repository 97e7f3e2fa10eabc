// The orchestrator's pieces shared between its files: what a run measures (Metric, Job, the
// per-link job lists in scenarios.cc), what it collects (Collected) and how it reports it
// (report.cc: the JSON and markdown outputs). main.cc spawns the processes and drives the runs.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common.h"
#include "link.h"

namespace bench {

struct Metric {
  std::string name;
  const char* unit;
  const char* better;  // "higher" | "lower"
  const char* goal_op;  // ">=" | "<=" | nullptr
  double goal = 0;
  // rpcnet-only metrics have no gRPC counterpart; their goal applies to the rpcnet value itself.
  bool rpcnet_only = false;
  // The physical floor (plain UDP ping-pong): its value sits in the rpcnet column.
  bool floor = false;
};

// In output order; names, units and directions as issue 5 fixes them (loopback); the real
// links carry the subset issue 18 asks for, with its goals, under their own names.
std::vector<Metric> metrics(const LinkSpec& link);

struct Job {
  std::string id;
  ClientArgs args;                                          // impl, port, pid filled per run
  std::vector<std::pair<std::string, std::string>> outputs;  // metric name <- sample key
  double timeout_s = 30;
  bool rpcnet_only = false;  // no gRPC run (the scenario is about rpcnet's own layers)
  std::string floor_impl{};  // "floor" | "floor_epoll": the job is the physical floor
  std::string key{};         // id, prefixed with the link unless loopback: keys aux and failures
  int server_loops = 0;      // > 0: the server on that many event loops, unpinned (server scaling)
  // The gRPC path (issue 17): both columns run gRPC C++'s client; the rpcnet column's against
  // rpcnet's server over HTTP/2 + TLS on TCP (server "rpcnet_h2"), the gRPC column's against
  // gRPC C++'s server. Skipped when the gRPC side is not built.
  bool grpc_client = false;
};

struct Options {
  int reps = 10;
  double warm = 0.25;
  double measure = 1.0;
  int connects = 100;
  int idle_conns = 5000;
  double mixed_rate = 1000;  // small calls per second under the bulk stream (open loop)
  std::vector<std::string> only;
  std::vector<std::string> links = {"loopback"};
  std::vector<int> pin = {0, 1};  // server CPU, client CPU
  bool no_pin = false;
  std::string micro;
  double micro_min_time = 0.05;
  std::string json = "bench/results/latest.json";
  std::string md = "bench/results/latest.md";
};

// The jobs of one link: every scenario on loopback; on veth the headline ones; at 1 % loss the
// sequential one. The floor goes with the sequential scenario. --only narrows each link's set.
std::vector<Job> make_jobs(const Options& o, const LinkSpec& link);

struct MicroRow {
  std::string name;
  double real_ns = 0;
  double cpu_ns = 0;
  double items_per_s = 0;
  double bytes_per_s = 0;
  long iterations = 0;
};

struct Collected {
  // metric -> impl -> values of the runs
  std::map<std::string, std::map<std::string, std::vector<double>>> runs;
  // job -> impl -> aux key -> values (everything else the clients reported, plus CPU)
  std::map<std::string, std::map<std::string, std::map<std::string, std::vector<double>>>> aux;
  std::map<std::string, std::map<std::string, int>> failures;  // job -> impl -> failed runs
  std::map<std::string, std::map<std::string, std::vector<std::string>>> failure_reasons;
  // metric -> impl -> repetition -> value: pairs the two implementations' runs of one repetition
  std::map<std::string, std::map<std::string, std::map<int, double>>> by_rep;
  std::vector<double> background_share;  // per run: other processes' CPU / wall (in cores)
  struct LinkRun {
    LinkSpec link;
    std::string server_ns, client_ns;  // empty on loopback
    std::string server_address, client_address;
    std::vector<Job> jobs;
    // impl -> tls_cipher_suite, tls_group, tls_source (negotiated or configured), tls_error
    std::map<std::string, std::map<std::string, std::string>> tls{};
    std::optional<std::pair<int, int>> pinning{};  // this link's server CPU, client CPU; none: unpinned
  };
  std::vector<LinkRun> links;  // in the order they ran
  std::optional<std::pair<int, int>> pinned;  // server CPU, client CPU
};

// A number for the tables: thousands separators from 10,000 on, 3 significant digits below.
std::string pretty(double value);

// Median of a metric's successful runs for one implementation ("rpcnet" | "grpc").
std::optional<double> median_of(const Collected& c, const std::string& metric, const std::string& impl);

// Writes o.json and o.md and prints the markdown on stdout.
void write_outputs(const Options& o, const Collected& c, const std::vector<MicroRow>& micro, double total_s);

}  // namespace bench
