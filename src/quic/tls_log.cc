#include "quic/tls_log.h"

#include <gnutls/gnutls.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "base/logging.h"

namespace rpcnet::quic {

namespace {

// GnuTLS's levels run 0..99; 5 shows every handshake message and record without dumping
// buffers (9 and above).
constexpr int kGnutlsTraceLevel = 5;

void gnutls_log_line(int level, const char* text) {
  std::string_view line(text);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  RPCNET_LOG(kTls, kTrace, std::string(line), {{"gnutls_level", std::to_string(level)}});
}

// The key log: one file per process, opened when credentials find SSLKEYLOGFILE set (a later
// different path replaces it). Appended to under a lock: every loop's handshakes write here.
struct KeyLog {
  std::mutex mutex;
  std::string path;
  std::FILE* file = nullptr;
};

KeyLog& key_log() {
  static KeyLog* instance = new KeyLog();  // never destroyed: sessions may outlive main's statics
  return *instance;
}

// NSS key log line: <label> <client random, hex> <secret, hex>.
int write_key_log_line(gnutls_session_t session, const char* label, const gnutls_datum_t* secret) {
  gnutls_datum_t client_random{};
  gnutls_datum_t server_random{};
  gnutls_session_get_random(session, &client_random, &server_random);
  std::string line = label;
  line += ' ';
  line += log_detail::hex(client_random.data, client_random.size);
  line += ' ';
  line += log_detail::hex(secret->data, secret->size);
  line += '\n';
  KeyLog& log = key_log();
  std::lock_guard lock(log.mutex);
  if (log.file != nullptr) {
    std::fwrite(line.data(), 1, line.size(), log.file);
    std::fflush(log.file);  // a capture is often decrypted while the process still runs
  }
  return 0;
}

}  // namespace

void sync_gnutls_log() {
  static std::atomic<bool> installed{false};
  static std::mutex mutex;
  const bool wanted = RPCNET_LOG_ENABLED(kTls, kTrace);
  if (wanted == installed.load(std::memory_order_relaxed)) return;
  std::lock_guard lock(mutex);
  if (wanted) {
    gnutls_global_set_log_function(gnutls_log_line);
    gnutls_global_set_log_level(kGnutlsTraceLevel);
  } else {
    gnutls_global_set_log_level(0);
  }
  installed.store(wanted, std::memory_order_relaxed);
}

std::string key_log_from_environment() {
  const char* value = std::getenv("SSLKEYLOGFILE");
  if (value == nullptr || *value == '\0') return {};
  const std::string path = value;
  KeyLog& log = key_log();
  {
    std::lock_guard lock(log.mutex);
    if (log.file != nullptr && log.path == path) return path;
    std::FILE* file = std::fopen(path.c_str(), "a");
    if (file == nullptr) {
      const std::string why = std::strerror(errno);
      RPCNET_LOG(kTls, kError, "SSLKEYLOGFILE cannot be opened: no key log",
                 {{"path", path}, {"reason", why}});
      return {};
    }
    if (log.file != nullptr) std::fclose(log.file);
    log.file = file;
    log.path = path;
  }
  static std::once_flag warned;
  std::call_once(warned, [&] {
    RPCNET_LOG(kTls, kWarn,
               "SSLKEYLOGFILE is set: TLS secrets are written to it, and whoever reads it can "
               "decrypt this process's traffic",
               {{"path", path}});
  });
  return path;
}

void attach_key_log(gnutls_session_t session) {
  gnutls_session_set_keylog_function(session, write_key_log_line);
}

}  // namespace rpcnet::quic
