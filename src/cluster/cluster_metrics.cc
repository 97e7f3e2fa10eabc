#include "cluster/cluster_metrics.h"

#include <array>

namespace rpcnet::cluster {
namespace {

// One counter family per MembershipCounters field, named after it.
struct CounterField {
  const char* name;
  const char* help;
  std::uint64_t MembershipCounters::*field;
};

constexpr CounterField kMembershipCounters[] = {
    {"rpcnet_membership_packets_in_total", "Gossip packets received.", &MembershipCounters::packets_in},
    {"rpcnet_membership_packets_out_total", "Gossip packets sent.", &MembershipCounters::packets_out},
    {"rpcnet_membership_bytes_in_total", "Gossip bytes received.", &MembershipCounters::bytes_in},
    {"rpcnet_membership_bytes_out_total", "Gossip bytes sent.", &MembershipCounters::bytes_out},
    {"rpcnet_membership_probes_sent_total", "Direct probes sent.", &MembershipCounters::probes_sent},
    {"rpcnet_membership_indirect_probes_sent_total", "Indirect probe requests sent.", &MembershipCounters::indirect_probes_sent},
    {"rpcnet_membership_nacks_sent_total", "Nacks sent for indirect probes.", &MembershipCounters::nacks_sent},
    {"rpcnet_membership_suspicions_raised_total", "Members this node started suspecting.", &MembershipCounters::suspicions_raised},
    {"rpcnet_membership_refutations_total", "Suspicions of this node it refuted.", &MembershipCounters::refutations},
    {"rpcnet_membership_push_pulls_sent_total", "Anti-entropy exchanges started.", &MembershipCounters::push_pulls_sent},
    {"rpcnet_membership_push_pulls_in_sync_total", "Anti-entropy digests that matched this node's view.", &MembershipCounters::push_pulls_in_sync},
    {"rpcnet_membership_stale_rumors_corrected_total", "Stale suspect/dead rumours answered with the newer record.", &MembershipCounters::stale_rumors_corrected},
    {"rpcnet_membership_join_attempts_total", "Join attempts.", &MembershipCounters::join_attempts},
    {"rpcnet_membership_challenges_sent_total", "Round trips asked of unproven addresses.", &MembershipCounters::challenges_sent},
    {"rpcnet_membership_addresses_validated_total", "Challenges answered from the address they went to.", &MembershipCounters::addresses_validated},
};

struct DropReason {
  const char* reason;
  std::uint64_t MembershipCounters::*field;
};

constexpr DropReason kDropReasons[] = {
    {"malformed", &MembershipCounters::dropped_malformed},
    {"auth", &MembershipCounters::dropped_auth},
    {"replay", &MembershipCounters::dropped_replay},
    {"oversize", &MembershipCounters::dropped_oversize},
    {"member_cap", &MembershipCounters::dropped_member_cap},
    {"invalid_message", &MembershipCounters::dropped_invalid_message},
    {"event_queue", &MembershipCounters::dropped_events},
    {"relay_table", &MembershipCounters::dropped_relays},
    {"implausible", &MembershipCounters::dropped_implausible},
    {"unaddressed", &MembershipCounters::dropped_unaddressed},
    {"reply_withheld", &MembershipCounters::replies_withheld},
    {"state_transfer_rate", &MembershipCounters::state_transfers_limited},
};

}  // namespace

CollectorHandle collect_membership_metrics(MetricsRegistry& registry, std::function<MembershipSnapshot()> read) {
  return registry.add_collector([read = std::move(read)](MetricsWriter& out) {
    const MembershipSnapshot snapshot = read();
    for (const CounterField& c : kMembershipCounters) {
      out.counter(c.name, c.help, {}, static_cast<double>(snapshot.counters.*(c.field)));
    }
    for (const DropReason& d : kDropReasons) {
      out.counter("rpcnet_membership_dropped_total", "Gossip input dropped or withheld, by reason.", {{"reason", d.reason}},
                  static_cast<double>(snapshot.counters.*(d.field)));
    }
    std::array<std::uint64_t, 4> by_state{};
    for (const Member& member : snapshot.members) ++by_state.at(static_cast<std::size_t>(member.state));
    for (MemberState state : {MemberState::kAlive, MemberState::kSuspect, MemberState::kDead, MemberState::kLeft}) {
      out.gauge("rpcnet_membership_members", "Members in this node's view (itself included), by state.",
                {{"state", std::string(member_state_name(state))}}, static_cast<double>(by_state[static_cast<std::size_t>(state)]));
    }
  });
}

CollectorHandle collect_cluster_client_metrics(MetricsRegistry& registry, const ClusterClient& client) {
  return registry.add_collector([&client](MetricsWriter& out) {
    for (const WorkerStats& worker : client.worker_stats()) {
      const MetricLabels labels = {{"worker", worker.id}};
      out.counter("rpcnet_cluster_client_attempts_total", "Attempts routed to the worker (retries and hedges included).",
                  labels, static_cast<double>(worker.attempts));
      out.counter("rpcnet_cluster_client_attempt_failures_total", "Attempts on the worker that failed.", labels,
                  static_cast<double>(worker.failures));
      const auto load = client.registry()->load(worker.id);
      out.gauge("rpcnet_cluster_client_in_flight", "Attempts in flight on the worker now.", labels,
                load ? static_cast<double>(load->in_flight) : 0.0);
    }
    const ClusterClientStats totals = client.stats();
    out.counter("rpcnet_cluster_client_retries_total", "Retries started.", {}, static_cast<double>(totals.retries));
    out.counter("rpcnet_cluster_client_hedges_total", "Hedged attempts started.", {}, static_cast<double>(totals.hedges));
    out.counter("rpcnet_cluster_client_budget_exhausted_total", "Retries or hedges not sent: the retry budget was empty.",
                {{"kind", "retry"}}, static_cast<double>(totals.retries_suppressed_by_budget));
    out.counter("rpcnet_cluster_client_budget_exhausted_total", "Retries or hedges not sent: the retry budget was empty.",
                {{"kind", "hedge"}}, static_cast<double>(totals.hedges_suppressed_by_budget));
    out.counter("rpcnet_cluster_client_ejections_total", "Workers set aside after their connection failed.", {},
                static_cast<double>(totals.ejections));
    out.counter("rpcnet_cluster_client_connections_dropped_for_restart_total",
                "Pooled connections closed because their worker restarted.", {},
                static_cast<double>(totals.connections_dropped_for_restart));
  });
}

}  // namespace rpcnet::cluster
