// rpcnet_bench — rpcnet against gRPC C++, same machine, same run (`make bench`), on loopback
// and on a real link (a veth pair between two network namespaces, MTU 1500, with and without
// 1 % loss; link.h).
//
//   rpcnet_bench [run] [options]     the orchestrator: every scenario, alternating rpcnet / gRPC,
//                                    medians -> results JSON + markdown (stdout: the table)
//   rpcnet_bench server <rpcnet|grpc|floor|floor_epoll> <cert> <key> [--bind ADDR] [--cpu N]
//   rpcnet_bench client <rpcnet|grpc|floor|floor_epoll> <scenario> [--key value ...]
//
// For every run of every scenario the orchestrator starts a fresh server process and a fresh
// client process (both this binary, exec'd), so no state carries over between runs and a client
// that hangs or crashes costs only its own run (reported; null if no run succeeded).
// Each scenario is repeated --reps times (default 3); which implementation goes first alternates
// between repetitions and between scenarios; the median of the runs is reported.
//
// Server and client are pinned to different CPUs (sched_setaffinity; default server 0, client 1)
// and every sequential scenario is read against the physical floor measured in the same run
// between the same CPUs over the same link: a plain UDP ping-pong (floor.cc).
//
// Options (run): --reps N  --warm S  --measure S  --connects N  --idle-conns N
//                --link loopback,veth,veth-loss1 (default loopback)  --pin S,C | --no-pin
//                --only job,job (unary_seq unary_c1 unary_c16 unary_c64 unary_c256 stream_1k
//                stream_64k stream_1m bidi connect resumed_connect mixed idle
//                cluster_overhead floor; the floor runs whenever unary_seq does)
//                --micro <rpcnet_micro binary>  --micro-min-time S  --json PATH  --md PATH
//                --quick (short windows and few connections, for trying it out)
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common.h"
#include "link.h"
#include "rpcnet/certs.h"
#include "runtime/child_process.h"
#include "sides.h"


namespace bench {
namespace {

// ---- processes ------------------------------------------------------------------------------

std::string self_exe() {
  std::error_code error;
  auto path = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? std::string("rpcnet_bench") : path.string();
}

// Where a run's server and client live: loopback in our namespace, or a NetnsPair.
struct Placement {
  const LinkSpec* link = nullptr;
  const NetnsPair* netns = nullptr;  // null on loopback
  int server_cpu = -1;               // -1: not pinned
  int client_cpu = -1;
  std::string server_address() const { return netns ? netns->server_address() : "127.0.0.1"; }
  std::string client_address() const { return netns ? netns->client_address() : "127.0.0.1"; }
  std::vector<std::string> server_argv(const std::vector<std::string>& argv) const {
    return netns ? netns->in_server(argv) : argv;
  }
  std::vector<std::string> client_argv(const std::vector<std::string>& argv) const {
    return netns ? netns->in_client(argv) : argv;
  }
};

struct Server {
  std::unique_ptr<rpcnet::runtime::Process> process;  // killed and reaped when it goes
  std::uint16_t port = 0;
  ~Server() {
    if (process) untrack_child(process->pid());
  }
  Server() = default;
  Server(Server&&) = default;
};

std::optional<Server> start_server(const std::string& impl, const rpcnet::DevCertificatePaths& certs,
                                   const Placement& where) {
  Server server;
  server.process = std::make_unique<rpcnet::runtime::Process>(
      where.server_argv({self_exe(), "server", impl, certs.server_cert, certs.server_key, "--bind",
                         where.server_address(), "--cpu", std::to_string(where.server_cpu)}));
  if (!server.process->started()) return std::nullopt;
  track_child(server.process->pid());
  const auto first = server.process->wait_line([](const std::string&) { return true; }, std::chrono::seconds(20));
  unsigned port = 0;
  if (!first || std::sscanf(server.process->lines(*first).front().c_str(), "PORT %u", &port) != 1 || port == 0 ||
      port > 65535) {
    std::fprintf(stderr, "bench: %s server did not report a port\n", impl.c_str());
    return std::nullopt;
  }
  server.port = static_cast<std::uint16_t>(port);
  return server;
}

// ---- scenarios ------------------------------------------------------------------------------

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
std::vector<Metric> metrics(const LinkSpec& link) {
  std::vector<Metric> list;
  const auto floor_rows = [&] {
    list.push_back({"udp_floor_p50_us", "us", "lower", nullptr, 0, false, true});
    list.push_back({"udp_floor_p99_us", "us", "lower", nullptr, 0, false, true});
    list.push_back({"udp_floor_epoll_p50_us", "us", "lower", nullptr, 0, false, true});
    list.push_back({"udp_floor_epoll_p99_us", "us", "lower", nullptr, 0, false, true});
  };
  if (link.loss_percent > 0) {
    list.push_back({"unary_seq_p50_us", "us", "lower", nullptr});
    list.push_back({"unary_seq_p99_us", "us", "lower", "<=", 0.05});
    floor_rows();
  } else if (link.namespaces) {
    list.push_back({"unary_seq_p50_us", "us", "lower", "<=", 0.7});
    list.push_back({"unary_seq_p99_us", "us", "lower", nullptr});
    floor_rows();
    list.push_back({"unary_c64_calls_per_s", "calls/s", "higher", ">=", 3.0});
    list.push_back({"unary_c64_p99_us", "us", "lower", nullptr});
    list.push_back({"server_stream_1m_mb_per_s", "MB/s", "higher", ">=", 1.0});
    list.push_back({"connect_first_call_p50_us", "us", "lower", "<=", 0.5});
  } else {
    list = {
        {"unary_seq_p50_us", "us", "lower", "<=", 0.7},
        {"unary_seq_p99_us", "us", "lower", nullptr},
    };
    floor_rows();
    const std::vector<Metric> rest = {
        {"unary_c1_calls_per_s", "calls/s", "higher", nullptr},
        {"unary_c16_calls_per_s", "calls/s", "higher", nullptr},
        {"unary_c64_calls_per_s", "calls/s", "higher", ">=", 3.0},
        {"unary_c256_calls_per_s", "calls/s", "higher", nullptr},
        {"unary_c64_p99_us", "us", "lower", nullptr},
        {"server_stream_1k_msgs_per_s", "msgs/s", "higher", nullptr},
        {"server_stream_64k_mb_per_s", "MB/s", "higher", nullptr},
        {"server_stream_1m_mb_per_s", "MB/s", "higher", ">=", 1.0},
        {"bidi_echo_64b_msgs_per_s", "msgs/s", "higher", nullptr},
        {"connect_first_call_p50_us", "us", "lower", "<=", 0.5},
        {"resumed_connect_first_call_p50_us", "us", "lower", nullptr},
        {"mixed_small_p99_us", "us", "lower", "<=", 0.5},
        {"idle_conn_rss_kb", "kB", "lower", nullptr},
        // Issue 6: p50 of ClusterClient::call_worker minus p50 of a direct call to the same worker.
        {"cluster_call_worker_overhead_us", "us", "lower", "<=", 10.0, true},
    };
    list.insert(list.end(), rest.begin(), rest.end());
  }
  for (auto& metric : list) metric.name = link.metric_name(metric.name);
  return list;
}

struct Job {
  std::string id;
  ClientArgs args;                                          // impl, port, pid filled per run
  std::vector<std::pair<std::string, std::string>> outputs;  // metric name <- sample key
  double timeout_s = 30;
  bool rpcnet_only = false;  // no gRPC run (the scenario is about rpcnet's own layers)
  std::string floor_impl{};  // "floor" | "floor_epoll": the job is the physical floor
  std::string key{};         // id, prefixed with the link unless loopback: keys aux and failures
};

struct Options {
  int reps = 10;
  double warm = 0.25;
  double measure = 1.0;
  int connects = 100;
  int idle_conns = 5000;
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
std::vector<Job> make_jobs(const Options& o, const LinkSpec& link) {
  std::vector<Job> jobs;
  auto base = [&](const char* scenario) {
    ClientArgs args;
    args.scenario = scenario;
    args.warm = o.warm;
    args.measure = o.measure;
    return args;
  };
  const double window = o.warm + o.measure;
  {
    Job job{"unary_seq", base("unary_seq"), {{"unary_seq_p50_us", "p50_us"}, {"unary_seq_p99_us", "p99_us"}}, window + 30};
    jobs.push_back(job);
  }
  for (const char* impl : {"floor", "floor_epoll"}) {
    const std::string prefix = std::string("udp_") + impl;
    Job job{impl, base("udp_pingpong"), {{prefix + "_p50_us", "p50_us"}, {prefix + "_p99_us", "p99_us"}}, window + 30};
    job.floor_impl = impl;
    jobs.push_back(job);
  }
  for (int n : {1, 16, 64, 256}) {
    Job job{"unary_c" + std::to_string(n), base("unary_conc"),
            {{"unary_c" + std::to_string(n) + "_calls_per_s", "calls_per_s"}}, window + 30};
    job.args.concurrency = n;
    if (n == 64) job.outputs.emplace_back("unary_c64_p99_us", "p99_us");
    jobs.push_back(job);
  }
  const std::pair<const char*, std::size_t> sizes[] = {{"1k", 1024}, {"64k", 64 * 1024}, {"1m", 1024 * 1024}};
  for (const auto& [label, size] : sizes) {
    Job job{std::string("stream_") + label, base("stream"), {}, window + 30};
    job.args.size = size;
    job.outputs.emplace_back(std::string("server_stream_") + label + (size == 1024 ? "_msgs_per_s" : "_mb_per_s"),
                             size == 1024 ? "msgs_per_s" : "mb_per_s");
    jobs.push_back(job);
  }
  {
    Job job{"bidi", base("bidi"), {{"bidi_echo_64b_msgs_per_s", "msgs_per_s"}}, window + 30};
    job.args.window = 64;
    jobs.push_back(job);
  }
  for (bool resumed : {false, true}) {
    Job job{resumed ? "resumed_connect" : "connect", base("connect"),
            {{resumed ? "resumed_connect_first_call_p50_us" : "connect_first_call_p50_us", "p50_us"}}, 60};
    job.args.count = o.connects;
    job.args.resumed = resumed;
    jobs.push_back(job);
  }
  {
    Job job{"mixed", base("mixed"), {{"mixed_small_p99_us", "p99_us"}}, window + 60};
    job.args.warm = std::max(0.5, o.warm);
    job.args.measure = 1.5 * o.measure;
    job.args.size = 1024 * 1024;
    jobs.push_back(job);
  }
  {
    Job job{"idle", base("idle"), {{"idle_conn_rss_kb", "rss_kb_per_conn"}}, 180};
    job.args.conns = o.idle_conns;
    jobs.push_back(job);
  }
  {
    Job job{"cluster_overhead", base("cluster_overhead"), {{"cluster_call_worker_overhead_us", "overhead_us"}},
            window + 40};
    job.rpcnet_only = true;
    jobs.push_back(job);
  }
  const auto listed = [](const std::vector<std::string>& names, const std::string& id) {
    return std::find(names.begin(), names.end(), id) != names.end();
  };
  std::vector<std::string> on_link;  // empty: all
  if (link.loss_percent > 0) {
    on_link = {"unary_seq", "floor", "floor_epoll"};
  } else if (link.namespaces) {
    on_link = {"unary_seq", "floor", "floor_epoll", "unary_c64", "stream_1m", "connect"};
  }
  std::vector<Job> selected;
  for (auto& job : jobs) {
    if (!on_link.empty() && !listed(on_link, job.id)) continue;
    const bool wanted = o.only.empty() || listed(o.only, job.id) ||
                        (!job.floor_impl.empty() && (listed(o.only, "floor") || listed(o.only, "unary_seq")));
    if (!wanted) continue;
    for (auto& [metric, key] : job.outputs) metric = link.metric_name(metric);
    job.key = link.namespaces ? link.id + "/" + job.id : job.id;
    selected.push_back(job);
  }
  return selected;
}

struct RunResult {
  bool ok = false;
  std::string why;  // why the run failed (empty if it did not)
  Sample sample;
  double wall_s = 0;
  double client_cpu_s = 0;
  double server_cpu_s = 0;
  double background_cpu_s = 0;  // other processes on the machine during the run
};

RunResult run_once(const Job& job, const std::string& impl, const rpcnet::DevCertificatePaths& certs,
                   const Placement& where) {
  RunResult result;
  result.why = "server did not start";
  auto server = start_server(impl, certs, where);
  if (!server) return result;
  const ClientArgs& a = job.args;
  std::vector<std::string> args = {self_exe(), "client", impl, a.scenario,
                                   "--host", where.server_address(),
                                   "--bind", where.client_address(),
                                   "--cpu", std::to_string(where.client_cpu),
                                   "--port", std::to_string(server->port),
                                   "--server-pid", std::to_string(server->process->pid()),
                                   "--ca", certs.ca_cert,
                                   "--warm", std::to_string(a.warm),
                                   "--measure", std::to_string(a.measure),
                                   "--concurrency", std::to_string(a.concurrency),
                                   "--size", std::to_string(a.size),
                                   "--payload", std::to_string(a.payload),
                                   "--window", std::to_string(a.window),
                                   "--count", std::to_string(a.count),
                                   "--resumed", a.resumed ? "1" : "0",
                                   "--conns", std::to_string(a.conns)};
  const double server_cpu_before = cpu_seconds(server->process->pid());
  const double busy_before = machine_busy_seconds();
  const auto start = Clock::now();
  rpcnet::runtime::Process client(where.client_argv(args));
  result.why = "client did not start";
  if (!client.started()) return result;
  track_child(client.pid());
  const auto limit = std::chrono::duration_cast<std::chrono::milliseconds>(seconds(job.timeout_s));
  const bool finished = client.wait_output_end(limit) && client.wait_exit(limit).has_value();
  if (!finished) {
    std::fprintf(stderr, "bench: %s %s client did not finish within %.0f s: killed\n", job.key.c_str(),
                 impl.c_str(), job.timeout_s);
    client.kill(SIGKILL);
  }
  untrack_child(client.pid());
  result.wall_s = secs(Clock::now() - start);
  result.server_cpu_s = cpu_seconds(server->process->pid()) - server_cpu_before;
  result.client_cpu_s = client.cpu_seconds();
  result.background_cpu_s =
      std::max(0.0, machine_busy_seconds() - busy_before - result.client_cpu_s - result.server_cpu_s);
  server.reset();  // kills and reaps the server
  std::string text;
  for (const auto& line : client.lines()) text += line + "\n";
  std::istringstream lines(text);
  std::string key;
  double value = 0;
  while (lines >> key >> value) {
    if (key == "errors") {
      result.sample.errors = static_cast<long>(value);
    } else {
      result.sample.set(key, value);
    }
  }
  result.ok = finished && client.exit_code() == 0;
  result.why.clear();
  if (!result.ok) {
    result.why = "timeout";
    if (finished && client.exit_signal()) result.why = strsignal(*client.exit_signal());
    if (finished && client.exit_code()) result.why = "exit " + std::to_string(*client.exit_code());
  }
  // The plain connect scenario measures full handshakes: a resumed connection makes it another
  // scenario, so the run does not count.
  if (result.ok && job.id == "connect") {
    const auto resumed = result.sample.values.find("resumed");
    if (resumed != result.sample.values.end() && resumed->second > 0) {
      result.ok = false;
      result.why = std::to_string(static_cast<long>(resumed->second)) + " connection(s) resumed";
    }
  }
  if (!result.ok) {
    std::fprintf(stderr, "bench: %s %s run failed (%s): excluded\n", job.key.c_str(), impl.c_str(),
                 result.why.c_str());
  }
  return result;
}

// ---- output ---------------------------------------------------------------------------------

std::string number(std::optional<double> value) {
  if (!value) return "null";
  char text[64];
  std::snprintf(text, sizeof text, "%.6g", *value);
  return text;
}

std::string pretty(double value) {
  char text[64];
  const double magnitude = std::fabs(value);
  if (magnitude >= 1e4) {
    std::snprintf(text, sizeof text, "%.0f", value);
    std::string digits = text;  // thousands separators
    std::string grouped;
    int count = 0;
    for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
      if (count > 0 && count % 3 == 0 && *it != '-') grouped.insert(grouped.begin(), ',');
      grouped.insert(grouped.begin(), *it);
      ++count;
    }
    return grouped;
  }
  if (magnitude >= 100) {
    std::snprintf(text, sizeof text, "%.0f", value);
  } else if (magnitude >= 10) {
    std::snprintf(text, sizeof text, "%.1f", value);
  } else {
    std::snprintf(text, sizeof text, "%.2f", value);
  }
  return text;
}

// A JSON number with the 6 significant digits the report shows (null when there is none).
nlohmann::ordered_json six_digits(std::optional<double> value) {
  if (!value) return nullptr;
  return std::strtod(number(value).c_str(), nullptr);
}

struct MicroRow {
  std::string name;
  double real_ns = 0;
  double cpu_ns = 0;
  double items_per_s = 0;
  double bytes_per_s = 0;
  long iterations = 0;
};

std::vector<MicroRow> run_micro(const Options& o) {
  std::vector<MicroRow> rows;
  if (o.micro.empty()) return rows;
  char path_template[] = "/tmp/rpcnet-micro-XXXXXX";
  const int fd = ::mkstemp(path_template);
  if (fd < 0) return rows;
  ::close(fd);
  std::fprintf(stderr, "bench: microbenchmarks (%s)\n", o.micro.c_str());
  {
    // Its report goes to our stderr; the rows come from the TSV file.
    rpcnet::runtime::Process micro({o.micro, "--benchmark_min_time=" + std::to_string(o.micro_min_time),
                                    std::string("--tsv=") + path_template},
                                   rpcnet::runtime::StdoutTo::kOurStderr);
    // Google Benchmark bounds its own run time: wait as long as it takes.
    while (micro.running()) (void)micro.wait_exit(std::chrono::minutes(1));
  }
  std::ifstream in(path_template);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    MicroRow row;
    std::string name;
    if (std::getline(fields, row.name, '\t') && fields >> row.real_ns >> row.cpu_ns >> row.items_per_s >>
                                                    row.bytes_per_s >> row.iterations) {
      rows.push_back(row);
    }
  }
  std::filesystem::remove(path_template);
  if (rows.empty()) std::fprintf(stderr, "bench: the microbenchmarks produced no results\n");
  return rows;
}

std::string machine_description() {
  std::string model = "unknown CPU";
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  return model;
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char text[64];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

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
  };
  std::vector<LinkRun> links;  // in the order they ran
  std::optional<std::pair<int, int>> pinned;  // server CPU, client CPU
};

std::string pinning_text(const Collected& c) {
  if (!c.pinned) return "server and client not pinned";
  return "server pinned to CPU " + std::to_string(c.pinned->first) + ", client to CPU " +
         std::to_string(c.pinned->second) + " (sched_setaffinity)";
}

std::optional<double> median_of(const Collected& c, const std::string& metric, const std::string& impl) {
  auto m = c.runs.find(metric);
  if (m == c.runs.end()) return std::nullopt;
  auto i = m->second.find(impl);
  if (i == m->second.end() || i->second.empty()) return std::nullopt;
  return median(i->second);
}

std::optional<double> aux_median(const Collected& c, const std::string& job, const std::string& impl,
                                 const std::string& key) {
  auto j = c.aux.find(job);
  if (j == c.aux.end()) return std::nullopt;
  auto i = j->second.find(impl);
  if (i == j->second.end()) return std::nullopt;
  auto k = i->second.find(key);
  if (k == i->second.end() || k->second.empty()) return std::nullopt;
  return median(k->second);
}

// rpcnet ÷ gRPC per repetition (both ran and succeeded): the median is the headline ratio, so
// drift of the shared machine between repetitions cancels; min and max show the spread.
struct Ratios {
  double median = 0, min = 0, max = 0;
  int runs = 0;
  int missing_goal_by_10 = 0;  // runs whose ratio misses the goal by more than 10 %
};

std::optional<Ratios> ratios_of(const Collected& c, const Metric& metric) {
  const auto m = c.by_rep.find(metric.name);
  if (m == c.by_rep.end() || !m->second.count("rpcnet") || !m->second.count("grpc")) return std::nullopt;
  const auto& r = m->second.at("rpcnet");
  const auto& g = m->second.at("grpc");
  std::vector<double> values;
  Ratios out;
  for (const auto& [rep, value] : r) {
    const auto other = g.find(rep);
    if (other == g.end() || other->second == 0) continue;
    const double x = value / other->second;
    values.push_back(x);
    if (metric.goal_op != nullptr) {
      const bool higher = std::strcmp(metric.goal_op, ">=") == 0;
      if (higher ? x < 0.9 * metric.goal : x > 1.1 * metric.goal) ++out.missing_goal_by_10;
    }
  }
  if (values.empty()) return std::nullopt;
  out.median = median(values);
  out.min = *std::min_element(values.begin(), values.end());
  out.max = *std::max_element(values.begin(), values.end());
  out.runs = static_cast<int>(values.size());
  return out;
}

void write_outputs(const Options& o, const Collected& c, const std::vector<MicroRow>& micro, double total_s) {
  const std::string date = utc_now();
  const std::string cpu = machine_description();
  const unsigned cores = std::thread::hardware_concurrency();
  utsname uts{};
  ::uname(&uts);
  const std::string grpc = grpc_version();
  std::optional<double> background_median;
  std::optional<double> background_max;
  if (!c.background_share.empty()) {
    background_median = median(c.background_share);
    background_max = *std::max_element(c.background_share.begin(), c.background_share.end());
  }

  // JSON
  nlohmann::ordered_json scenarios = nlohmann::ordered_json::array();
  nlohmann::ordered_json link_rows = nlohmann::ordered_json::array();
  for (const auto& link_run : c.links) {
  link_rows.push_back({{"id", link_run.link.id}, {"title", link_run.link.title()},
                       {"server_address", link_run.server_address}, {"client_address", link_run.client_address},
                       {"namespaces", link_run.server_ns.empty()
                                          ? nlohmann::ordered_json::array()
                                          : nlohmann::ordered_json::array({link_run.server_ns, link_run.client_ns})}});
  for (const auto& metric : metrics(link_run.link)) {
    const auto r = median_of(c, metric.name, "rpcnet");
    const auto g = median_of(c, metric.name, "grpc");
    const auto ratios = ratios_of(c, metric);
    std::optional<double> ratio, ratio_min, ratio_max;
    if (ratios) {
      ratio = ratios->median;
      ratio_min = ratios->min;
      ratio_max = ratios->max;
    }
    nlohmann::ordered_json runs = nlohmann::ordered_json::object();
    for (const char* impl : {"rpcnet", "grpc"}) {
      nlohmann::ordered_json values = nlohmann::ordered_json::array();
      if (auto m = c.runs.find(metric.name); m != c.runs.end()) {
        if (auto i = m->second.find(impl); i != m->second.end()) {
          for (double v : i->second) values.push_back(six_digits(v));
        }
      }
      runs[impl] = std::move(values);
    }
    nlohmann::ordered_json row = {{"name", metric.name}, {"unit", metric.unit}, {"better", metric.better},
                                  {"rpcnet", six_digits(r)}, {"grpc", six_digits(g)},
                                  {"ratio", six_digits(ratio)}, {"ratio_min", six_digits(ratio_min)},
                                  {"ratio_max", six_digits(ratio_max)}, {"link", link_run.link.id}};
    if (metric.floor) row["kind"] = "floor";  // plain UDP ping-pong, in the rpcnet column
    row["runs"] = std::move(runs);
    scenarios.push_back(std::move(row));
  }
  }
  nlohmann::ordered_json micro_rows = nlohmann::ordered_json::array();
  for (const auto& row : micro) {
    micro_rows.push_back({{"name", row.name}, {"ns_per_iter", six_digits(row.real_ns)},
                          {"cpu_ns_per_iter", six_digits(row.cpu_ns)},
                          {"items_per_s", six_digits(row.items_per_s)},
                          {"bytes_per_s", six_digits(row.bytes_per_s)}});
  }
  nlohmann::ordered_json pinning = nullptr;
  if (c.pinned) pinning = {{"server_cpu", c.pinned->first}, {"client_cpu", c.pinned->second}};
  nlohmann::ordered_json json = {
      {"scenarios", std::move(scenarios)},
      {"links", std::move(link_rows)},
      {"pinning", std::move(pinning)},
      {"machine", {{"cpu", cpu}, {"cores", cores}, {"kernel", std::string(uts.release)}, {"grpc_version", grpc},
                   {"other_load_cores_median", six_digits(background_median)},
                   {"other_load_cores_max", six_digits(background_max)}}},
      {"date", {{"utc", date}, {"total_seconds", six_digits(total_s)}, {"repetitions", o.reps},
                {"window_seconds", six_digits(o.measure)}}},
      {"micro", std::move(micro_rows)}};

  // Markdown
  std::ostringstream md;
  md << "# rpcnet vs gRPC C++ (`make bench`)\n\n";
  md << date << " · " << cores << " × " << cpu << " · Linux " << uts.release << " · gRPC "
     << (grpc.empty() ? "not built" : grpc) << " · server and client in separate processes · "
     << pinning_text(c) << " · " << o.reps << " runs per scenario, alternating which goes first, median shown; "
     << "rpcnet ÷ gRPC is the median of the per-run ratios (min–max) · † a run had failed calls (counted "
     << "below, not timed) · " << o.measure
     << " s measurement windows · suite " << pretty(total_s) << " s\n\n";
  if (background_max) {
    char text[200];
    std::snprintf(text, sizeof text,
                  "Other processes on the machine during the runs: median %.2f, max %.2f cores%s\n\n",
                  *background_median, *background_max,
                  *background_max > 0.25 ? " — **the machine was not idle; treat the numbers as noisy**" : "");
    md << text;
  }
  md << "`udp_floor_*` rows: the physical floor, a plain UDP ping-pong of 64-byte datagrams between the "
        "same two CPUs over the same link (blocking sockets; `epoll`: non-blocking sockets behind epoll "
        "on both ends), in the rpcnet column; read the sequential latencies as floor + overhead.\n\n";
  for (const auto& link_run : c.links) {
  md << "## " << link_run.link.title() << "\n\n";
  if (!link_run.server_ns.empty()) {
    md << "Server " << link_run.server_address << " in namespace `" << link_run.server_ns << "`, client "
       << link_run.client_address << " in `" << link_run.client_ns << "`.\n\n";
  }
  md << "| scenario | link | unit | rpcnet | gRPC | rpcnet ÷ gRPC | better | goal | met? |\n";
  md << "|---|---|---|---:|---:|---:|---|---|---|\n";
  for (const auto& metric : metrics(link_run.link)) {
    const auto r = median_of(c, metric.name, "rpcnet");
    const auto g = median_of(c, metric.name, "grpc");
    std::string ratio = "–";
    std::string goal = "–";
    std::string met = "–";
    const auto ratios = ratios_of(c, metric);
    if (ratios) {
      char text[64];
      if (ratios->runs > 1) {
        std::snprintf(text, sizeof text, "%.2f× (%.2f–%.2f)", ratios->median, ratios->min, ratios->max);
      } else {
        std::snprintf(text, sizeof text, "%.2f×", ratios->median);
      }
      ratio = text;
    }
    if (metric.goal_op != nullptr && metric.rpcnet_only) {
      char text[32];
      std::snprintf(text, sizeof text, "%s %.0f %s", std::strcmp(metric.goal_op, ">=") == 0 ? "≥" : "≤", metric.goal,
                    metric.unit);
      goal = text;
      if (r) {
        const bool ok = std::strcmp(metric.goal_op, ">=") == 0 ? *r >= metric.goal : *r <= metric.goal;
        met = ok ? "yes" : "**no**";
      }
    } else if (metric.goal_op != nullptr) {
      char text[32];
      std::snprintf(text, sizeof text, "%s %.3g×", std::strcmp(metric.goal_op, ">=") == 0 ? "≥" : "≤", metric.goal);
      goal = text;
      if (ratios) {
        const double x = ratios->median;
        const bool ok = std::strcmp(metric.goal_op, ">=") == 0 ? x >= metric.goal : x <= metric.goal;
        met = ok && ratios->missing_goal_by_10 == 0 ? "yes" : "**no**";
        if (ratios->missing_goal_by_10 > 0) {
          met += " (" + std::to_string(ratios->missing_goal_by_10) + " of " + std::to_string(ratios->runs) +
                 " runs miss it by > 10 %)";
        }
      } else {
        met = "n/a";
      }
    }
    // † when a run behind the value had failed calls.
    const auto marked = [&](const std::string& impl) {
      for (const auto& job : link_run.jobs) {
        for (const auto& [name, key] : job.outputs) {
          if (name != metric.name) continue;
          const auto errors = c.aux.find(job.key);
          if (errors == c.aux.end() || !errors->second.count(impl)) return std::string();
          const auto& keys = errors->second.at(impl);
          const auto e = keys.find("errors");
          if (e == keys.end()) return std::string();
          for (double v : e->second) {
            if (v > 0) return std::string(" †");
          }
        }
      }
      return std::string();
    };
    std::string rpcnet_text = r ? pretty(*r) + marked("rpcnet") : "null";
    std::string grpc_text = g ? pretty(*g) + marked("grpc") : std::string("null");
    if (metric.rpcnet_only) grpc_text = "(rpcnet only)";
    if (metric.floor) grpc_text = "(floor: plain UDP)";
    md << "| " << metric.name << " | " << link_run.link.id << " | " << metric.unit << " | " << rpcnet_text << " | "
       << grpc_text << " | " << ratio << " | " << metric.better << " | " << goal << " | " << met << " |\n";
  }
  md << "\n";
  }
  md << "Notes (medians of the runs):\n\n";
  md << "- `resumed_connect_first_call_p50_us`: TLS 1.3 session resumption from a ticket (rpcnet: "
        "on by default, `RpcConfig::with_session_resumption`; gRPC: its SSL session cache channel "
        "argument)";
  for (const char* impl : {"rpcnet", "grpc"}) {
    auto resumed = aux_median(c, "resumed_connect", impl, "resumed");
    auto n = aux_median(c, "resumed_connect", impl, "connections");
    if (resumed && n) {
      md << "; " << impl << ": " << pretty(*resumed) << " of " << pretty(*n) << " connections resumed";
    }
  }
  md << ".\n";
  {
    auto r = aux_median(c, "mixed", "rpcnet", "bulk_mb_per_s");
    auto g = aux_median(c, "mixed", "grpc", "bulk_mb_per_s");
    auto rn = aux_median(c, "mixed", "rpcnet", "small_calls");
    auto gn = aux_median(c, "mixed", "grpc", "small_calls");
    if (r || g) md << "- `mixed_small_p99_us`: bulk stream of 1 MiB messages during the small calls: rpcnet "
       << (r ? pretty(*r) : "?") << " MB/s, gRPC " << (g ? pretty(*g) : "?") << " MB/s; small calls completed: rpcnet "
       << (rn ? pretty(*rn) : "?") << ", gRPC " << (gn ? pretty(*gn) : "?") << ".\n";
  }
  {
    auto rn = aux_median(c, "idle", "rpcnet", "connections");
    auto gn = aux_median(c, "idle", "grpc", "connections");
    auto rr = aux_median(c, "idle", "rpcnet", "connects_per_s");
    auto gr = aux_median(c, "idle", "grpc", "connects_per_s");
    auto rc = aux_median(c, "idle", "rpcnet", "client_rss_kb_per_conn");
    auto gc = aux_median(c, "idle", "grpc", "client_rss_kb_per_conn");
    if (rn || gn) md << "- `idle_conn_rss_kb`: (server VmRSS after − before) ÷ connections; connections opened: rpcnet "
       << (rn ? pretty(*rn) : "?") << " (" << (rr ? pretty(*rr) : "?") << "/s, 16 at a time), gRPC "
       << (gn ? pretty(*gn) : "?") << " (" << (gr ? pretty(*gr) : "?")
       << "/s). The same on the client side: rpcnet " << (rc ? pretty(*rc) : "?") << " kB, gRPC "
       << (gc ? pretty(*gc) : "?") << " kB per connection.\n";
  }
  for (const auto& link_run : c.links) {
    for (const auto& job : link_run.jobs) {
      if (job.floor_impl.empty()) continue;
      auto trips = aux_median(c, job.key, "rpcnet", "round_trips");
      auto lost = aux_median(c, job.key, "rpcnet", "lost");
      if (trips && lost) {
        md << "- `" << job.key << "`: " << pretty(*trips) << " round trips measured, " << pretty(*lost)
           << " lost (no reply within 20 ms: left out, the next ping goes).\n";
      }
    }
  }
  md << "- CPU seconds per run (client / server), median:";
  std::vector<Job> jobs;
  for (const auto& link_run : c.links) jobs.insert(jobs.end(), link_run.jobs.begin(), link_run.jobs.end());
  for (const auto& job : jobs) {
    auto rc = aux_median(c, job.key, "rpcnet", "client_cpu_s");
    auto rs = aux_median(c, job.key, "rpcnet", "server_cpu_s");
    auto gc = aux_median(c, job.key, "grpc", "client_cpu_s");
    auto gs = aux_median(c, job.key, "grpc", "server_cpu_s");
    auto w = aux_median(c, job.key, "rpcnet", "wall_s");
    if (!rc && !gc) continue;
    const auto cpu_pair = [](std::optional<double> a, std::optional<double> b) {
      if (!a || !b) return std::string("–");
      char text[64];
      std::snprintf(text, sizeof text, "%.2f/%.2f", *a, *b);
      return std::string(text);
    };
    md << " " << job.key << " rpcnet " << cpu_pair(rc, rs) << ", gRPC " << cpu_pair(gc, gs);
    if (w) {
      char text[32];
      std::snprintf(text, sizeof text, " (wall %.1f s);", *w);
      md << text;
    } else {
      md << ";";
    }
  }
  md << "\n";
  for (const auto& [job, impls] : c.failures) {
    for (const auto& [impl, count] : impls) {
      if (count == 0) continue;
      md << "- **" << job << " / " << impl << ": " << count << " failed run(s), excluded**";
      const auto& reasons = c.failure_reasons.at(job).at(impl);
      for (std::size_t i = 0; i < reasons.size(); ++i) md << (i == 0 ? " (" : "; ") << reasons[i];
      md << (reasons.empty() ? "" : ")") << ".\n";
    }
  }
  for (const auto& [job, impls] : c.aux) {
    for (const auto& [impl, keys] : impls) {
      auto e = keys.find("errors");
      if (e != keys.end()) {
        double total = 0;
        for (double v : e->second) total += v;
        int runs_with_errors = 0;
        for (double v : e->second) runs_with_errors += v > 0 ? 1 : 0;
        if (total > 0) {
          md << "- † " << job << " / " << impl << ": " << pretty(total) << " failed calls in " << runs_with_errors
             << " of " << e->second.size() << " runs (left out of latencies and rates).\n";
        }
      }
    }
  }
  if (!micro.empty()) {
    md << "\n## Microbenchmarks (Google Benchmark, rpcnet internals, single thread)\n\n";
    md << "| benchmark | time/iter | CPU/iter | throughput |\n|---|---:|---:|---:|\n";
    for (const auto& row : micro) {
      const auto duration = [](double ns) {
        char text[32];
        if (ns >= 1e6) {
          std::snprintf(text, sizeof text, "%.2f ms", ns / 1e6);
        } else if (ns >= 1e4) {
          std::snprintf(text, sizeof text, "%.1f µs", ns / 1e3);
        } else {
          std::snprintf(text, sizeof text, "%.1f ns", ns);
        }
        return std::string(text);
      };
      const std::string time_text = duration(row.real_ns);
      const std::string cpu_text = duration(row.cpu_ns);
      std::string throughput = "–";
      if (row.bytes_per_s > 0) {
        char text[32];
        std::snprintf(text, sizeof text, "%.2f GB/s", row.bytes_per_s / 1e9);
        throughput = text;
      } else if (row.items_per_s > 0) {
        throughput = pretty(row.items_per_s) + " /s";
      }
      md << "| " << row.name << " | " << time_text << " | " << cpu_text << " | " << throughput << " |\n";
    }
  }

  for (const auto& path : {o.json, o.md}) {
    std::error_code ignored;
    const auto dir = std::filesystem::path(path).parent_path();
    if (!dir.empty()) std::filesystem::create_directories(dir, ignored);
  }
  std::ofstream(o.json) << json.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
  std::ofstream(o.md) << md.str();
  std::fputs(md.str().c_str(), stdout);
  std::fflush(stdout);
  std::fprintf(stderr, "bench: wrote %s and %s\n", o.json.c_str(), o.md.c_str());
}

// Runs every job of one link `o.reps` times into `collected`.
void run_link(const Options& o, const Placement& where, const std::vector<Job>& jobs,
              const std::vector<std::string>& impls, const rpcnet::DevCertificatePaths& certs,
              Clock::time_point suite_start, Collected& collected) {
  for (int rep = 0; rep < o.reps; ++rep) {
    for (std::size_t j = 0; j < jobs.size(); ++j) {
      const Job& job = jobs[j];
      std::vector<std::string> order = impls;
      if (job.rpcnet_only) order = {"rpcnet"};
      if (!job.floor_impl.empty()) order = {job.floor_impl};
      if (order.size() == 2 && (static_cast<std::size_t>(rep) + j) % 2 == 1) std::swap(order[0], order[1]);
      for (const auto& impl : order) {
        RunResult result = run_once(job, impl, certs, where);
        // The floor's values go in the rpcnet column (its rows say what they are).
        const std::string column = job.floor_impl.empty() ? impl : "rpcnet";
        std::string line;
        for (const auto& [metric, key] : job.outputs) {
          auto it = result.sample.values.find(key);
          if (it == result.sample.values.end() || !result.ok) continue;
          collected.runs[metric][column].push_back(it->second);
          collected.by_rep[metric][column][rep] = it->second;
          line += " " + metric + "=" + pretty(it->second);
        }
        auto& aux = collected.aux[job.key][column];
        for (const auto& [key, value] : result.sample.values) aux[key].push_back(value);
        aux["errors"].push_back(static_cast<double>(result.sample.errors));
        aux["client_cpu_s"].push_back(result.client_cpu_s);
        aux["server_cpu_s"].push_back(result.server_cpu_s);
        aux["wall_s"].push_back(result.wall_s);
        aux["background_cpu_s"].push_back(result.background_cpu_s);
        if (result.wall_s > 0) collected.background_share.push_back(result.background_cpu_s / result.wall_s);
        if (!result.ok) {
          ++collected.failures[job.key][impl];
          collected.failure_reasons[job.key][impl].push_back(result.why);
        }
        std::fprintf(stderr,
                     "[%d/%d %5.0f s] %-22s %-11s%s%s (cpu s: client %.2f, server %.2f, others %.2f; %.1f s)\n",
                     rep + 1, o.reps, secs(Clock::now() - suite_start), job.key.c_str(), impl.c_str(),
                     line.empty() ? " (no value)" : line.c_str(),
                     result.sample.errors ? (" errors=" + std::to_string(result.sample.errors)).c_str() : "",
                     result.client_cpu_s, result.server_cpu_s, result.background_cpu_s, result.wall_s);
      }
    }
  }
}

// The CPUs to pin to, or nullopt for unpinned; `error` set when the request cannot be met.
std::optional<std::pair<int, int>> choose_pinning(const Options& o, bool pin_given, std::string& error) {
  if (o.no_pin) return std::nullopt;
  if (o.pin.size() != 2 || o.pin[0] < 0 || o.pin[1] < 0 || o.pin[0] == o.pin[1]) {
    error = "--pin takes two different CPUs: --pin SERVER,CLIENT";
    return std::nullopt;
  }
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (::sched_getaffinity(0, sizeof allowed, &allowed) != 0) CPU_ZERO(&allowed);
  for (int cpu : o.pin) {
    if (cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &allowed)) {
      if (pin_given) error = "CPU " + std::to_string(cpu) + " is not available to this process";
      else std::fprintf(stderr, "bench: CPU %d is not available: server and client not pinned\n", cpu);
      return std::nullopt;
    }
  }
  return std::make_pair(o.pin[0], o.pin[1]);
}

int run(const Options& o, bool pin_given) {
  raise_nofile_limit();
  std::vector<LinkSpec> links;
  for (const auto& name : o.links) {
    auto link = parse_link(name);
    if (!link) {
      std::fprintf(stderr, "bench: unknown link %s (loopback, veth, veth-loss1)\n", name.c_str());
      return 2;
    }
    if (link->namespaces) {
      if (auto reason = NetnsPair::unavailable_reason(*link); !reason.empty()) {
        std::fprintf(stderr, "bench: %s\n", reason.c_str());
        return 2;
      }
    }
    links.push_back(*link);
  }
  std::string pin_error;
  Collected collected;
  collected.pinned = choose_pinning(o, pin_given, pin_error);
  if (!pin_error.empty()) {
    std::fprintf(stderr, "bench: %s\n", pin_error.c_str());
    return 2;
  }
  install_cleanup_on_signals();
  const auto suite_start = Clock::now();
  std::vector<MicroRow> micro = run_micro(o);

  char dir_template[] = "/tmp/rpcnet-bench-XXXXXX";
  const char* dir = ::mkdtemp(dir_template);
  if (dir == nullptr) return 1;
  rpcnet::DevCertificateOptions cert_options;
  cert_options.directory = dir;
  auto certs = rpcnet::make_dev_certificates(cert_options);
  if (!certs) {
    std::fprintf(stderr, "bench: certificates: %s\n", certs.error().to_string().c_str());
    std::filesystem::remove_all(dir);
    return 1;
  }
  std::vector<std::string> impls = {"rpcnet"};
  if (grpc_available()) {
    impls.push_back("grpc");
  } else {
    std::fprintf(stderr, "bench: gRPC side not built (RPCNET_BENCH_GRPC=OFF): gRPC values are null\n");
  }

  int status = 0;
  for (std::size_t l = 0; l < links.size(); ++l) {
    const LinkSpec& link = links[l];
    Collected::LinkRun record{link, "", "", "127.0.0.1", "127.0.0.1", make_jobs(o, link)};
    Placement where{&link, nullptr, collected.pinned ? collected.pinned->first : -1,
                    collected.pinned ? collected.pinned->second : -1};
    std::unique_ptr<NetnsPair> netns;
    if (link.namespaces) {
      netns = std::make_unique<NetnsPair>(link, 200 + static_cast<int>(l));
      if (!netns->ok()) {
        std::fprintf(stderr, "bench: %s link: %s\n", link.id.c_str(), netns->error().c_str());
        status = 1;
        break;
      }
      where.netns = netns.get();
      record = {link, netns->server_ns(), netns->client_ns(), netns->server_address(), netns->client_address(),
                record.jobs};
      std::fprintf(stderr, "bench: link %s: server %s in %s, client %s in %s\n", link.id.c_str(),
                   record.server_address.c_str(), record.server_ns.c_str(), record.client_address.c_str(),
                   record.client_ns.c_str());
    }
    if (record.jobs.empty()) std::fprintf(stderr, "bench: link %s: no job selected\n", link.id.c_str());
    run_link(o, where, record.jobs, impls, *certs, suite_start, collected);
    collected.links.push_back(std::move(record));
  }  // each link's namespaces are deleted here, before the next link's are made
  std::filesystem::remove_all(dir);
  if (status != 0) return status;
  const double total_s = secs(Clock::now() - suite_start);
  write_outputs(o, collected, micro, total_s);
  std::fprintf(stderr, "bench: total %.0f s\n", total_s);
  return 0;
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  using namespace bench;
  ::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"rpcnet against gRPC C++ on loopback and veth links: `run` (the default) orchestrates; it "
               "spawns this binary as `server` and `client` for every run"};
  app.require_subcommand(0, 1);

  Options o;
  bool quick = false;
  CLI::App* run_cmd = app.add_subcommand("run", "Every scenario, alternating implementations (the default)");
  run_cmd->fallthrough();  // `rpcnet_bench run --reps 1` and `rpcnet_bench --reps 1` are the same
  app.add_option("--reps", o.reps, "Repetitions of every scenario")->capture_default_str();
  app.add_option("--warm", o.warm, "Warm-up seconds per run")->capture_default_str();
  app.add_option("--measure", o.measure, "Measured seconds per run")->capture_default_str();
  app.add_option("--connects", o.connects, "Connections of the connect scenario")->capture_default_str();
  app.add_option("--idle-conns", o.idle_conns, "Connections of the idle scenario")->capture_default_str();
  app.add_option("--only", o.only, "Jobs to run (comma-separated)")->delimiter(',');
  app.add_option("--micro", o.micro, "The rpcnet_micro binary, to run the microbenchmarks too");
  app.add_option("--micro-min-time", o.micro_min_time, "Google Benchmark min time")->capture_default_str();
  app.add_option("--json", o.json, "JSON output")->capture_default_str();
  app.add_option("--md", o.md, "Markdown output")->capture_default_str();
  app.add_flag("--quick", quick, "One short repetition (smoke test)");
  app.add_option("--link", o.links, "Links: loopback, veth, veth-loss1 (repeatable or comma-separated)")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--pin", o.pin, "CPUs of server and client: SERVER,CLIENT")->delimiter(',')->expected(2)
      ->capture_default_str();
  app.add_flag("--no-pin", o.no_pin, "Leave server and client unpinned");

  const auto impls = CLI::IsMember({"rpcnet", "grpc", "floor", "floor_epoll"});
  std::string server_impl, cert, key, server_bind = "127.0.0.1";
  int server_cpu = -1;
  CLI::App* server_cmd = app.add_subcommand("server", "One implementation's server (spawned by run)");
  server_cmd->add_option("impl", server_impl, "rpcnet | grpc | floor | floor_epoll")->required()->check(impls);
  server_cmd->add_option("cert", cert)->required();
  server_cmd->add_option("key", key)->required();
  server_cmd->add_option("--bind", server_bind, "IPv4 address to listen on");
  server_cmd->add_option("--cpu", server_cpu, "CPU to pin to (-1: none)");

  ClientArgs c;
  CLI::App* client_cmd = app.add_subcommand("client", "One implementation's client for one scenario (spawned by run)");
  int client_cpu = -1;
  client_cmd->add_option("impl", c.impl, "rpcnet | grpc | floor | floor_epoll")->required()->check(impls);
  client_cmd->add_option("scenario", c.scenario)->required();
  client_cmd->add_option("--host", c.host, "The server's IPv4 address");
  client_cmd->add_option("--bind", c.bind, "The client's own IPv4 address");
  client_cmd->add_option("--cpu", client_cpu, "CPU to pin to (-1: none)");
  client_cmd->add_option("--port", c.port);
  client_cmd->add_option("--server-pid", c.server_pid);
  client_cmd->add_option("--ca", c.ca_path);
  client_cmd->add_option("--warm", c.warm);
  client_cmd->add_option("--measure", c.measure);
  client_cmd->add_option("--concurrency", c.concurrency);
  client_cmd->add_option("--size", c.size);
  client_cmd->add_option("--payload", c.payload);
  client_cmd->add_option("--window", c.window);
  client_cmd->add_option("--count", c.count);
  client_cmd->add_option("--resumed", c.resumed);
  client_cmd->add_option("--conns", c.conns);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help exits 0; usage errors exit 2 (after CLI11 printed the message).
    return app.exit(error) == 0 ? 0 : 2;
  }
  if (server_cmd->parsed()) {
    if (!pin_to_cpu(server_cpu)) return 1;
    if (server_impl == "floor" || server_impl == "floor_epoll") {
      return floor_server_main(server_bind, server_impl == "floor_epoll");
    }
    return server_impl == "rpcnet" ? rpcnet_server_main(cert, key, server_bind)
                                   : grpc_server_main(cert, key, server_bind);
  }
  if (client_cmd->parsed()) {
    if (!pin_to_cpu(client_cpu)) return 1;
    if (c.impl == "floor" || c.impl == "floor_epoll") return floor_client_main(c, c.impl == "floor_epoll");
    return c.impl == "rpcnet" ? rpcnet_client_main(c) : grpc_client_main(c);
  }
  if (quick) {
    // Defaults of a short run; options given explicitly still win.
    const auto unless_given = [&](const char* option, auto& field, auto value) {
      if (app.count(option) == 0) field = value;
    };
    unless_given("--reps", o.reps, 1);
    unless_given("--warm", o.warm, 0.1);
    unless_given("--measure", o.measure, 0.3);
    unless_given("--connects", o.connects, 20);
    unless_given("--idle-conns", o.idle_conns, 300);
  }
  return run(o, app.count("--pin") > 0);
}
