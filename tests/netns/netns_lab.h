// A throw-away multi-host lab for tests: a hub network namespace holding a bridge, and one
// namespace per member connected to it by a veth pair (10.250.0.<i+1>/24). Names carry the test
// process id, so concurrent tests do not collide; everything is deleted in the destructor, also
// when the test fails. Loss and partitions are nftables rules inside a member's namespace
// (this kernel has no netem). Processes run in a namespace with `ip netns exec`; their stdout is
// read line by line on a thread, and tests wait for lines with a bound.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "runtime/child_process.h"

namespace rpcnet::netns {

using Clock = std::chrono::steady_clock;
using runtime::Process;

// Runs a shell command; true on exit status 0. Output goes to the test log only on failure.
inline bool sh(const std::string& command) {
  const std::string quiet = command + " >/tmp/rpcnet-netns-last.log 2>&1";
  return std::system(quiet.c_str()) == 0;
}

class Lab {
 public:
  // Why a lab cannot be built (not root, no namespaces); empty when it can.
  static std::string unavailable_reason() {
    if (geteuid() != 0) return "network namespace tests need root (CI runs as root)";
    if (!sh("command -v ip") || !sh("command -v nft")) return "ip or nft is missing (scripts/install-deps.sh)";
    const std::string probe = "rpcnet-probe-" + std::to_string(getpid());
    if (!sh("ip netns add " + probe)) return "cannot create network namespaces here (ip netns add failed)";
    sh("ip netns del " + probe);
    return "";
  }

  explicit Lab(int members) : prefix_("rn" + std::to_string(getpid()) + "-"), members_(members) {
    ok_ = sh("ip netns add " + hub()) && sh(in(hub(), "ip link add br0 type bridge")) &&
          sh(in(hub(), "ip link set br0 up")) && sh(in(hub(), "ip link set lo up"));
    for (int i = 0; ok_ && i < members; ++i) {
      const std::string ns = name(i);
      const std::string a = "v" + std::to_string(i) + "a", b = "v" + std::to_string(i) + "b";
      ok_ = sh("ip netns add " + ns) && sh(in(ns, "ip link set lo up")) &&
            sh(in(ns, "ip link add " + a + " type veth peer name " + b)) &&
            sh(in(ns, "ip link set " + b + " netns " + hub())) &&
            sh(in(ns, "ip addr add " + ip(i) + "/24 dev " + a)) && sh(in(ns, "ip link set " + a + " up")) &&
            sh(in(hub(), "ip link set " + b + " master br0")) && sh(in(hub(), "ip link set " + b + " up")) &&
            sh(in(ns, "nft add table inet rpcnet"));
      if (ok_) {
        ok_ = sh(in(ns, "nft add chain inet rpcnet in '{ type filter hook input priority 0; }'"));
      }
    }
  }
  ~Lab() {
    for (int i = 0; i < members_; ++i) sh("ip netns del " + name(i));
    sh("ip netns del " + hub());
  }
  Lab(const Lab&) = delete;
  Lab& operator=(const Lab&) = delete;

  bool ok() const { return ok_; }
  std::string name(int i) const { return prefix_ + std::to_string(i); }
  std::string hub() const { return prefix_ + "hub"; }
  static std::string ip(int i) { return "10.250.0." + std::to_string(i + 1); }
  static std::string in(const std::string& ns, const std::string& command) {
    return "ip netns exec " + ns + " " + command;
  }

  // Drops every packet member `i` receives from the given members (one direction; call it on
  // both sides for a symmetric partition).
  bool drop_from(int i, const std::vector<int>& from) {
    std::string set;
    for (int j : from) set += (set.empty() ? "" : ", ") + ip(j);
    return sh(in(name(i), "nft add rule inet rpcnet in ip saddr '{ " + set + " }' drop"));
  }
  // Drops `percent` % of the UDP packets member `i` receives, at random.
  bool add_loss(int i, int percent) {
    return sh(in(name(i), "nft add rule inet rpcnet in meta l4proto udp numgen random mod 100 '<' " +
                              std::to_string(percent) + " drop"));
  }
  bool clear_rules(int i) { return sh(in(name(i), "nft flush chain inet rpcnet in")); }
  // Drops every `protocol` ("udp" or "tcp") packet member `i` receives for its port `port`:
  // the sender hears nothing (a firewall that silently blocks UDP, say).
  bool drop_port(int i, const std::string& protocol, std::uint16_t port) {
    return sh(in(name(i), "nft add rule inet rpcnet in " + protocol + " dport " + std::to_string(port) + " drop"));
  }
  // Refuses them instead: each is answered with an ICMP port unreachable.
  bool reject_port(int i, const std::string& protocol, std::uint16_t port) {
    return sh(in(name(i), "nft add rule inet rpcnet in " + protocol + " dport " + std::to_string(port) + " reject"));
  }

  // Waits until a datagram sent from member `from` arrives at member `to` (re-sent every 100 ms,
  // for at most `limit`); true once one did. A lab's links come up asynchronously, and what a
  // member sends in the first moments is lost, its ARP request included, which the kernel
  // repeats only after a second: a test whose first packets must arrive at once (a race between
  // transports, say) calls this first.
  bool wait_for_path(int from, int to, std::chrono::milliseconds limit = std::chrono::seconds(10)) const {
    sockaddr_in target{};
    target.sin_family = AF_INET;
    if (::inet_pton(AF_INET, ip(to).c_str(), &target.sin_addr) != 1) return false;
    const int receiver = socket_in(name(to), AF_INET, SOCK_DGRAM, 0, [&](int fd) {
      socklen_t length = sizeof target;
      return ::bind(fd, reinterpret_cast<const sockaddr*>(&target), sizeof target) == 0 &&
             ::getsockname(fd, reinterpret_cast<sockaddr*>(&target), &length) == 0;
    });
    const int sender = socket_in(name(from), AF_INET, SOCK_DGRAM, 0);
    bool arrived = false;
    if (receiver >= 0 && sender >= 0) {
      const auto end = Clock::now() + limit;
      while (!arrived && Clock::now() < end) {
        const char probe[] = "probe";
        (void)::sendto(sender, probe, sizeof probe, 0, reinterpret_cast<const sockaddr*>(&target), sizeof target);
        pollfd readable{receiver, POLLIN, 0};
        arrived = ::poll(&readable, 1, 100) == 1;
      }
    }
    if (receiver >= 0) ::close(receiver);
    if (sender >= 0) ::close(sender);
    return arrived;
  }

  // A socket created inside namespace `ns` (it stays there; the calling thread does not move):
  // how the test itself plays a host of the lab. -1 on failure. `setup` runs in the namespace
  // too, e.g. to bind or to look up an interface index there.
  static int socket_in(const std::string& ns, int domain, int type, int protocol,
                       const std::function<bool(int fd)>& setup = {}) {
    int result = -1;
    std::thread([&] {
      const int target = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
      if (target < 0) return;
      const bool entered = ::setns(target, CLONE_NEWNET) == 0;
      ::close(target);
      if (!entered) return;  // this thread ends here: nothing else runs in the namespace
      const int fd = ::socket(domain, type | SOCK_CLOEXEC, protocol);
      if (fd >= 0 && setup && !setup(fd)) {
        ::close(fd);
        return;
      }
      result = fd;
    }).join();
    return result;
  }

 private:
  std::string prefix_;
  int members_;
  bool ok_ = false;
};

// Runs `make` on a thread that first enters network namespace `ns`, and returns what it made (a
// default-constructed value when the namespace cannot be entered). Sockets opened and threads
// started there (a server's loops, a Runtime's) stay in `ns`.
template <class F>
auto made_in(const std::string& ns, F make) -> decltype(make()) {
  decltype(make()) made{};
  std::thread([&] {
    const int target = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (target < 0) return;
    const bool entered = ::setns(target, CLONE_NEWNET) == 0;
    ::close(target);
    if (entered) made = make();
  }).join();
  return made;
}

}  // namespace rpcnet::netns
