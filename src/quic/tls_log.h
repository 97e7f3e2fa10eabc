// GnuTLS and the log: its global debug log routed through the sink (tls=trace), and the
// SSLKEYLOGFILE key log that lets Wireshark / tshark decrypt a capture (doc/operations.md).
#pragma once

#include <string>

struct gnutls_session_int;

namespace rpcnet::quic {

// Installs GnuTLS's global log function when tls=trace is on, and quiets it again when it is
// off. Cheap when nothing changed (a relaxed load); called as credentials and sessions are made.
void sync_gnutls_log();

// SSLKEYLOGFILE as credentials are created: "" when unset or empty. Opens the file (appending)
// and logs, once per process, a tls warning that secrets are being written. A file that cannot
// be opened is reported (tls error) and the key log stays off.
std::string key_log_from_environment();

// Writes `session`'s secrets to the key log in NSS key log format (what Wireshark reads).
void attach_key_log(gnutls_session_int* session);

}  // namespace rpcnet::quic
