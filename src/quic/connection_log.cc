#include "quic/connection_log.h"

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>

#include <cstdarg>
#include <cstdio>

#include "base/logging.h"
#include "quic/connection.h"

namespace rpcnet::quic {

namespace {

// RFC 8446's name for `alert` ("no_application_protocol"), from GnuTLS's enum name
// ("GNUTLS_A_NO_APPLICATION_PROTOCOL"); the number when GnuTLS does not know it.
std::string alert_name(unsigned alert) {
  const char* name = gnutls_alert_get_strname(static_cast<gnutls_alert_description_t>(alert));
  if (name == nullptr) return std::to_string(alert);
  std::string_view text(name);
  if (text.rfind("GNUTLS_A_", 0) == 0) text.remove_prefix(9);
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

std::vector<LogField> Connection::log_fields(std::initializer_list<LogField> more) const {
  std::vector<LogField> fields;
  fields.reserve(2 + more.size());
  if (conn_ != nullptr) {
    const ngtcp2_cid* cid = ngtcp2_conn_get_client_initial_dcid(conn_);
    fields.push_back({"conn", log_detail::hex(cid->data, cid->datalen)});
  }
  fields.push_back({"peer", to_string(remote_)});
  fields.insert(fields.end(), more.begin(), more.end());
  return fields;
}

// A handshake that failed is the operator's business (warn: a client with the wrong
// certificate or protocol); a connection that never opened otherwise (timeout, refusal) is info
// on the client; an open connection's end is debug: idle timeouts and closes are routine.
void Connection::log_closed() const {
  if (!close_error_) return;
  const RpcError& error = *close_error_;
  const char* side = role_ == Role::kClient ? "client" : "server";
  if (error.kind() == ErrorKind::kTls) {
    RPCNET_LOG_LIMITED(kTls, kWarn, "handshake failed", [&] {
      auto fields = log_fields({{"side", side}});
      unsigned alert = tls_alert_;
      if (alert == 0 && conn_ != nullptr) {  // the peer's alert, from its CONNECTION_CLOSE
        const ngtcp2_ccerr* received = ngtcp2_conn_get_ccerr(conn_);
        if ((received->error_code & ~std::uint64_t{0xff}) == NGTCP2_CRYPTO_ERROR) {
          alert = static_cast<unsigned>(received->error_code & 0xff);
        }
      }
      if (alert != 0) fields.push_back({"alert", alert_name(alert)});
      fields.push_back({"reason", error.message()});
      return fields;
    }());
  } else if (!handshake_completed_) {
    RPCNET_LOG_LIMITED(kQuic, kInfo, "connection failed before its handshake completed",
               log_fields({{"side", side}, {"reason", error.message()}}));
  } else {
    RPCNET_LOG(kQuic, kDebug, "connection closed",
               log_fields({{"side", side}, {"reason", error.message()}}));
  }
}

void log_ngtcp2_line(void* user_data, const char* format, ...) {
  if (!RPCNET_LOG_ENABLED(kQuic, kTrace)) return;
  char line[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(line, sizeof line, format, args);
  va_end(args);
  const auto* connection = static_cast<const Connection*>(user_data);
  RPCNET_LOG(kQuic, kTrace, line, connection->log_fields());
}

}  // namespace rpcnet::quic
