// The suite's outputs: results JSON (`{"scenarios":[{name, unit, better, rpcnet, grpc, ratio,
// ...}]}`, one row per metric and link) and the markdown table, a section per link.
#include <sys/utsname.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "sides.h"
#include "suite.h"

namespace bench {

namespace {

std::string number(std::optional<double> value) {
  if (!value) return "null";
  char text[64];
  std::snprintf(text, sizeof text, "%.6g", *value);
  return text;
}

// A JSON number with the 6 significant digits the report shows (null when there is none).
nlohmann::ordered_json six_digits(std::optional<double> value) {
  if (!value) return nullptr;
  return std::strtod(number(value).c_str(), nullptr);
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

std::string pinning_text(const Collected& c) {
  if (!c.pinned) return "server and client not pinned";
  return "server pinned to CPU " + std::to_string(c.pinned->first) + ", client to CPU " +
         std::to_string(c.pinned->second) + " (sched_setaffinity)";
}

// "TLS 1.3: rpcnet TLS_AES_128_GCM_SHA256 / P-256 (negotiated ...); gRPC ... (configured ...)."
// and a warning when the two differ: both must do the same cryptographic work.
std::string tls_text(const Collected::LinkRun& link_run) {
  if (link_run.tls.empty()) return "";
  const auto get = [&](const std::string& impl, const char* key) {
    auto i = link_run.tls.find(impl);
    if (i == link_run.tls.end()) return std::string();
    auto k = i->second.find(key);
    return k == i->second.end() ? std::string() : k->second;
  };
  std::string text = "TLS 1.3 cipher suite / key exchange group:";
  for (const auto& [impl, facts] : link_run.tls) {
    (void)facts;
    text += " " + std::string(impl == "grpc" ? "gRPC" : impl) + " " + get(impl, "tls_cipher_suite") + " / " +
            get(impl, "tls_group") + " (" + get(impl, "tls_source") + ")";
    if (!get(impl, "tls_error").empty()) text += " [probe failed: " + get(impl, "tls_error") + "]";
    text += ";";
  }
  if (link_run.tls.size() == 2 && get("rpcnet", "tls_cipher_suite") != get("grpc", "tls_cipher_suite")) {
    text += " **the cipher suites differ: not the same work per byte**";
  } else if (link_run.tls.size() == 2 && get("rpcnet", "tls_group") != get("grpc", "tls_group")) {
    text += " **the key exchange groups differ: not the same work per handshake**";
  }
  return text + "\n\n";
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

}  // namespace

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

std::optional<double> median_of(const Collected& c, const std::string& metric, const std::string& impl) {
  auto m = c.runs.find(metric);
  if (m == c.runs.end()) return std::nullopt;
  auto i = m->second.find(impl);
  if (i == m->second.end() || i->second.empty()) return std::nullopt;
  return median(i->second);
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
                                          : nlohmann::ordered_json::array({link_run.server_ns, link_run.client_ns})},
                       {"tls", link_run.tls},
                       {"pinning", link_run.pinning ? nlohmann::ordered_json{{"server_cpu", link_run.pinning->first},
                                                                             {"client_cpu", link_run.pinning->second}}
                                                    : nlohmann::ordered_json(nullptr)}});
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
  md << "`grpc_path_*` rows: gRPC C++'s client in both columns, calling rpcnetbench.EchoService on rpcnet's "
        "server over HTTP/2 + TLS on TCP (rpcnet column) or on gRPC C++'s server (gRPC column); both servers "
        "parse and serialise the protobuf messages.\n\n";
  for (const auto& link_run : c.links) {
  md << "## " << link_run.link.title() << "\n\n";
  if (!link_run.server_ns.empty()) {
    md << "Server " << link_run.server_address << " in namespace `" << link_run.server_ns << "`, client "
       << link_run.client_address << " in `" << link_run.client_ns << "`.\n\n";
  }
  md << tls_text(link_run);
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
  for (const auto& link_run : c.links) {
    for (const auto& job : link_run.jobs) {
      if (job.id != "mixed") continue;
      const auto value = [&](const char* impl, const char* key) {
        auto v = aux_median(c, job.key, impl, key);
        return v ? pretty(*v) : std::string("?");
      };
      std::string two_better = "?";
      if (auto g = c.aux.find(job.key); g != c.aux.end() && g->second.count("grpc")) {
        const auto& runs = g->second.at("grpc");
        if (auto k = runs.find("best_two_channels"); k != runs.end()) {
          double n = 0;
          for (double v : k->second) n += v;
          two_better = std::to_string(static_cast<long>(n)) + " of " + std::to_string(k->second.size());
        }
      }
      md << "- `" << job.key << "` (`mixed_small_p99_us`): open loop, " << pretty(o.mixed_rate)
         << " small calls/s at fixed intended times, each timed from its intended send time; bulk stream of 1 MiB "
            "messages meanwhile: rpcnet "
         << value("rpcnet", "bulk_mb_per_s") << " MB/s, gRPC " << value("grpc", "bulk_mb_per_s")
         << " MB/s; small calls completed: rpcnet " << value("rpcnet", "small_calls") << ", gRPC "
         << value("grpc", "small_calls") << "; small-call p50: rpcnet " << value("rpcnet", "p50_us") << " µs, gRPC "
         << value("grpc", "p50_us") << " µs; how late the client's loop sent them (p50 / p99): rpcnet "
         << value("rpcnet", "send_lag_p50_us") << " / " << value("rpcnet", "send_lag_p99_us") << " µs, gRPC "
         << value("grpc", "send_lag_p50_us") << " / " << value("grpc", "send_lag_p99_us") << " µs"
         << ". gRPC runs both ways and the row takes its better p99 of each run: small calls on the bulk's "
            "channel p99 "
         << value("grpc", "one_channel_p99_us") << " µs, on a second channel (its own connection) "
         << value("grpc", "two_channels_p99_us") << " µs; the second channel was better in " << two_better
         << " runs.\n";
    }
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
      if (job.id != "unary_c1" && job.id != "unary_c64") continue;
      const auto split = [&](const char* impl) {
        auto client = aux_median(c, job.key, impl, "client_cpu_us_per_call");
        auto server = aux_median(c, job.key, impl, "server_cpu_us_per_call");
        return client && server ? pretty(*client) + " + " + pretty(*server) : std::string("?");
      };
      md << "- `" << job.key << "` CPU-µs per call, client + server, over the measurement window only: rpcnet "
         << split("rpcnet") << ", gRPC " << split("grpc") << ".\n";
    }
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

}  // namespace bench
