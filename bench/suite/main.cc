// rpcnet_bench — rpcnet against gRPC C++, same machine, same run (`make bench`), on loopback
// and on a real link (a veth pair between two network namespaces, MTU 1500, with and without
// 1 % loss; link.h).
//
//   rpcnet_bench [run] [options]     the orchestrator: every scenario, alternating rpcnet / gRPC,
//                                    medians -> results JSON + markdown (stdout: the table)
//   rpcnet_bench server <rpcnet|rpcnet_h2|grpc|floor|floor_epoll> <cert> <key> [--bind ADDR] [--cpu N]
//   rpcnet_bench client <rpcnet|grpc|floor|floor_epoll> <scenario> [--key value ...]
//
// For every run of every scenario the orchestrator starts a fresh server process and a fresh
// client process (both this binary, exec'd), so no state carries over between runs and a client
// that hangs or crashes costs only its own run (reported; null if no run succeeded).
// Each scenario is repeated --reps times (default 10); which implementation goes first alternates
// between repetitions and between scenarios; the median of the runs is reported, and rpcnet ÷
// gRPC is the median of the per-repetition ratios (with min–max).
//
// Server and client are pinned to different CPUs (sched_setaffinity; default server 0, client 1)
// and every sequential scenario is read against the physical floor measured in the same run
// between the same CPUs over the same link: a plain UDP ping-pong (floor.cc).
//
// Options (run): --reps N  --warm S  --measure S  --connects N  --idle-conns N  --mixed-rate N
//                --link loopback,veth,veth-loss1,loopback-unpinned (default loopback)
//                --pin S,C | --no-pin
//                --only job,job (unary_seq unary_c1 unary_c16 unary_c64 unary_c256 unary_1m
//                many_conns unary_c64_server_1_loop unary_c64_server_2_loops
//                many_conns_server_1_loop many_conns_server_2_loops stream_1k stream_64k
//                stream_1m client_stream_1m bidi connect resumed_connect mixed idle
//                cluster_overhead grpc_path_unary_seq grpc_path_unary_c64 grpc_path_stream_1m
//                floor; the floor runs whenever unary_seq does)
//                --micro <rpcnet_micro binary>  --micro-min-time S  --json PATH  --md PATH
//                --quick (short windows and few connections, for trying it out)
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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

#include "common.h"
#include "link.h"
#include "rpcnet/certs.h"
#include "runtime/child_process.h"
#include "sides.h"
#include "suite.h"


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

// `loops` > 0: that many server event loops (completion-queue threads), and the server is not
// pinned (it may use every CPU) so that the loops can spread.
std::optional<Server> start_server(const std::string& impl, const rpcnet::DevCertificatePaths& certs,
                                   const Placement& where, int loops) {
  Server server;
  server.process = std::make_unique<rpcnet::runtime::Process>(
      where.server_argv({self_exe(), "server", impl, certs.server_cert, certs.server_key, "--bind",
                         where.server_address(), "--cpu", std::to_string(loops > 0 ? -1 : where.server_cpu),
                         "--loops", std::to_string(loops)}));
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


// ---- runs -----------------------------------------------------------------------------------

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
  const bool grpc_path = job.grpc_client && impl == "rpcnet";
  auto server = start_server(grpc_path ? "rpcnet_h2" : impl, certs, where, job.server_loops);
  if (!server) return result;
  const ClientArgs& a = job.args;
  const std::string client_impl = job.grpc_client ? "grpc" : impl;
  std::vector<std::string> args = {self_exe(), "client", client_impl, a.scenario,
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
                                   "--conns", std::to_string(a.conns),
                                   "--rate", std::to_string(a.rate)};
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
  // "key number" lines are values, "key text..." lines facts (Sample::print).
  for (const auto& line : client.lines()) {
    const auto space = line.find(' ');
    if (space == std::string::npos) continue;
    const std::string key = line.substr(0, space);
    const std::string rest = line.substr(space + 1);
    char* end = nullptr;
    const double value = std::strtod(rest.c_str(), &end);
    if (end != rest.c_str() && *end == '\0') {
      if (key == "errors") {
        result.sample.errors = static_cast<long>(value);
      } else {
        result.sample.set(key, value);
      }
    } else {
      result.sample.texts[key] = rest;
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


// Runs every job of one link `o.reps` times into `collected`.
void run_link(const Options& o, const Placement& where, const std::vector<Job>& jobs,
              const std::vector<std::string>& impls, const rpcnet::DevCertificatePaths& certs,
              Clock::time_point suite_start, Collected& collected) {
  for (int rep = 0; rep < o.reps; ++rep) {
    for (std::size_t j = 0; j < jobs.size(); ++j) {
      const Job& job = jobs[j];
      if (job.grpc_client && !grpc_available()) continue;
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
      std::fprintf(stderr, "bench: unknown link %s (loopback, veth, veth-loss1, loopback-unpinned)\n",
                   name.c_str());
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
    const bool pinned = collected.pinned && !link.unpinned;
    Placement where{&link, nullptr, pinned ? collected.pinned->first : -1, pinned ? collected.pinned->second : -1};
    if (pinned) record.pinning = collected.pinned;
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
                record.jobs, {}, record.pinning};
      std::fprintf(stderr, "bench: link %s: server %s in %s, client %s in %s\n", link.id.c_str(),
                   record.server_address.c_str(), record.server_ns.c_str(), record.client_address.c_str(),
                   record.client_ns.c_str());
    }
    if (record.jobs.empty()) std::fprintf(stderr, "bench: link %s: no job selected\n", link.id.c_str());
    // Same work: the TLS suite and group each implementation's handshake uses on this link.
    for (const auto& impl : impls) {
      Job probe{"tls_info", ClientArgs{}, {}, 30};
      probe.args.scenario = "tls_info";
      probe.key = link.id + "/tls_info";
      const RunResult tls = run_once(probe, impl, *certs, where);
      record.tls[impl] = tls.sample.texts;
      if (!tls.ok) record.tls[impl]["tls_error"] = tls.why;
      std::fprintf(stderr, "bench: link %s: %s TLS %s, %s (%s)\n", link.id.c_str(), impl.c_str(),
                   record.tls[impl]["tls_cipher_suite"].c_str(), record.tls[impl]["tls_group"].c_str(),
                   record.tls[impl]["tls_source"].c_str());
    }
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
  app.add_option("--mixed-rate", o.mixed_rate, "Small calls per second in the mixed scenario (open loop)")
      ->capture_default_str();
  app.add_option("--only", o.only, "Jobs to run (comma-separated)")->delimiter(',');
  app.add_option("--micro", o.micro, "The rpcnet_micro binary, to run the microbenchmarks too");
  app.add_option("--micro-min-time", o.micro_min_time, "Google Benchmark min time")->capture_default_str();
  app.add_option("--json", o.json, "JSON output")->capture_default_str();
  app.add_option("--md", o.md, "Markdown output")->capture_default_str();
  app.add_flag("--quick", quick, "One short repetition (smoke test)");
  app.add_option("--link", o.links,
                 "Links: loopback, veth, veth-loss1, loopback-unpinned (repeatable or comma-separated)")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--pin", o.pin, "CPUs of server and client: SERVER,CLIENT")->delimiter(',')->expected(2)
      ->capture_default_str();
  app.add_flag("--no-pin", o.no_pin, "Leave server and client unpinned");

  const auto impls = CLI::IsMember({"rpcnet", "grpc", "floor", "floor_epoll"});
  std::string server_impl, cert, key, server_bind = "127.0.0.1";
  int server_cpu = -1;
  int server_loops = 0;
  CLI::App* server_cmd = app.add_subcommand("server", "One implementation's server (spawned by run)");
  server_cmd->add_option("impl", server_impl, "rpcnet | rpcnet_h2 | grpc | floor | floor_epoll")
      ->required()
      ->check(CLI::IsMember({"rpcnet", "rpcnet_h2", "grpc", "floor", "floor_epoll"}));
  server_cmd->add_option("cert", cert)->required();
  server_cmd->add_option("key", key)->required();
  server_cmd->add_option("--bind", server_bind, "IPv4 address to listen on");
  server_cmd->add_option("--cpu", server_cpu, "CPU to pin to (-1: none)");
  server_cmd->add_option("--loops", server_loops, "Event loops (completion-queue threads); 0: the default");

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
  client_cmd->add_option("--rate", c.rate);

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
    if (server_impl == "grpc") return grpc_server_main(cert, key, server_bind, server_loops);
    return rpcnet_server_main(cert, key, server_bind, server_loops, server_impl == "rpcnet_h2");
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
