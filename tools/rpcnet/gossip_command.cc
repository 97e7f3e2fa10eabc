// `rpcnet gossip`: one cluster member, scriptable. Output (stdout, one line each, flushed):
//   ready id=<id> addr=<advertised address>
//   event <kind> id=<member> tags=<k=v,...> t_ms=<steady clock, ms>
//   member id=<id> addr=<address> state=<state> inc=<n> phi=<phi> tags=<k=v,...>   (after `members`)
//   stats in=<packets> out=<packets> auth_drops=<n> replay_drops=<n> malformed=<n>
//         implausible=<n> challenges=<n> validated=<n> withheld=<n> transfers_limited=<n>
//   end
// Commands (stdin, one per line): `tag <key> <value>`, `untag <key>`, `members`, `stats`,
// `leave` (graceful, then exit). End of input also leaves.
#include <gnutls/crypto.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "cluster_tool.h"
#include "commands.h"
#include "rpcnet/cluster/membership.h"

namespace rpcnet::tool {

namespace {

}  // namespace

int run_cluster_key() {
  const auto key = random_cluster_key();
  if (!key) {
    std::cerr << "rpcnet: cannot draw a key: " << key.error() << "\n";
    return 1;
  }
  std::cout << *key << "\n";
  return 0;
}

int run_gossip(const GossipOptions& options) {
  ClusterNodeOptions node_options;
  node_options.id = options.id;
  node_options.gossip = options.bind;
  node_options.preset = options.preset;
  node_options.seeds = options.seeds;
  node_options.key = options.key;
  auto setup = node_setup(node_options);
  if (!setup) {
    std::cerr << "rpcnet gossip: " << setup.error().message() << "\n";
    return 2;
  }
  if (!options.advertise.empty()) {
    auto advertise = parse_socket_address(options.advertise);
    if (!advertise) {
      std::cerr << "rpcnet gossip: --advertise: " << advertise.error().message() << "\n";
      return 2;
    }
    setup->config.advertise_address = *advertise;
  }
  auto member = cluster::ClusterMembership::start(std::move(setup->config), std::move(setup->keys));
  if (!member) {
    std::cerr << "rpcnet gossip: " << member.error().message() << "\n";
    return 1;
  }
  auto& node = *member;
  if (auto tagged = apply_tags(node, options.tags); !tagged) {
    std::cerr << "rpcnet gossip: " << tagged.error().message() << "\n";
    return 2;
  }
  auto events = node.subscribe();
  print_line("ready id=" + node.id() + " addr=" + to_string(node.advertised_address()));
  if (auto joined = node.join(setup->seeds); !joined) {
    std::cerr << "rpcnet gossip: " << joined.error().message() << "\n";
    return 2;
  }

  std::atomic<bool> done{false};
  std::thread printer = print_events(events, done);

  std::string command;
  while (std::getline(std::cin, command)) {
    std::istringstream words(command);
    std::string verb;
    words >> verb;
    if (verb == "tag") {
      std::string key, value;
      words >> key >> value;
      auto status = node.update_tag(key, value);
      if (!status) print_line("error " + status.error().message());
    } else if (verb == "untag") {
      std::string key;
      words >> key;
      auto status = node.remove_tag(key);
      if (!status) print_line("error " + status.error().message());
    } else if (verb == "members") {
      for (const auto& m : node.members()) {
        std::ostringstream line;
        line << "member id=" << m.id << " addr=" << to_string(m.address)
             << " state=" << cluster::member_state_name(m.state) << " inc=" << m.incarnation
             << " phi=" << m.phi << " tags=" << tags_text(m.tags);
        print_line(line.str());
      }
      print_line("end");
    } else if (verb == "stats") {
      const auto s = node.stats();
      std::ostringstream line;
      line << "stats in=" << s.packets_in << " out=" << s.packets_out << " auth_drops=" << s.dropped_auth
           << " replay_drops=" << s.dropped_replay << " malformed=" << s.dropped_malformed
           << " implausible=" << s.dropped_implausible << " challenges=" << s.challenges_sent
           << " validated=" << s.addresses_validated << " withheld=" << s.replies_withheld
           << " transfers_limited=" << s.state_transfers_limited;
      print_line(line.str());
    } else if (verb == "leave") {
      break;
    } else if (!verb.empty()) {
      print_line("error unknown command " + verb);
    }
  }
  node.leave(std::chrono::seconds(2));
  (void)node.wait_stopped_blocking(std::chrono::seconds(3));
  done = true;
  printer.join();
  print_line("left");
  return 0;
}

}  // namespace rpcnet::tool
