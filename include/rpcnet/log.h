// rpcnet/log.h — what the library tells an operator: structured log records, per-component
// levels, and one process-wide sink.
//
// Contract:
//   - Off by default. The default sink writes one logfmt line per record to stderr, e.g.
//       time=2026-12-06T08:00:00.123Z level=warn component=tls msg="handshake failed"
//       conn=5f1c... peer=127.0.0.1:4433 alert=no_application_protocol
//     and its levels come from the environment variable RPCNET_LOG, read once on first use:
//     `RPCNET_LOG=info` (every component), `RPCNET_LOG=quic=debug,cluster=info` (per component,
//     the rest off), or both (`warn,quic=trace`: quic at trace, the rest at warn). A malformed
//     entry is ignored and reported once on stderr; nothing in RPCNET_LOG can crash a process.
//   - set_log_sink(level, sink) replaces the sink (process-wide, thread-safe) and sets every
//     component to `level`; set_log_level() then adjusts one component. When set_log_sink
//     returns, no thread is still inside the old sink. restore_default_log_sink() returns to the
//     stderr sink and the levels of RPCNET_LOG.
//   - The sink is called with one record at a time (calls are serialised: it need not be
//     thread-safe), from whichever thread logged — often an event loop, so it must be quick and
//     must not block on the network. A record logged from inside the sink itself is dropped, and
//     the sink must not call set_log_sink / restore_default_log_sink.
//   - A disabled level costs one relaxed atomic load at the call site; the record's message and
//     fields are not evaluated.
//   - Components and what they log at each level are listed in doc/operations.md. Fields are
//     key/value text, keys from a fixed vocabulary: conn (the connection's first destination
//     connection ID, hex, the same on both sides), stream, peer, method, code, alert, reason,
//     member, state, worker ...
//   - Trace is for debugging the library: `quic=trace` routes ngtcp2's own debug log (set when a
//     connection is created), `tls=trace` routes GnuTLS's global debug log through the sink.
//
// Example:
//   #include <cstdio>
//   #include "rpcnet/log.h"
//
//   void log_warnings_to_my_logger() {
//     rpcnet::set_log_sink(rpcnet::LogLevel::kWarn, [](const rpcnet::LogRecord& record) {
//       const std::string* peer = record.field("peer");
//       std::fprintf(stderr, "[rpcnet %s] %s%s%s\n", rpcnet::to_string(record.component).data(),
//                    record.message.c_str(), peer ? " peer=" : "", peer ? peer->c_str() : "");
//     });
//     rpcnet::set_log_level(rpcnet::LogComponent::kMembership, rpcnet::LogLevel::kInfo);
//   }
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rpcnet {

// Ordered by verbosity: a component at level L emits records of level <= L.
enum class LogLevel : std::uint8_t { kOff, kError, kWarn, kInfo, kDebug, kTrace };

enum class LogComponent : std::uint8_t {
  kQuic,        // connections, streams, admission (refusals), ngtcp2's trace
  kTls,         // handshakes, certificates, SSLKEYLOGFILE, GnuTLS's trace
  kRpc,         // calls
  kCluster,     // the cluster client: workers, ejections
  kMembership,  // SWIM: members alive / suspect / dead / left
};
inline constexpr std::size_t kLogComponentCount = 5;

struct LogField {
  std::string key;
  std::string value;
};

struct LogRecord {
  std::chrono::system_clock::time_point time;
  LogLevel level = LogLevel::kInfo;
  LogComponent component = LogComponent::kRpc;
  std::string message;
  std::vector<LogField> fields;

  // The value of the first field named `key`, or nullptr.
  const std::string* field(std::string_view key) const;
};

using LogSink = std::function<void(const LogRecord&)>;

// Replaces the sink and sets every component to `level`. An empty `sink` means the default
// stderr sink (at `level`, ignoring RPCNET_LOG).
void set_log_sink(LogLevel level, LogSink sink);
// The default stderr sink with the levels RPCNET_LOG gives.
void restore_default_log_sink();

void set_log_level(LogComponent component, LogLevel level);
LogLevel log_level(LogComponent component);

std::string_view to_string(LogLevel level);          // "off", "error", ... "trace"
std::string_view to_string(LogComponent component);  // "quic", "tls", "rpc", "cluster", "membership"
std::optional<LogLevel> parse_log_level(std::string_view text);          // as to_string
std::optional<LogComponent> parse_log_component(std::string_view text);  // as to_string

// The default sink's line (no newline): time=<UTC ISO 8601, ms> level=.. component=.. msg=".."
// then key=value per field; values with spaces, quotes, '=' or control bytes are quoted and
// escaped, so one record is always one line.
std::string format_log_record(const LogRecord& record);

}  // namespace rpcnet
