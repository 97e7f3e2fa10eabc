// What each link measures: the metric rows (names, units, directions, goals) and the jobs that
// produce them. Loopback keeps issue 5's names; the veth links carry issue 18's subset under
// names with the link in them (LinkSpec::metric_name).
#include <algorithm>

#include "suite.h"

namespace bench {

std::vector<Metric> metrics(const LinkSpec& link) {
  std::vector<Metric> list;
  const auto floor_rows = [&] {
    list.push_back({"udp_floor_p50_us", "us", "lower", nullptr, 0, false, true});
    list.push_back({"udp_floor_p99_us", "us", "lower", nullptr, 0, false, true});
    list.push_back({"udp_floor_epoll_p50_us", "us", "lower", nullptr, 0, false, true});
    list.push_back({"udp_floor_epoll_p99_us", "us", "lower", nullptr, 0, false, true});
  };
  if (link.unpinned) {
    // Secondary: the goals are read on the pinned table.
    list = {
        {"unary_seq_p50_us", "us", "lower", nullptr},
        {"unary_seq_p99_us", "us", "lower", nullptr},
        {"unary_c64_calls_per_s", "calls/s", "higher", nullptr},
        {"unary_c64_cpu_us_per_call", "us/call", "lower", nullptr},
        {"server_stream_1m_mb_per_s", "MB/s", "higher", nullptr},
    };
  } else if (link.loss_percent > 0) {
    list.push_back({"unary_seq_p50_us", "us", "lower", nullptr});
    list.push_back({"unary_seq_p99_us", "us", "lower", "<=", 0.05});
    floor_rows();
  } else if (link.namespaces) {
    list.push_back({"unary_seq_p50_us", "us", "lower", "<=", 0.7});
    list.push_back({"unary_seq_p99_us", "us", "lower", nullptr});
    floor_rows();
    list.push_back({"unary_c64_calls_per_s", "calls/s", "higher", ">=", 3.0});
    list.push_back({"unary_c64_p99_us", "us", "lower", nullptr});
    list.push_back({"unary_c64_cpu_us_per_call", "us/call", "lower", "<=", 0.4});
    list.push_back({"server_stream_1m_mb_per_s", "MB/s", "higher", ">=", 1.0});
    list.push_back({"connect_first_call_p50_us", "us", "lower", "<=", 0.5});
    list.push_back({"mixed_small_p99_us", "us", "lower", "<=", 0.5});
  } else {
    // Loopback goals: issue 18's (the sequential one's "or floor + 20 µs" is read by hand).
    list = {
        {"unary_seq_p50_us", "us", "lower", "<=", 0.6},
        {"unary_seq_p99_us", "us", "lower", nullptr},
    };
    floor_rows();
    const std::vector<Metric> rest = {
        {"unary_c1_calls_per_s", "calls/s", "higher", nullptr},
        {"unary_c16_calls_per_s", "calls/s", "higher", nullptr},
        {"unary_c64_calls_per_s", "calls/s", "higher", ">=", 3.5},
        {"unary_c256_calls_per_s", "calls/s", "higher", nullptr},
        {"unary_c64_p99_us", "us", "lower", nullptr},
        // Client + server CPU over the window ÷ calls completed in it (issue 18).
        {"unary_c1_cpu_us_per_call", "us/call", "lower", nullptr},
        {"unary_c64_cpu_us_per_call", "us/call", "lower", "<=", 0.35},
        {"server_stream_1k_msgs_per_s", "msgs/s", "higher", nullptr},
        {"server_stream_64k_mb_per_s", "MB/s", "higher", nullptr},
        {"server_stream_1m_mb_per_s", "MB/s", "higher", ">=", 1.2},
        {"client_stream_1m_mb_per_s", "MB/s", "higher", nullptr},
        {"bidi_echo_64b_msgs_per_s", "msgs/s", "higher", nullptr},
        {"connect_first_call_p50_us", "us", "lower", "<=", 0.4},
        {"resumed_connect_first_call_p50_us", "us", "lower", nullptr},
        // Open loop, against gRPC's better variant (small calls on the bulk's channel or their own).
        {"mixed_small_p99_us", "us", "lower", "<=", 0.3},
        {"idle_conn_rss_kb", "kB", "lower", "<=", 0.7},
        {"idle_conn_client_rss_kb", "kB", "lower", nullptr},
        // 1 MiB request echoed as a 1 MiB response, one call at a time.
        {"unary_1m_calls_per_s", "calls/s", "higher", nullptr},
        // 64 connections (channels) × 16 calls in flight on each, from one client thread.
        {"many_conns_calls_per_s", "calls/s", "higher", nullptr},
        // Server scaling: the same loads with the server on 1 and on 2 event loops (gRPC: completion
        // queues + threads), the server unpinned so the loops can spread, the client pinned.
        {"unary_c64_server_1_loop_calls_per_s", "calls/s", "higher", nullptr},
        {"unary_c64_server_2_loops_calls_per_s", "calls/s", "higher", nullptr},
        {"many_conns_server_1_loop_calls_per_s", "calls/s", "higher", nullptr},
        {"many_conns_server_2_loops_calls_per_s", "calls/s", "higher", nullptr},
        // Issue 17, the gRPC path: gRPC C++'s client in both columns, calling rpcnet's server over
        // HTTP/2 + TLS on TCP (rpcnet column) or gRPC C++'s server (gRPC column).
        {"grpc_path_unary_seq_p50_us", "us", "lower", "<=", 1.0},
        {"grpc_path_unary_seq_p99_us", "us", "lower", nullptr},
        {"grpc_path_unary_c64_calls_per_s", "calls/s", "higher", ">=", 1.0},
        {"grpc_path_unary_c64_cpu_us_per_call", "us/call", "lower", nullptr},
        {"grpc_path_server_stream_1m_mb_per_s", "MB/s", "higher", nullptr},
        // Issue 6: p50 of ClusterClient::call_worker minus p50 of a direct call to the same worker.
        {"cluster_call_worker_overhead_us", "us", "lower", "<=", 10.0, true},
    };
    list.insert(list.end(), rest.begin(), rest.end());
  }
  for (auto& metric : list) metric.name = link.metric_name(metric.name);
  return list;
}

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
    if (n == 1 || n == 64) {
      job.outputs.emplace_back("unary_c" + std::to_string(n) + "_cpu_us_per_call", "cpu_us_per_call");
    }
    jobs.push_back(job);
  }
  {
    Job job{"unary_1m", base("unary_conc"), {{"unary_1m_calls_per_s", "calls_per_s"}}, window + 30};
    job.args.concurrency = 1;
    job.args.payload = 1024 * 1024;
    jobs.push_back(job);
  }
  {
    Job job{"many_conns", base("unary_conns"), {{"many_conns_calls_per_s", "calls_per_s"}}, window + 40};
    job.args.conns = 64;
    job.args.concurrency = 16;
    jobs.push_back(job);
  }
  for (int loops : {1, 2}) {
    const std::string suffix = loops == 1 ? "_server_1_loop" : "_server_2_loops";
    Job c64{"unary_c64" + suffix, base("unary_conc"), {{"unary_c64" + suffix + "_calls_per_s", "calls_per_s"}},
            window + 30};
    c64.args.concurrency = 64;
    c64.server_loops = loops;
    jobs.push_back(c64);
    Job many{"many_conns" + suffix, base("unary_conns"), {{"many_conns" + suffix + "_calls_per_s", "calls_per_s"}},
             window + 40};
    many.args.conns = 64;
    many.args.concurrency = 16;
    many.server_loops = loops;
    jobs.push_back(many);
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
    Job job{"client_stream_1m", base("client_stream"), {{"client_stream_1m_mb_per_s", "mb_per_s"}}, window + 30};
    job.args.size = 1024 * 1024;
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
    job.args.rate = o.mixed_rate;
    jobs.push_back(job);
  }
  {
    Job job{"idle", base("idle"), {{"idle_conn_rss_kb", "rss_kb_per_conn"}, {"idle_conn_client_rss_kb", "client_rss_kb_per_conn"}}, 180};
    job.args.conns = o.idle_conns;
    jobs.push_back(job);
  }
  {
    Job seq{"grpc_path_unary_seq", base("unary_seq"),
            {{"grpc_path_unary_seq_p50_us", "p50_us"}, {"grpc_path_unary_seq_p99_us", "p99_us"}}, window + 30};
    seq.grpc_client = true;
    jobs.push_back(seq);
    Job c64{"grpc_path_unary_c64", base("unary_conc"),
            {{"grpc_path_unary_c64_calls_per_s", "calls_per_s"},
             {"grpc_path_unary_c64_cpu_us_per_call", "cpu_us_per_call"}},
            window + 30};
    c64.args.concurrency = 64;
    c64.grpc_client = true;
    jobs.push_back(c64);
    Job stream{"grpc_path_stream_1m", base("stream"), {{"grpc_path_server_stream_1m_mb_per_s", "mb_per_s"}},
               window + 30};
    stream.args.size = 1024 * 1024;
    stream.grpc_client = true;
    jobs.push_back(stream);
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
  if (link.unpinned) {
    on_link = {"unary_seq", "unary_c64", "stream_1m"};
  } else if (link.loss_percent > 0) {
    on_link = {"unary_seq", "floor", "floor_epoll"};
  } else if (link.namespaces) {
    on_link = {"unary_seq", "floor", "floor_epoll", "unary_c64", "stream_1m", "connect", "mixed"};
  }
  std::vector<Job> selected;
  for (auto& job : jobs) {
    if (!on_link.empty() && !listed(on_link, job.id)) continue;
    const bool wanted = o.only.empty() || listed(o.only, job.id) ||
                        (!job.floor_impl.empty() && (listed(o.only, "floor") || listed(o.only, "unary_seq")));
    if (!wanted) continue;
    for (auto& [metric, key] : job.outputs) metric = link.metric_name(metric);
    job.key = link.namespaces || link.unpinned ? link.id + "/" + job.id : job.id;
    selected.push_back(job);
  }
  return selected;
}

}  // namespace bench
