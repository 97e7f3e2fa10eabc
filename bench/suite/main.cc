// rpcnet_bench — rpcnet against gRPC C++ on loopback, same machine, same run (`make bench`).
//
//   rpcnet_bench [run] [options]     the orchestrator: every scenario, alternating rpcnet / gRPC,
//                                    medians -> results JSON + markdown (stdout: the table)
//   rpcnet_bench server <rpcnet|grpc> <cert> <key>
//   rpcnet_bench client <rpcnet|grpc> <scenario> [--key value ...]
//
// For every run of every scenario the orchestrator starts a fresh server process and a fresh
// client process (both this binary, exec'd), so no state carries over between runs and a client
// that hangs or crashes costs only its own run (reported; null if no run succeeded).
// Each scenario is repeated --reps times (default 3); which implementation goes first alternates
// between repetitions and between scenarios; the median of the runs is reported.
//
// Options (run): --reps N  --warm S  --measure S  --connects N  --idle-conns N
//                --only job,job (unary_seq unary_c1 unary_c16 unary_c64 unary_c256 stream_1k
//                stream_64k stream_1m bidi connect resumed_connect mixed idle
//                cluster_overhead)
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

struct Server {
  std::unique_ptr<rpcnet::runtime::Process> process;  // killed and reaped when it goes
  std::uint16_t port = 0;
};

std::optional<Server> start_server(const std::string& impl, const rpcnet::DevCertificatePaths& certs) {
  Server server;
  server.process = std::make_unique<rpcnet::runtime::Process>(
      std::vector<std::string>{self_exe(), "server", impl, certs.server_cert, certs.server_key});
  if (!server.process->started()) return std::nullopt;
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
  const char* name;
  const char* unit;
  const char* better;  // "higher" | "lower"
  const char* goal_op;  // ">=" | "<=" | nullptr
  double goal = 0;
  // rpcnet-only metrics have no gRPC counterpart; their goal applies to the rpcnet value itself.
  bool rpcnet_only = false;
};

// In output order; names, units and directions as issue 5 fixes them.
const std::vector<Metric>& metrics() {
  static const std::vector<Metric> list = {
      {"unary_seq_p50_us", "us", "lower", "<=", 0.7},
      {"unary_seq_p99_us", "us", "lower", nullptr},
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
  return list;
}

struct Job {
  std::string id;
  ClientArgs args;                                          // impl, port, pid filled per run
  std::vector<std::pair<std::string, std::string>> outputs;  // metric name <- sample key
  double timeout_s = 30;
  bool rpcnet_only = false;  // no gRPC run (the scenario is about rpcnet's own layers)
};

struct Options {
  int reps = 3;
  double warm = 0.25;
  double measure = 1.0;
  int connects = 100;
  int idle_conns = 5000;
  std::vector<std::string> only;
  std::string micro;
  double micro_min_time = 0.05;
  std::string json = "bench/results/latest.json";
  std::string md = "bench/results/latest.md";
};

std::vector<Job> make_jobs(const Options& o) {
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
  if (!o.only.empty()) {
    std::vector<Job> selected;
    for (auto& job : jobs) {
      for (const auto& name : o.only) {
        if (job.id == name) selected.push_back(job);
      }
    }
    jobs = selected;
  }
  return jobs;
}

struct RunResult {
  bool ok = false;
  Sample sample;
  double wall_s = 0;
  double client_cpu_s = 0;
  double server_cpu_s = 0;
  double background_cpu_s = 0;  // other processes on the machine during the run
};

RunResult run_once(const Job& job, const std::string& impl, const rpcnet::DevCertificatePaths& certs) {
  RunResult result;
  auto server = start_server(impl, certs);
  if (!server) return result;
  const ClientArgs& a = job.args;
  std::vector<std::string> args = {self_exe(), "client", impl, a.scenario,
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
  rpcnet::runtime::Process client(args);
  if (!client.started()) return result;
  const auto limit = std::chrono::duration_cast<std::chrono::milliseconds>(seconds(job.timeout_s));
  const bool finished = client.wait_output_end(limit) && client.wait_exit(limit).has_value();
  if (!finished) {
    std::fprintf(stderr, "bench: %s %s client did not finish within %.0f s: killed\n", job.id.c_str(),
                 impl.c_str(), job.timeout_s);
    client.kill(SIGKILL);
  }
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
  if (!result.ok) {
    std::string why = "timeout";
    if (finished && client.exit_signal()) why = strsignal(*client.exit_signal());
    if (finished && client.exit_code()) why = "exit " + std::to_string(*client.exit_code());
    std::fprintf(stderr, "bench: %s %s client failed (%s)\n", job.id.c_str(), impl.c_str(), why.c_str());
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
  std::vector<double> background_share;  // per run: other processes' CPU / wall (in cores)
};

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

void write_outputs(const Options& o, const Collected& c, const std::vector<MicroRow>& micro,
                   double total_s, const std::vector<Job>& jobs) {
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
  for (const auto& metric : metrics()) {
    const auto r = median_of(c, metric.name, "rpcnet");
    const auto g = median_of(c, metric.name, "grpc");
    std::optional<double> ratio;
    if (r && g && *g != 0) ratio = *r / *g;
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
    scenarios.push_back({{"name", metric.name}, {"unit", metric.unit}, {"better", metric.better},
                         {"rpcnet", six_digits(r)}, {"grpc", six_digits(g)},
                         {"ratio", six_digits(ratio)}, {"runs", std::move(runs)}});
  }
  nlohmann::ordered_json micro_rows = nlohmann::ordered_json::array();
  for (const auto& row : micro) {
    micro_rows.push_back({{"name", row.name}, {"ns_per_iter", six_digits(row.real_ns)},
                          {"cpu_ns_per_iter", six_digits(row.cpu_ns)},
                          {"items_per_s", six_digits(row.items_per_s)},
                          {"bytes_per_s", six_digits(row.bytes_per_s)}});
  }
  nlohmann::ordered_json json = {
      {"scenarios", std::move(scenarios)},
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
     << (grpc.empty() ? "not built" : grpc) << " · loopback, server and client in separate processes · "
     << o.reps << " runs per scenario, alternating which goes first, median shown · " << o.measure
     << " s measurement windows · suite " << pretty(total_s) << " s\n\n";
  if (background_max) {
    char text[200];
    std::snprintf(text, sizeof text,
                  "Other processes on the machine during the runs: median %.2f, max %.2f cores%s\n\n",
                  *background_median, *background_max,
                  *background_max > 0.25 ? " — **the machine was not idle; treat the numbers as noisy**" : "");
    md << text;
  }
  md << "| scenario | unit | rpcnet | gRPC | rpcnet ÷ gRPC | better | goal | met? |\n";
  md << "|---|---|---:|---:|---:|---|---|---|\n";
  for (const auto& metric : metrics()) {
    const auto r = median_of(c, metric.name, "rpcnet");
    const auto g = median_of(c, metric.name, "grpc");
    std::string ratio = "–";
    std::string goal = "–";
    std::string met = "–";
    if (r && g && *g != 0) {
      char text[32];
      std::snprintf(text, sizeof text, "%.2f×", *r / *g);
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
      std::snprintf(text, sizeof text, "%s %.1f×", std::strcmp(metric.goal_op, ">=") == 0 ? "≥" : "≤", metric.goal);
      goal = text;
      if (r && g && *g != 0) {
        const double x = *r / *g;
        const bool ok = std::strcmp(metric.goal_op, ">=") == 0 ? x >= metric.goal : x <= metric.goal;
        met = ok ? "yes" : "**no**";
      } else {
        met = "n/a";
      }
    }
    std::string rpcnet_text = r ? pretty(*r) : "null";
    md << "| " << metric.name << " | " << metric.unit << " | " << rpcnet_text << " | "
       << (metric.rpcnet_only ? std::string("(rpcnet only)") : g ? pretty(*g) : std::string("null")) << " | " << ratio << " | " << metric.better << " | " << goal << " | "
       << met << " |\n";
  }
  md << "\nNotes (medians of the runs):\n\n";
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
  md << "- CPU seconds per run (client / server), median:";
  for (const auto& job : jobs) {
    auto rc = aux_median(c, job.id, "rpcnet", "client_cpu_s");
    auto rs = aux_median(c, job.id, "rpcnet", "server_cpu_s");
    auto gc = aux_median(c, job.id, "grpc", "client_cpu_s");
    auto gs = aux_median(c, job.id, "grpc", "server_cpu_s");
    auto w = aux_median(c, job.id, "rpcnet", "wall_s");
    if (!rc && !gc) continue;
    const auto cpu_pair = [](std::optional<double> a, std::optional<double> b) {
      if (!a || !b) return std::string("–");
      char text[64];
      std::snprintf(text, sizeof text, "%.2f/%.2f", *a, *b);
      return std::string(text);
    };
    md << " " << job.id << " rpcnet " << cpu_pair(rc, rs) << ", gRPC " << cpu_pair(gc, gs);
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
      if (count > 0) md << "- **" << job << " / " << impl << ": " << count << " failed run(s)** (see the log).\n";
    }
  }
  for (const auto& [job, impls] : c.aux) {
    for (const auto& [impl, keys] : impls) {
      auto e = keys.find("errors");
      if (e != keys.end()) {
        double total = 0;
        for (double v : e->second) total += v;
        if (total > 0) md << "- " << job << " / " << impl << ": " << pretty(total) << " failed calls over the runs.\n";
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

int run(const Options& o) {
  raise_nofile_limit();
  const auto suite_start = Clock::now();
  const std::vector<Job> jobs = make_jobs(o);
  std::vector<MicroRow> micro = run_micro(o);

  char dir_template[] = "/tmp/rpcnet-bench-XXXXXX";
  const char* dir = ::mkdtemp(dir_template);
  if (dir == nullptr) return 1;
  rpcnet::DevCertificateOptions cert_options;
  cert_options.directory = dir;
  auto certs = rpcnet::make_dev_certificates(cert_options);
  if (!certs) {
    std::fprintf(stderr, "bench: certificates: %s\n", certs.error().to_string().c_str());
    return 1;
  }
  std::vector<std::string> impls = {"rpcnet"};
  if (grpc_available()) {
    impls.push_back("grpc");
  } else {
    std::fprintf(stderr, "bench: gRPC side not built (RPCNET_BENCH_GRPC=OFF): gRPC values are null\n");
  }

  Collected collected;
  for (int rep = 0; rep < o.reps; ++rep) {
    for (std::size_t j = 0; j < jobs.size(); ++j) {
      const Job& job = jobs[j];
      std::vector<std::string> order = impls;
      if (job.rpcnet_only) order = {"rpcnet"};
      if (order.size() == 2 && (static_cast<std::size_t>(rep) + j) % 2 == 1) std::swap(order[0], order[1]);
      for (const auto& impl : order) {
        RunResult result = run_once(job, impl, *certs);
        std::string line;
        for (const auto& [metric, key] : job.outputs) {
          auto it = result.sample.values.find(key);
          if (it == result.sample.values.end()) continue;
          collected.runs[metric][impl].push_back(it->second);
          line += " " + metric + "=" + pretty(it->second);
        }
        auto& aux = collected.aux[job.id][impl];
        for (const auto& [key, value] : result.sample.values) aux[key].push_back(value);
        aux["errors"].push_back(static_cast<double>(result.sample.errors));
        aux["client_cpu_s"].push_back(result.client_cpu_s);
        aux["server_cpu_s"].push_back(result.server_cpu_s);
        aux["wall_s"].push_back(result.wall_s);
        aux["background_cpu_s"].push_back(result.background_cpu_s);
        if (result.wall_s > 0) collected.background_share.push_back(result.background_cpu_s / result.wall_s);
        if (!result.ok) ++collected.failures[job.id][impl];
        std::fprintf(stderr,
                     "[%d/%d %5.0f s] %-16s %-6s%s%s (cpu s: client %.2f, server %.2f, others %.2f; %.1f s)\n",
                     rep + 1, o.reps, secs(Clock::now() - suite_start), job.id.c_str(), impl.c_str(),
                     line.empty() ? " (no value)" : line.c_str(),
                     result.sample.errors ? (" errors=" + std::to_string(result.sample.errors)).c_str() : "",
                     result.client_cpu_s, result.server_cpu_s, result.background_cpu_s, result.wall_s);
      }
    }
  }
  std::filesystem::remove_all(dir);
  const double total_s = secs(Clock::now() - suite_start);
  write_outputs(o, collected, micro, total_s, jobs);
  std::fprintf(stderr, "bench: total %.0f s\n", total_s);
  return 0;
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  using namespace bench;
  ::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"rpcnet against gRPC C++ on loopback: `run` (the default) orchestrates; it spawns this "
               "binary as `server` and `client` for every run"};
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

  std::string server_impl, cert, key;
  CLI::App* server_cmd = app.add_subcommand("server", "One implementation's server (spawned by run)");
  server_cmd->add_option("impl", server_impl, "rpcnet | grpc")->required()->check(CLI::IsMember({"rpcnet", "grpc"}));
  server_cmd->add_option("cert", cert)->required();
  server_cmd->add_option("key", key)->required();

  ClientArgs c;
  CLI::App* client_cmd = app.add_subcommand("client", "One implementation's client for one scenario (spawned by run)");
  client_cmd->add_option("impl", c.impl, "rpcnet | grpc")->required()->check(CLI::IsMember({"rpcnet", "grpc"}));
  client_cmd->add_option("scenario", c.scenario)->required();
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
    return server_impl == "rpcnet" ? rpcnet_server_main(cert, key) : grpc_server_main(cert, key);
  }
  if (client_cmd->parsed()) return c.impl == "rpcnet" ? rpcnet_client_main(c) : grpc_client_main(c);
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
  return run(o);
}
