// rpcnet/cluster/membership_counters.h — what a cluster member has sent, received and refused.
//
// Contract: monotonically growing counts since the member started; ClusterMembership::stats()
// returns a copy. The dropped_* counters are how untrusted input shows up: nothing malformed,
// unauthenticated, replayed or oversized is ever acted on, it is counted here.
//
// Example:
//   #include <iostream>
//
//   #include "rpcnet/cluster/membership.h"
//
//   void report_foreign_keys(const rpcnet::cluster::ClusterMembership& member) {
//     const auto s = member.stats();
//     if (s.dropped_auth > 0) std::cerr << s.dropped_auth << " packets sealed with a key we do not hold\n";
//   }
#pragma once

#include <cstdint>

namespace rpcnet::cluster {

struct MembershipCounters {
  std::uint64_t packets_in = 0;
  std::uint64_t packets_out = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t dropped_malformed = 0;
  std::uint64_t dropped_auth = 0;  // wrong key / tag mismatch
  std::uint64_t dropped_replay = 0;
  std::uint64_t dropped_oversize = 0;
  std::uint64_t probes_sent = 0;
  std::uint64_t indirect_probes_sent = 0;
  std::uint64_t nacks_sent = 0;
  std::uint64_t suspicions_raised = 0;
  std::uint64_t refutations = 0;
  // rpcnet additions.
  std::uint64_t dropped_member_cap = 0;    // new members refused: table full (max_members)
  std::uint64_t dropped_invalid_message = 0;  // well-formed packet, message rejected (e.g. tags)
  std::uint64_t dropped_events = 0;        // core event queue overflow (driver not draining)
  std::uint64_t dropped_relays = 0;        // ping-req refused: relay table full
  std::uint64_t push_pulls_sent = 0;       // anti-entropy exchanges started (a digest sent)
  std::uint64_t push_pulls_in_sync = 0;    // digests received that matched our view: nothing to send
  std::uint64_t stale_rumors_corrected = 0;  // suspect/dead at an old incarnation: sender sent our record
  std::uint64_t join_attempts = 0;
  // Abuse the membership resisted (doc/membership.md, "Threat model").
  std::uint64_t dropped_implausible = 0;  // boot id or incarnation beyond max_clock_skew ahead
  std::uint64_t dropped_unaddressed = 0;  // a message other than a join in an unaddressed packet
  std::uint64_t replies_withheld = 0;     // a reply larger than its request, to an unproven address
  std::uint64_t challenges_sent = 0;      // round trips asked of an unproven address
  std::uint64_t addresses_validated = 0;  // challenges answered from the address they went to
  std::uint64_t state_transfers_limited = 0;  // join replies / digest answers over the per-peer rate
};

}  // namespace rpcnet::cluster
