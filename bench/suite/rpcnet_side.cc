// The rpcnet side of the suite: a server with rpcnet's default configuration (default event
// loops, limits and transport settings) and the client side of every scenario, on one client
// event loop (rpcnet::Runtime(1)).
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rpcnet/cluster/cluster_client.h"
#include "rpcnet/cluster/cluster_server.h"
#include "rpcnet/rpcnet.h"
#include "runtime/event.h"
#include "sides.h"

namespace bench {

namespace {

using rpcnet::Bytes;

// TLS session resumption for the client: on by default in rpcnet (a process-wide ticket cache).
// connect_first_call_p50_us measures full handshakes, so it turns resumption off; the resumed
// variant turns it on (explicitly, in case the default changes). Returns false if rpcnet could
// not resume (the scenario then reports null).
bool set_client_resumption(rpcnet::RpcConfig& config, bool enabled) {
  config.with_session_resumption(enabled);
  return true;
}

asio::awaitable<void> sleep_for(double s) {
  asio::steady_timer timer(co_await asio::this_coro::executor, seconds(s));
  (void)co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
}

struct Target {
  rpcnet::SocketAddress address;
  std::string ca_path;
  std::string bind;  // the client's own address: 127.0.0.1, or its namespace's on a veth link
};

// Same key exchange as gRPC, which allows only P-256 (grpc_side.cc): X25519, rpcnet's default,
// would make every handshake cheaper than gRPC's.
rpcnet::RpcConfig client_config(const Target& target) {
  return rpcnet::RpcConfig(target.ca_path, target.bind + ":0")
      .with_server_name("localhost")
      .with_key_exchange({rpcnet::KeyExchange::kP256});
}

asio::awaitable<std::optional<rpcnet::RpcClient>> connect(const Target& target) {
  auto client = co_await rpcnet::RpcClient::connect(target.address, client_config(target));
  if (!client) {
    std::fprintf(stderr, "rpcnet client: connect: %s\n", client.error().to_string().c_str());
    co_return std::nullopt;
  }
  co_return std::move(*client);
}

// Sequential unary round trips: p50 / p99 and calls/s.
asio::awaitable<Sample> unary_seq(Target target, ClientArgs args) {
  Sample sample;
  auto client = co_await connect(target);
  if (!client) co_return sample;
  const Bytes payload(args.payload, 0x5a);
  std::vector<double> latencies;
  latencies.reserve(1 << 18);
  const Window window = Window::after(args.warm, args.measure);
  for (;;) {
    const auto start = Clock::now();
    if (start >= window.end) break;
    auto reply = co_await client->call("echo", payload);
    const auto stop = Clock::now();
    if (!reply || reply->size() != payload.size()) {
      ++sample.errors;  // counted, not timed
    } else if (window.contains(start)) {
      latencies.push_back(micros(stop - start));
    }
  }
  sample.set("calls_per_s", static_cast<double>(latencies.size()) / args.measure);
  sample.set("p50_us", percentile(latencies, 0.50));
  sample.set("p99_us", percentile(latencies, 0.99));
  client->close();
  co_return sample;
}

// `concurrency` coroutines calling back to back on one connection; scenario unary_conns: on each
// of `conns` connections (all on the client's one event loop).
asio::awaitable<Sample> unary_conc(Target target, ClientArgs args) {
  Sample sample;
  const int connections = args.scenario == "unary_conns" ? args.conns : 1;
  std::vector<rpcnet::RpcClient> clients;
  for (int i = 0; i < connections; ++i) {
    auto client = co_await connect(target);
    if (!client) co_return sample;
    clients.push_back(std::move(*client));
  }
  auto executor = co_await asio::this_coro::executor;
  const Bytes payload(args.payload, 0x5a);
  const Window window = Window::after(args.warm, args.measure);
  CpuWindow cpu(window, args.server_pid);
  std::vector<double> latencies;
  latencies.reserve(1 << 20);
  int running = args.concurrency * connections;
  rpcnet::runtime::Event all_done;
  for (int worker = 0; worker < args.concurrency * connections; ++worker) {
    auto loop = [&, client = &clients[static_cast<std::size_t>(worker % connections)]]() -> asio::awaitable<void> {
      for (;;) {
        const auto start = Clock::now();
        if (start >= window.end) break;
        auto reply = co_await client->call("echo", payload);
        const auto stop = Clock::now();
        if (!reply || reply->size() != payload.size()) {
          ++sample.errors;  // counted, not timed
        } else if (window.contains(stop)) {
          latencies.push_back(micros(stop - start));
        }
      }
      if (--running == 0) all_done.set();
    };
    asio::co_spawn(executor, std::move(loop), asio::detached);
  }
  co_await all_done.wait();
  cpu.report(sample, static_cast<double>(latencies.size()));
  sample.set("calls_per_s", static_cast<double>(latencies.size()) / args.measure);
  sample.set("mb_per_s", static_cast<double>(latencies.size()) * static_cast<double>(payload.size()) / 1e6 / args.measure);
  sample.set("p50_us", percentile(latencies, 0.50));
  sample.set("p99_us", percentile(latencies, 0.99));
  for (auto& client : clients) client.close();
  co_return sample;
}

// One server stream of `size`-byte messages, read as fast as they come; cancelled at the end.
asio::awaitable<Sample> server_stream(Target target, ClientArgs args) {
  Sample sample;
  auto client = co_await connect(target);
  if (!client) co_return sample;
  const Window window = Window::after(args.warm, args.measure);
  Bytes request = encode_stream_request(kEndlessCount, args.size);
  auto stream = co_await client->call_server_streaming("stream", std::move(request));
  if (!stream) {
    std::fprintf(stderr, "rpcnet client: stream: %s\n", stream.error().to_string().c_str());
    ++sample.errors;
    co_return sample;
  }
  long messages = 0;
  double bytes = 0;
  for (;;) {
    auto next = co_await stream->next();
    const auto now = Clock::now();
    if (!next || !*next) {
      std::fprintf(stderr, "rpcnet client: stream ended early: %s\n",
                   next ? "clean end" : next.error().to_string().c_str());
      ++sample.errors;
      break;
    }
    if (now >= window.end) break;
    if (window.contains(now)) {
      ++messages;
      bytes += static_cast<double>((*next)->size());
    }
  }
  stream->cancel();
  sample.set("msgs_per_s", static_cast<double>(messages) / args.measure);
  sample.set("mb_per_s", bytes / 1e6 / args.measure);
  client->close();
  co_return sample;
}

// One client stream of `size`-byte messages written as fast as the server takes them (a write
// completes once flow control lets the message into the connection's send buffer, which the
// server's reads bound); cancelled at the end.
asio::awaitable<Sample> client_stream(Target target, ClientArgs args) {
  Sample sample;
  auto client = co_await connect(target);
  if (!client) co_return sample;
  auto call = co_await client->open_call("upload");
  if (!call) {
    std::fprintf(stderr, "rpcnet client: open_call: %s\n", call.error().to_string().c_str());
    ++sample.errors;
    co_return sample;
  }
  const Window window = Window::after(args.warm, args.measure);
  const Bytes message(args.size, 0x5a);
  long messages = 0;
  for (;;) {
    auto written = co_await call->write(message);
    const auto now = Clock::now();
    if (!written) {
      std::fprintf(stderr, "rpcnet client: upload: %s\n", written.error().to_string().c_str());
      ++sample.errors;
      break;
    }
    if (now >= window.end) break;
    if (window.contains(now)) ++messages;
  }
  call->cancel();
  sample.set("msgs_per_s", static_cast<double>(messages) / args.measure);
  sample.set("mb_per_s", static_cast<double>(messages) * static_cast<double>(args.size) / 1e6 / args.measure);
  client->close();
  co_return sample;
}

// One bidi stream with `window` messages in flight: every echo received lets one more go out.
asio::awaitable<Sample> bidi(Target target, ClientArgs args) {
  Sample sample;
  auto client = co_await connect(target);
  if (!client) co_return sample;
  const Window window = Window::after(args.warm, args.measure);
  auto call = co_await client->open_call("echo_stream");
  if (!call) {
    std::fprintf(stderr, "rpcnet client: open_call: %s\n", call.error().to_string().c_str());
    ++sample.errors;
    co_return sample;
  }
  const Bytes payload(args.payload, 0x5a);
  for (int i = 0; i < args.window; ++i) {
    if (!co_await call->write(payload)) ++sample.errors;
  }
  long messages = 0;
  for (;;) {
    auto echo = co_await call->read();
    const auto now = Clock::now();
    if (!echo || !*echo) {
      ++sample.errors;
      break;
    }
    if (now >= window.end) break;
    if (window.contains(now)) ++messages;
    if (!co_await call->write(payload)) {
      ++sample.errors;
      break;
    }
  }
  call->cancel();
  sample.set("msgs_per_s", static_cast<double>(messages) / args.measure);
  client->close();
  co_return sample;
}

// New connection (full handshake, or resumed with `args.resumed`) + first unary call, `count`
// times, one after another; each connection is closed before the next.
asio::awaitable<Sample> connect_first_call(Target target, ClientArgs args) {
  Sample sample;
  auto config = client_config(target);
  if (!set_client_resumption(config, args.resumed)) {
    std::fprintf(stderr, "rpcnet client: TLS session resumption is not implemented\n");
    sample.set("unsupported", 1);  // no latency: reported as null
    co_return sample;
  }
  long resumed = 0;
  const Bytes payload(args.payload, 0x5a);
  std::vector<double> latencies;
  const auto give_up = Clock::now() + seconds(args.warm + args.measure + 10.0);
  // One connection first (not counted): primes the session cache when resuming, and lazy
  // initialisation on both sides.
  for (int i = -1; i < args.count && Clock::now() < give_up; ++i) {
    const auto start = Clock::now();
    auto client = co_await rpcnet::RpcClient::connect(target.address, config);
    if (!client) {
      std::fprintf(stderr, "rpcnet client: connect: %s\n", client.error().to_string().c_str());
      ++sample.errors;
      continue;
    }
    auto reply = co_await client->call("echo", payload);
    const auto stop = Clock::now();
    if (!reply) {
      ++sample.errors;
    } else if (i >= 0) {
      latencies.push_back(micros(stop - start));
      if (client->resumed_session()) ++resumed;
    }
    client->close();
  }
  if (!latencies.empty()) {
    sample.set("p50_us", percentile(latencies, 0.50));
    sample.set("p99_us", percentile(latencies, 0.99));
    sample.set("connections", static_cast<double>(latencies.size()));
    sample.set("resumed", static_cast<double>(resumed));
  }
  const long expected = args.resumed ? static_cast<long>(latencies.size()) : 0;
  if (resumed != expected) {
    std::fprintf(stderr, "rpcnet client: %ld of %zu connections resumed their TLS session (expected %ld)\n",
                 resumed, latencies.size(), expected);
  }
  co_return sample;
}

// Small calls on a connection that also carries a bulk server stream of `size`-byte messages
// (the stream starts `warm` seconds before the small calls are counted). Open loop: a small
// call goes every 1/`rate` s at its intended time whatever the earlier ones do, and is timed
// from that intended time, so a stall counts against every call it delays (no coordinated
// omission).
asio::awaitable<Sample> mixed(Target target, ClientArgs args) {
  Sample sample;
  auto client = co_await connect(target);
  if (!client) co_return sample;
  auto executor = co_await asio::this_coro::executor;
  bool stop = false;
  double bulk_bytes = 0;
  rpcnet::runtime::Event bulk_done;
  Clock::time_point bulk_begin{};
  Clock::time_point bulk_end{};
  auto bulk = [&]() -> asio::awaitable<void> {
    Bytes request = encode_stream_request(kEndlessCount, args.size);
    auto stream = co_await client->call_server_streaming("stream", std::move(request));
    if (stream) {
      while (!stop) {
        auto next = co_await stream->next();
        if (!next || !*next) {
          ++sample.errors;
          break;
        }
        if (bulk_begin != Clock::time_point{} && bulk_end == Clock::time_point{}) {
          bulk_bytes += static_cast<double>((*next)->size());
        }
      }
      stream->cancel();
    } else {
      ++sample.errors;
    }
    bulk_done.set();
  };
  asio::co_spawn(executor, std::move(bulk), asio::detached);
  co_await sleep_for(args.warm);

  const Bytes payload(args.payload, 0x5a);
  std::vector<double> latencies;
  bulk_begin = Clock::now();
  const auto end = bulk_begin + seconds(args.measure);
  const auto interval = seconds(1.0 / args.rate);
  int outstanding = 0;
  bool sending = true;
  rpcnet::runtime::Event small_done;
  std::vector<double> send_lag;
  asio::steady_timer timer(executor);
  for (auto intended = bulk_begin; intended < end; intended += interval) {
    timer.expires_at(intended);
    (void)co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    send_lag.push_back(micros(Clock::now() - intended));  // how late the busy loop let it go
    ++outstanding;
    auto small = [&, intended]() -> asio::awaitable<void> {
      auto reply = co_await client->call("echo", payload);
      const auto now = Clock::now();
      if (!reply || reply->size() != payload.size()) {
        ++sample.errors;  // counted, not timed
      } else {
        latencies.push_back(micros(now - intended));
      }
      if (--outstanding == 0 && !sending) small_done.set();
    };
    asio::co_spawn(executor, std::move(small), asio::detached);
  }
  bulk_end = Clock::now();
  sending = false;
  if (outstanding > 0) co_await small_done.wait();
  stop = true;
  co_await bulk_done.wait();
  sample.set("p50_us", percentile(latencies, 0.50));
  sample.set("p99_us", percentile(latencies, 0.99));
  sample.set("small_calls", static_cast<double>(latencies.size()));
  sample.set("send_lag_p50_us", percentile(send_lag, 0.50));
  sample.set("send_lag_p99_us", percentile(send_lag, 0.99));
  sample.set("bulk_mb_per_s", bulk_bytes / 1e6 / secs(bulk_end - bulk_begin));
  client->close();
  co_return sample;
}

// `conns` connections, each with one completed call, left idle: the server's RSS growth per
// connection.
asio::awaitable<Sample> idle(Target target, ClientArgs args, pid_t server_pid) {
  Sample sample;
  auto executor = co_await asio::this_coro::executor;
  const Bytes payload(args.payload, 0x5a);
  std::vector<rpcnet::RpcClient> clients;
  clients.reserve(static_cast<std::size_t>(args.conns) + 1);
  // One connection first, so lazily allocated server state is in the baseline.
  auto first = co_await connect(target);
  if (!first) co_return sample;
  if (!co_await first->call("echo", payload)) ++sample.errors;
  clients.push_back(std::move(*first));
  co_await sleep_for(0.2);
  const long before = vm_rss_kb(server_pid);
  const long client_before = vm_rss_kb(::getpid());

  const auto start = Clock::now();
  int next = 0;
  int opened = 0;
  constexpr int kParallel = 16;
  int running = kParallel;
  rpcnet::runtime::Event all_done;
  for (int worker = 0; worker < kParallel; ++worker) {
    auto opener = [&]() -> asio::awaitable<void> {
      while (next < args.conns && sample.errors < 50) {
        ++next;
        auto client = co_await rpcnet::RpcClient::connect(target.address, client_config(target));
        if (!client) {
          std::fprintf(stderr, "rpcnet client: connect: %s\n", client.error().to_string().c_str());
          ++sample.errors;
          continue;
        }
        if (!co_await client->call("echo", payload)) ++sample.errors;
        clients.push_back(std::move(*client));
        if (++opened % 1000 == 0) {
          std::fprintf(stderr, "rpcnet client: %d connections after %.1f s\n", opened, secs(Clock::now() - start));
        }
      }
      if (--running == 0) all_done.set();
    };
    asio::co_spawn(executor, std::move(opener), asio::detached);
  }
  co_await all_done.wait();
  const double open_s = secs(Clock::now() - start);
  co_await sleep_for(0.5);
  const long after = vm_rss_kb(server_pid);
  const long client_after = vm_rss_kb(::getpid());
  std::fprintf(stderr, "rpcnet client: %d idle connections in %.1f s; server RSS %ld -> %ld kB\n",
               opened, open_s, before, after);
  if (opened > 0 && before > 0 && after > 0) {
    sample.set("rss_kb_per_conn", static_cast<double>(after - before) / opened);
    sample.set("connections", opened);
    sample.set("rss_before_kb", static_cast<double>(before));
    sample.set("rss_after_kb", static_cast<double>(after));
    sample.set("connects_per_s", opened / open_s);
    sample.set("client_rss_kb_per_conn", static_cast<double>(client_after - client_before) / opened);
  }
  for (auto& client : clients) client.close();
  clients.clear();
  co_await sleep_for(0.1);
  co_return sample;
}

// What ClusterClient adds to a call: the same sequential 64-byte calls to the same server, once
// directly and once through call_worker (registry selection, pooled connection, in-flight and
// latency accounting), alternating in rounds so drift hits both alike. The worker is the bench
// server; its cluster membership (rpc_addr = the server) and the caller's run in this process.
asio::awaitable<Sample> cluster_overhead(Target target, ClientArgs args) {
  namespace cl = rpcnet::cluster;
  Sample sample;
  auto executor = co_await asio::this_coro::executor;
  auto keys = cl::KeyRing::from_text("a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf");
  auto member_config = [](const char* id) {
    auto config = cl::ClusterConfig::Local();
    config.node_id = id;
    config.bind_address = *rpcnet::parse_socket_address("127.0.0.1:0");
    return config;
  };
  auto caller = cl::ClusterMembership::start(member_config("bench-caller"), *keys);
  auto worker = cl::ClusterMembership::start(member_config("bench-worker"), *keys);
  if (!keys || !caller || !worker) co_return sample;
  (void)worker->update_tag(std::string(cl::kRpcAddressTag), rpcnet::to_string(target.address));
  if (!worker->join({caller->advertised_address()})) co_return sample;
  auto registry = std::make_shared<cl::WorkerRegistry>(*caller);
  registry->start();
  for (int i = 0; i < 500 && registry->workers().empty(); ++i) co_await sleep_for(0.01);
  if (registry->workers().empty()) {
    std::fprintf(stderr, "rpcnet client: the worker never appeared in the registry\n");
    co_return sample;
  }
  cl::ClusterClientConfig config;
  config.rpc = client_config(target);
  cl::ClusterClient cluster_client(registry, config, executor);
  auto direct = co_await connect(target);
  if (!direct) co_return sample;
  const Bytes payload(args.payload, 0x5a);
  std::vector<double> direct_us, cluster_us;
  const Window window = Window::after(args.warm, args.measure);
  for (int round = 0; Clock::now() < window.end; ++round) {
    const bool through_cluster = round % 2 == 1;
    for (int i = 0; i < 200; ++i) {
      const auto start = Clock::now();
      rpcnet::Result<Bytes> reply = rpcnet::RpcError::cancelled();
      if (through_cluster) {
        reply = co_await cluster_client.call_worker("echo", payload);
      } else {
        reply = co_await direct->call("echo", payload);
      }
      const auto stop = Clock::now();
      if (!reply || reply->size() != payload.size()) {
        ++sample.errors;  // counted, not timed
      } else if (window.contains(start)) {
        (through_cluster ? cluster_us : direct_us).push_back(micros(stop - start));
      }
    }
  }
  if (!direct_us.empty() && !cluster_us.empty()) {
    const double direct_p50 = percentile(direct_us, 0.50);
    const double cluster_p50 = percentile(cluster_us, 0.50);
    sample.set("direct_p50_us", direct_p50);
    sample.set("cluster_p50_us", cluster_p50);
    sample.set("overhead_us", cluster_p50 - direct_p50);
  }
  direct->close();
  worker->stop();
  caller->stop();
  co_return sample;
}

// The TLS parameters the client's handshake negotiated (RpcClient::tls_parameters), from one
// connection and call. Printed as text lines ("tls <what> <value>") besides the sample; the
// orchestrator puts them in the output header.
asio::awaitable<Sample> tls_info(Target target, ClientArgs args) {
  Sample sample;
  auto client = co_await connect(target);
  if (client) {
    if (!co_await client->call("echo", Bytes(args.payload, 0x5a))) ++sample.errors;
    sample.texts["tls_cipher_suite"] = client->tls_parameters().cipher_suite;
    sample.texts["tls_group"] = client->tls_parameters().key_exchange;
    client->close();
  }
  sample.texts["tls_source"] = "negotiated (RpcClient::tls_parameters)";
  sample.set("tls_handshakes", client ? 1 : 0);
  co_return sample;
}

asio::awaitable<Sample> run_scenario(Target target, ClientArgs args) {
  if (args.scenario == "unary_seq") co_return co_await unary_seq(target, args);
  if (args.scenario == "unary_conc" || args.scenario == "unary_conns") co_return co_await unary_conc(target, args);
  if (args.scenario == "stream") co_return co_await server_stream(target, args);
  if (args.scenario == "bidi") co_return co_await bidi(target, args);
  if (args.scenario == "client_stream") co_return co_await client_stream(target, args);
  if (args.scenario == "connect") co_return co_await connect_first_call(target, args);
  if (args.scenario == "mixed") co_return co_await mixed(target, args);
  if (args.scenario == "idle") co_return co_await idle(target, args, args.server_pid);
  if (args.scenario == "cluster_overhead") co_return co_await cluster_overhead(target, args);
  if (args.scenario == "tls_info") co_return co_await tls_info(target, args);
  std::fprintf(stderr, "rpcnet client: unknown scenario %s\n", args.scenario.c_str());
  co_return Sample{};
}

}  // namespace

int rpcnet_server_main(const std::string& cert_path, const std::string& key_path, const std::string& bind_host,
                       int loops, bool grpc_over_tcp) {
  raise_nofile_limit();
  // rpcnet's defaults (one event loop per core, default limits and transport settings), but
  // gRPC's only key exchange group.
  auto config = rpcnet::RpcConfig(cert_path, bind_host + ":0")
                    .with_key_path(key_path)
                    .with_key_exchange({rpcnet::KeyExchange::kP256});  // as the client
  if (loops > 0) config.with_event_loops(static_cast<std::size_t>(loops));
  if (grpc_over_tcp) config.with_grpc_over_tcp(std::nullopt);
  rpcnet::RpcServer server(config);
  if (grpc_over_tcp && !register_grpc_echo_service(server)) {
    std::fprintf(stderr, "rpcnet server: rpcnetbench.EchoService needs the gRPC side (RPCNET_BENCH_GRPC=ON)\n");
    return 2;
  }
  server.register_method("echo", [](Bytes request) -> asio::awaitable<rpcnet::Result<Bytes>> {
    co_return request;
  });
  server.register_streaming("stream", [](rpcnet::ServerStream stream) -> asio::awaitable<rpcnet::Result<void>> {
    auto request = co_await stream.read();
    if (!request) co_return request.error();
    std::uint64_t count = 0;
    std::uint64_t size = 0;
    if (!*request || !decode_stream_request(**request, count, size) || size > (64u << 20)) {
      co_return rpcnet::RpcError::status(rpcnet::StatusCode::kInvalidArgument, "bad stream request");
    }
    const Bytes message(size, 0x5a);
    for (std::uint64_t i = 0; i < count; ++i) {
      auto written = co_await stream.write(message);
      if (!written) co_return written;
    }
    co_return rpcnet::ok();
  });
  server.register_streaming("echo_stream", [](rpcnet::ServerStream stream) -> asio::awaitable<rpcnet::Result<void>> {
    for (;;) {
      auto next = co_await stream.read();
      if (!next) co_return next.error();
      if (!*next) co_return rpcnet::ok();
      if (auto written = co_await stream.write(std::move(**next)); !written) co_return written;
    }
  });
  server.register_streaming("upload", [](rpcnet::ServerStream stream) -> asio::awaitable<rpcnet::Result<void>> {
    for (;;) {
      auto next = co_await stream.read();
      if (!next) co_return next.error();
      if (!*next) co_return rpcnet::ok();
    }
  });
  auto bound = server.bind();
  if (!bound) {
    std::fprintf(stderr, "rpcnet server: bind: %s\n", bound.error().to_string().c_str());
    return 1;
  }
  const auto port = grpc_over_tcp ? server.grpc_address().value_or(rpcnet::SocketAddress()).port() : bound->port();
  std::printf("PORT %u\n", static_cast<unsigned>(port));
  std::fflush(stdout);
  auto served = server.run();  // until the orchestrator kills the process
  return served ? 0 : 1;
}

int rpcnet_client_main(const ClientArgs& args) {
  raise_nofile_limit();
  auto address = rpcnet::parse_socket_address(args.host + ":" + std::to_string(args.port));
  if (!address) return 1;
  Target target{*address, args.ca_path, args.bind};
  Sample sample;
  {
    rpcnet::Runtime runtime(1);
    sample = runtime.block_on(run_scenario(target, args));
  }
  sample.print();
  return sample.values.empty() ? 1 : 0;
}

}  // namespace bench
