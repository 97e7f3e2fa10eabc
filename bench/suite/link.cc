#include "link.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace bench {

namespace {

// Runs a shell command quietly; true on exit status 0.
bool sh(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()) == 0; }

// What the signal handler may touch: fixed slots, filled before they are marked used.
constexpr int kSlots = 4;
char g_namespace_paths[kSlots][160];
std::atomic<bool> g_namespace_used[kSlots];
std::atomic<pid_t> g_children[kSlots];

// Runs a command (no shell) with its output discarded; true on exit status 0. The child is
// tracked while it runs, so a signal in the middle of the set-up kills it before the handler
// deletes the namespaces (an `ip netns add` finishing after the handler would leak one).
bool run_quietly(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  const bool spawned = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ) == 0;
  posix_spawn_file_actions_destroy(&actions);
  if (!spawned) return false;
  track_child(pid);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  untrack_child(pid);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::string joined(const std::vector<std::string>& argv) {
  std::string text;
  for (const auto& arg : argv) text += (text.empty() ? "" : " ") + arg;
  return text;
}

void remember_namespace(const std::string& name) {
  for (int i = 0; i < kSlots; ++i) {
    if (g_namespace_used[i].load()) continue;
    std::snprintf(g_namespace_paths[i], sizeof g_namespace_paths[i], "/run/netns/%s", name.c_str());
    g_namespace_used[i].store(true);
    return;
  }
}

void forget_namespace(const std::string& name) {
  const std::string path = "/run/netns/" + name;
  for (int i = 0; i < kSlots; ++i) {
    if (g_namespace_used[i].load() && path == g_namespace_paths[i]) g_namespace_used[i].store(false);
  }
}

// `ip netns del` is exactly this: the namespace goes once no process and no mount holds it.
void on_signal(int signal) {
  for (auto& child : g_children) {
    const pid_t pid = child.load();
    if (pid > 0 && ::kill(pid, SIGKILL) == 0) ::waitpid(pid, nullptr, 0);  // out of the namespace
  }
  for (int i = 0; i < kSlots; ++i) {
    if (!g_namespace_used[i].load()) continue;
    ::umount2(g_namespace_paths[i], MNT_DETACH);
    ::unlink(g_namespace_paths[i]);
  }
  ::signal(signal, SIG_DFL);
  ::raise(signal);
}

}  // namespace

std::string LinkSpec::metric_name(const std::string& base) const {
  if (unpinned) return "unpinned_" + base;
  if (!namespaces) return base;
  std::string name = "veth_" + base;
  if (loss_percent > 0) {
    const auto unit = name.rfind('_');
    name.insert(unit, "_loss" + std::to_string(loss_percent));
  }
  return name;
}

std::string LinkSpec::title() const {
  if (unpinned) return "loopback, unpinned (secondary table: the scheduler places server and client)";
  if (!namespaces) return "loopback (127.0.0.1, MTU 65536)";
  std::string text = "veth (two network namespaces, MTU 1500)";
  if (loss_percent > 0) text = "veth, " + std::to_string(loss_percent) + " % loss each way (nftables, MTU 1500)";
  return text;
}

std::optional<LinkSpec> parse_link(const std::string& name) {
  if (name == "loopback") return LinkSpec{name, false, 0};
  if (name == "veth") return LinkSpec{name, true, 0};
  if (name == "veth-loss1") return LinkSpec{name, true, 1};
  if (name == "loopback-unpinned") return LinkSpec{name, false, 0, true};
  return std::nullopt;
}

std::string NetnsPair::unavailable_reason(const LinkSpec& link) {
  if (::geteuid() != 0) return "the " + link.id + " link needs root (network namespaces)";
  if (!sh("command -v ip")) return "the " + link.id + " link needs `ip` (iproute2; scripts/install-deps.sh)";
  if (link.loss_percent > 0 && !sh("command -v nft")) {
    return "the " + link.id + " link needs `nft` (nftables; scripts/install-deps.sh)";
  }
  return "";
}

NetnsPair::NetnsPair(const LinkSpec& link, int subnet) {
  const std::string prefix = "rpcnet-bench-" + std::to_string(::getpid()) + "-" + link.id;
  server_ns_ = prefix + "-server";
  client_ns_ = prefix + "-client";
  const std::string net = "10.250." + std::to_string(subnet) + ".";
  server_address_ = net + "1";
  client_address_ = net + "2";
  const auto step = [&](const std::vector<std::string>& argv) {
    if (error_.empty() && !run_quietly(argv)) error_ = "failed: " + joined(argv);
  };
  // Remembered before they exist: a signal between `add` and the end of the set-up still
  // deletes whatever was made.
  remember_namespace(server_ns_);
  remember_namespace(client_ns_);
  for (const auto& ns : {server_ns_, client_ns_}) {
    // A namespace of that name can only be left over from a killed run whose pid we now have.
    (void)run_quietly({"ip", "netns", "del", ns});
    step({"ip", "netns", "add", ns});
  }
  // Both ends are created inside the namespaces: nothing appears in ours, even for a moment.
  step({"ip", "-n", server_ns_, "link", "add", "veth0", "mtu", "1500", "type", "veth", "peer", "name", "veth0", "mtu",
        "1500", "netns", client_ns_});
  step({"ip", "-n", server_ns_, "addr", "add", server_address_ + "/24", "dev", "veth0"});
  step({"ip", "-n", client_ns_, "addr", "add", client_address_ + "/24", "dev", "veth0"});
  for (const auto& ns : {server_ns_, client_ns_}) {
    step({"ip", "-n", ns, "link", "set", "lo", "up"});
    step({"ip", "-n", ns, "link", "set", "veth0", "up"});
    if (link.loss_percent > 0) {
      const std::vector<std::string> nft = {"ip", "netns", "exec", ns, "nft"};
      const auto with = [&](std::vector<std::string> rest) {
        rest.insert(rest.begin(), nft.begin(), nft.end());
        return rest;
      };
      step(with({"add", "table", "inet", "rpcnet_bench"}));
      step(with({"add", "chain", "inet", "rpcnet_bench", "in", "{ type filter hook input priority 0; }"}));
      step(with({"add", "rule", "inet", "rpcnet_bench", "in", "meta", "l4proto", "{ tcp, udp }", "numgen", "random",
                 "mod", "100", "<", std::to_string(link.loss_percent), "drop"}));
    }
  }
}

NetnsPair::~NetnsPair() {
  for (const auto& ns : {client_ns_, server_ns_}) {
    if (!run_quietly({"ip", "netns", "del", ns}) && std::filesystem::exists("/run/netns/" + ns)) {
      std::fprintf(stderr, "bench: could not delete namespace %s\n", ns.c_str());
    }
    forget_namespace(ns);
  }
}

std::vector<std::string> NetnsPair::in_server(const std::vector<std::string>& argv) const {
  std::vector<std::string> full = {"ip", "netns", "exec", server_ns_};
  full.insert(full.end(), argv.begin(), argv.end());
  return full;
}

std::vector<std::string> NetnsPair::in_client(const std::vector<std::string>& argv) const {
  std::vector<std::string> full = {"ip", "netns", "exec", client_ns_};
  full.insert(full.end(), argv.begin(), argv.end());
  return full;
}

void install_cleanup_on_signals() {
  struct sigaction action{};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  for (int signal : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(signal, &action, nullptr);
}

void track_child(pid_t pid) {
  for (auto& child : g_children) {
    pid_t empty = 0;
    if (child.compare_exchange_strong(empty, pid)) return;
  }
}

void untrack_child(pid_t pid) {
  for (auto& child : g_children) {
    pid_t expected = pid;
    child.compare_exchange_strong(expected, 0);
  }
}

}  // namespace bench
