// The cluster example's programs (the seed's "complete example"): `rpcnet worker`, `rpcnet
// director` and `rpcnet members`. `rpcnet cluster-demo` (cluster_demo.cc) starts them as
// separate processes; they can as well be started by hand in separate terminals:
//
//   export RPCNET_CLUSTER_KEY=$(rpcnet cluster-key); rpcnet certs --out certs
//   rpcnet director --gossip 127.0.0.1:7946 --rpc 127.0.0.1:9000 --certs certs
//   rpcnet worker --id worker-1 --seed 127.0.0.1:7946 --certs certs --tag zone=a
//   rpcnet worker --id worker-2 --seed 127.0.0.1:7946 --certs certs
//   rpcnet members --seed 127.0.0.1:7946
//
// Output lines (stdout) are meant for people and scripts alike: `ready key=value ...` once
// serving, `event <kind> id=<member> t_ms=<steady ms>` for membership changes.
#include <gnutls/crypto.h>

#include <asio/co_spawn.hpp>
#include <asio/signal_set.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "cluster_tool.h"
#include "commands.h"
#include "rpcnet/bytes.h"
#include "rpcnet/cluster/cluster_client.h"
#include "rpcnet/cluster/cluster_server.h"
#include "rpcnet/cluster/node_registry.h"
#include "rpcnet/runtime.h"
#include "rpcnet/server.h"

namespace rpcnet::tool {

namespace {

using namespace std::chrono_literals;

// What a worker does per `compute` call: a little CPU work on the payload (FNV-1a, 64 rounds),
// answered with "<worker id>:<hash>" so callers can see who served them.
Bytes compute(const std::string& id, const Bytes& request) {
  std::uint64_t hash = 1469598103934665603ull;
  for (int round = 0; round < 64; ++round) {
    for (std::uint8_t byte : request) hash = (hash ^ byte) * 1099511628211ull;
    hash ^= static_cast<std::uint64_t>(round);
  }
  std::ostringstream out;
  out << id << ':' << std::hex << hash;
  const std::string text = out.str();
  return Bytes(text.begin(), text.end());
}

// Blocks until SIGINT or SIGTERM.
void wait_for_signal() {
  asio::io_context io;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([](const std::error_code&, int) {});
  io.run();
}

}  // namespace

// ---- shared helpers ---------------------------------------------------------------------------

Result<cluster::ClusterConfig> cluster_config(const ClusterNodeOptions& options) {
  cluster::ClusterConfig config;
  if (options.preset == "lan") {
    config = cluster::ClusterConfig::Lan();
  } else if (options.preset == "wan") {
    config = cluster::ClusterConfig::Wan();
  } else if (options.preset == "local") {
    config = cluster::ClusterConfig::Local();
  } else {
    return RpcError::config("--preset must be lan, wan or local, not " + options.preset);
  }
  config.node_id = options.id;
  auto bind = parse_socket_address(options.gossip);
  if (!bind) return bind.error();
  config.bind_address = *bind;
  return config;
}

Result<cluster::KeyRing> cluster_keys(const std::string& key) {
  std::string text = key;
  if (text.empty()) {
    if (const char* env = std::getenv("RPCNET_CLUSTER_KEY")) text = env;
  }
  if (text.empty()) return RpcError::config("no cluster key: pass --key or set RPCNET_CLUSTER_KEY (rpcnet cluster-key)");
  return cluster::KeyRing::from_text(text);
}

Result<NodeSetup> node_setup(const ClusterNodeOptions& options) {
  auto config = cluster_config(options);
  if (!config) return config.error();
  auto keys = cluster_keys(options.key);
  if (!keys) return keys.error();
  auto seeds = parse_addresses(options.seeds);
  if (!seeds) return seeds.error();
  return NodeSetup{std::move(*config), std::move(*keys), std::move(*seeds)};
}

Result<void> apply_tags(cluster::ClusterMembership& member, const std::vector<std::string>& tags) {
  for (const auto& tag : tags) {
    const auto eq = tag.find('=');
    auto tagged = member.update_tag(tag.substr(0, eq), eq == std::string::npos ? "" : tag.substr(eq + 1));
    if (!tagged) return RpcError::config("--tag " + tag + ": " + tagged.error().message());
  }
  return {};
}

Result<std::vector<SocketAddress>> parse_addresses(const std::vector<std::string>& texts) {
  std::vector<SocketAddress> out;
  for (const auto& text : texts) {
    auto address = parse_socket_address(text);
    if (!address) return address.error();
    out.push_back(*address);
  }
  return out;
}

std::string tags_text(const std::map<std::string, std::string>& tags) {
  std::string text;
  for (const auto& [key, value] : tags) {
    if (!text.empty()) text += ',';
    text += key + "=" + value;
  }
  return text;
}

Result<std::string> random_cluster_key() {
  unsigned char key[32];
  if (gnutls_rnd(GNUTLS_RND_KEY, key, sizeof key) != 0) {
    return RpcError::status(StatusCode::kInternal, "the system random generator failed");
  }
  return to_hex(key);
}

long long steady_ms(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

void print_line(const std::string& line) {
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

// Prints the membership's events until `done`.
std::thread print_events(std::shared_ptr<cluster::EventHub::Subscription> events, const std::atomic<bool>& done) {
  return std::thread([events = std::move(events), &done] {
    while (!done.load()) {
      auto event = events->next_blocking(100ms);
      if (!event) {
        if (events->closed()) break;  // the member stopped: nothing more comes
        continue;
      }
      std::ostringstream line;
      line << "event " << cluster::event_kind_name(event->kind);
      if (!event->member.id.empty()) {
        line << " id=" << event->member.id << " tags=" << tags_text(event->member.tags);
      } else {
        line << " unreachable=" << event->unreachable << " members=" << event->members;
      }
      line << " t_ms=" << steady_ms(std::chrono::steady_clock::now());
      print_line(line.str());
    }
  });
}

// ---- rpcnet worker ------------------------------------------------------------------------------

int run_worker(const WorkerOptions& options) {
  auto setup = node_setup(options.node);
  if (!setup) {
    std::cerr << "rpcnet worker: " << setup.error().message() << "\n";
    return 2;
  }
  RpcServer server(RpcConfig(options.certs + "/server.pem", options.rpc)
                       .with_key_path(options.certs + "/server-key.pem")
                       .with_event_loops(1));
  const std::string id = options.node.id;
  server.register_method("compute", [id](Bytes request) -> asio::awaitable<Result<Bytes>> {
    co_return compute(id, request);
  });
  auto bound = server.bind();
  if (!bound) {
    std::cerr << "rpcnet worker: " << bound.error().message() << "\n";
    return 1;
  }
  auto cluster = cluster::enable_cluster(server, std::move(setup->config), std::move(setup->keys));
  if (!cluster) {
    std::cerr << "rpcnet worker: " << cluster.error().message() << "\n";
    return 1;
  }
  (void)cluster->update_tag("role", "worker");
  if (auto tagged = apply_tags(*cluster, options.node.tags); !tagged) {
    std::cerr << "rpcnet worker: " << tagged.error().message() << "\n";
    return 2;
  }
  std::atomic<bool> done{false};
  std::thread printer = print_events(cluster->subscribe(), done);
  if (auto joined = cluster->join(setup->seeds); !joined) {
    std::cerr << "rpcnet worker: " << joined.error().message() << "\n";
    done = true;
    printer.join();
    return 2;
  }

  Runtime runtime(1);
  auto serving = asio::co_spawn(runtime.executor(0), server.serve(), asio::use_future);
  print_line("ready id=" + id + " rpc=" + to_string(*bound) + " gossip=" + to_string(cluster->advertised_address()));
  wait_for_signal();
  // Leave first, so the others stop routing here before the server refuses calls.
  cluster->leave(1s);
  (void)cluster->wait_stopped_blocking(2s);
  server.shutdown(2s);
  (void)serving.wait_for(5s);
  done = true;
  printer.join();
  print_line("stopped id=" + id);
  return 0;
}

// ---- rpcnet director ----------------------------------------------------------------------------

int run_director(const DirectorOptions& options) {
  auto setup = node_setup(options.node);
  auto strategy = cluster::parse_load_balancing_strategy(options.strategy);
  if (!setup || !strategy) {
    std::cerr << "rpcnet director: " << (!setup ? setup.error() : strategy.error()).message() << "\n";
    return 2;
  }
  auto cluster = cluster::ClusterMembership::start(std::move(setup->config), std::move(setup->keys));
  if (!cluster) {
    std::cerr << "rpcnet director: " << cluster.error().message() << "\n";
    return 1;
  }
  (void)cluster->update_tag("role", "director");
  std::atomic<bool> done{false};
  std::thread printer = print_events(cluster->subscribe(), done);
  if (auto joined = cluster->join(setup->seeds); !joined) {
    std::cerr << "rpcnet director: " << joined.error().message() << "\n";
    done = true;
    printer.join();
    return 2;
  }

  auto registry = std::make_shared<cluster::WorkerRegistry>(*cluster, *strategy);
  registry->start();
  Runtime client_loop(1);
  cluster::ClusterClientConfig client_config;
  client_config.rpc = RpcConfig(options.certs + "/ca.pem", "0.0.0.0:0").with_server_name("localhost");
  auto client = std::make_shared<cluster::ClusterClient>(registry, client_config, client_loop.executor(0));

  RpcConfig server_config = RpcConfig(options.certs + "/server.pem", options.rpc)
                                .with_key_path(options.certs + "/server-key.pem");
  if (options.grpc_over_tcp) server_config.with_grpc_over_tcp();
  RpcServer server(std::move(server_config));
  const std::string filter = options.filter;
  // compute: routed to a worker; idempotent, so failures of a worker are retried elsewhere.
  server.register_method("compute", [client, filter](Bytes request) -> asio::awaitable<Result<Bytes>> {
    cluster::WorkerCallOptions call_options;
    call_options.idempotent = true;
    call_options.timeout = 5s;
    call_options.attempt_timeout = 1s;  // a silent worker (partitioned) is left after 1 s
    co_return co_await client->call_worker("compute", std::move(request), filter, call_options);
  });
  // stats: one line per worker: "<id> attempts=<n> failures=<n> last_routed_ms=<steady ms>".
  server.register_method("stats", [client](Bytes) -> asio::awaitable<Result<Bytes>> {
    std::ostringstream out;
    for (const auto& s : client->worker_stats()) {
      out << s.id << " attempts=" << s.attempts << " failures=" << s.failures
          << " last_routed_ms=" << (s.last_routed ? steady_ms(*s.last_routed) : -1) << "\n";
    }
    const std::string text = out.str();
    co_return Bytes(text.begin(), text.end());
  });
  auto bound = server.bind();
  if (!bound) {
    std::cerr << "rpcnet director: " << bound.error().message() << "\n";
    return 1;
  }
  Runtime runtime(1);
  auto serving = asio::co_spawn(runtime.executor(0), server.serve(), asio::use_future);
  const auto grpc = server.grpc_address();
  print_line("ready id=" + options.node.id + " rpc=" + to_string(*bound) +
             " gossip=" + to_string(cluster->advertised_address()) +
             (grpc ? " grpc=" + to_string(*grpc) : std::string()));
  std::thread reporter;
  if (options.report_ms > 0) {
    reporter = std::thread([client, &done, period = std::chrono::milliseconds(options.report_ms)] {
      auto next = std::chrono::steady_clock::now();
      while (!done.load()) {
        next += period;
        std::this_thread::sleep_until(next);
        for (const auto& s : client->worker_stats()) {
          std::ostringstream line;
          line << "routing t_ms=" << steady_ms(std::chrono::steady_clock::now()) << " id=" << s.id
               << " attempts=" << s.attempts << " failures=" << s.failures
               << " last_routed_ms=" << (s.last_routed ? steady_ms(*s.last_routed) : -1);
          print_line(line.str());
        }
      }
    });
  }
  wait_for_signal();
  server.shutdown(2s);
  (void)serving.wait_for(5s);
  cluster->leave(1s);
  (void)cluster->wait_stopped_blocking(2s);
  done = true;
  printer.join();
  if (reporter.joinable()) reporter.join();
  print_line("stopped id=" + options.node.id);
  return 0;
}

// ---- rpcnet members -----------------------------------------------------------------------------

int run_members(const MembersOptions& options) {
  ClusterNodeOptions node = options.node;
  if (node.id.empty()) node.id = "rpcnet-members-" + std::to_string(::getpid());
  auto setup = node_setup(node);
  if (!setup || setup->seeds.empty()) {
    std::cerr << "rpcnet members: " << (setup ? std::string("--seed is required") : setup.error().message()) << "\n";
    return 2;
  }
  auto cluster = cluster::ClusterMembership::start(std::move(setup->config), std::move(setup->keys));
  if (!cluster) {
    std::cerr << "rpcnet members: " << cluster.error().message() << "\n";
    return 1;
  }
  (void)cluster->update_tag("role", "observer");
  auto events = cluster->subscribe();
  if (auto joined = cluster->join(setup->seeds); !joined) {
    std::cerr << "rpcnet members: " << joined.error().message() << "\n";
    return 2;
  }
  // Wait for the first contact, then until the view has been stable for `settle` (push-pull
  // brings the whole table in the first exchange; later joins trickle in through gossip).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options.wait_ms);
  bool contacted = false;
  while (std::chrono::steady_clock::now() < deadline) {
    auto event = events->next_blocking(contacted ? 500ms : 100ms);
    if (event) {
      contacted = true;
      continue;
    }
    if (contacted) break;
  }
  if (!contacted) {
    std::cerr << "rpcnet members: no answer from the seed(s) within " << options.wait_ms
              << " ms (wrong address or cluster key?)\n";
    return 1;
  }
  const auto members = cluster->members();
  std::cout << std::left << std::setw(24) << "ID" << std::setw(24) << "ADDRESS" << std::setw(9) << "STATE"
            << std::setw(6) << "INC" << std::setw(8) << "PHI"
            << "TAGS\n";
  for (const auto& m : members) {
    if (m.id == cluster->id()) continue;
    std::ostringstream phi;
    phi << std::fixed << std::setprecision(2) << m.phi;
    std::cout << std::left << std::setw(24) << m.id << std::setw(24) << to_string(m.address) << std::setw(9)
              << cluster::member_state_name(m.state) << std::setw(6) << m.incarnation << std::setw(8) << phi.str()
              << tags_text(m.tags) << "\n";
  }
  cluster->leave(500ms);
  (void)cluster->wait_stopped_blocking(1s);
  return 0;
}

}  // namespace rpcnet::tool
