// The links the suite measures over (`rpcnet_bench run --link ...`), and the network namespaces
// behind the real ones.
//
//   loopback    server and client in the orchestrator's namespace, 127.0.0.1 (MTU 65536: large
//               datagrams and 64 KiB TCP segments flatter both sides, differently)
//   veth        two fresh network namespaces joined by a veth pair with MTU 1500, GSO/GRO as the
//               kernel gives them; the server in one, the client in the other
//   veth-loss1  the same, with nftables in each namespace dropping 1 % of the received TCP and
//               UDP packets at random (1 % each way; this kernel has no netem)
//   loopback-unpinned  loopback with server and client left to the scheduler (whatever --pin
//               says): the secondary table beside the pinned one, for the headline scenarios
//
// Namespace names carry the orchestrator's pid and the link, so concurrent runs do not collide.
// They are deleted when their NetnsPair goes, and by the SIGINT/SIGTERM/SIGHUP handler that
// install_cleanup_on_signals() installs (which also kills the tracked server and client).
//
// Example:
//   auto link = parse_link("veth-loss1");
//   NetnsPair pair(*link, 200);
//   if (!pair.ok()) return;  // pair.error() says why
//   Process server(pair.in_server({"rpcnet_bench", "server", ...}));
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace bench {

struct LinkSpec {
  std::string id;  // "loopback" | "veth" | "veth-loss1" | "loopback-unpinned"
  bool namespaces = false;
  int loss_percent = 0;
  bool unpinned = false;  // server and client not pinned, whatever the run's --pin

  // A result name on this link: loopback names stay as they are, veth ones get the prefix
  // `veth_`, lossy ones `_loss<N>` before the unit: unary_seq_p99_us -> veth_unary_seq_p99_loss1_us;
  // unpinned ones the prefix `unpinned_`.
  std::string metric_name(const std::string& base) const;
  // For headers: "loopback (127.0.0.1, MTU 65536)" and the like.
  std::string title() const;
};

// nullopt for an unknown name.
std::optional<LinkSpec> parse_link(const std::string& name);

// Two network namespaces joined by a veth pair (MTU 1500): the server's at 10.250.<subnet>.1,
// the client's at 10.250.<subnet>.2, with the link's loss as nftables rules in both.
class NetnsPair {
 public:
  // Why namespaces cannot be made here (not root, `ip` or `nft` missing); empty if they can.
  static std::string unavailable_reason(const LinkSpec& link);

  NetnsPair(const LinkSpec& link, int subnet);
  ~NetnsPair();
  NetnsPair(const NetnsPair&) = delete;
  NetnsPair& operator=(const NetnsPair&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  const std::string& server_ns() const { return server_ns_; }
  const std::string& client_ns() const { return client_ns_; }
  const std::string& server_address() const { return server_address_; }
  const std::string& client_address() const { return client_address_; }

  // argv run inside the server's / the client's namespace (`ip netns exec`, which execs in place:
  // the pid is the program's own).
  std::vector<std::string> in_server(const std::vector<std::string>& argv) const;
  std::vector<std::string> in_client(const std::vector<std::string>& argv) const;

 private:
  std::string server_ns_;
  std::string client_ns_;
  std::string server_address_;
  std::string client_address_;
  std::string error_;
};

// SIGINT, SIGTERM and SIGHUP kill the tracked children, delete the namespaces that exist, then
// end the process with the same signal. Only async-signal-safe calls run in the handler.
void install_cleanup_on_signals();
// Children the handler kills (at most a few at a time: one server, one client).
void track_child(pid_t pid);
void untrack_child(pid_t pid);

}  // namespace bench
