#include "quic/client_credentials_cache.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>

namespace rpcnet::quic {

ClientCredentialsCache& ClientCredentialsCache::process() {
  static ClientCredentialsCache cache;
  return cache;
}

std::string ClientCredentialsCache::key_of(const ClientTlsOptions& options) {
  // NUL cannot occur in a path, a name or a group: it separates the fields unambiguously.
  std::string key;
  for (const std::string* field : {&options.trust_path, &options.cert_path, &options.key_path, &options.server_name,
                                   &options.alpn, &options.resumption_key}) {
    key += *field;
    key += '\0';
  }
  for (const std::string& group : options.groups) {
    key += group;
    key += '\0';
  }
  // Credentials decide on the key log when they are built (tls_log.h): SSLKEYLOGFILE set or
  // changed later must not be missed by a cached entry.
  const char* key_log = std::getenv("SSLKEYLOGFILE");
  key += key_log == nullptr ? "" : key_log;
  return key;
}

bool ClientCredentialsCache::stamp_files(const ClientTlsOptions& options, std::vector<FileStamp>& stamps) {
  stamps.clear();
  for (const std::string* path : {&options.trust_path, &options.cert_path, &options.key_path}) {
    if (path->empty()) {
      stamps.emplace_back();
      continue;
    }
    struct stat info {};
    if (::stat(path->c_str(), &info) != 0) return false;
    stamps.push_back(FileStamp{static_cast<std::uint64_t>(info.st_dev), static_cast<std::uint64_t>(info.st_ino),
                               static_cast<std::int64_t>(info.st_size),
                               static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec,
                               static_cast<std::int64_t>(info.st_ctim.tv_sec) * 1'000'000'000 + info.st_ctim.tv_nsec});
  }
  return true;
}

Result<std::shared_ptr<const TlsCredentials>> ClientCredentialsCache::get(const ClientTlsOptions& options) {
  std::vector<FileStamp> stamps;
  if (capacity_ == 0 || !stamp_files(options, stamps)) {
    return TlsCredentials::for_client(options);  // its error names the file
  }
  const std::string key = key_of(options);
  MutexLock lock(mutex_);
  const auto same_key = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.key == key; });
  if (same_key != entries_.end() && same_key->stamps == stamps) {
    same_key->last_used = ++clock_;
    return same_key->credentials;
  }
  // Built under the lock: rare (a new server or changed files), and two connects racing for the
  // same entry then build it once.
  auto built = TlsCredentials::for_client(options);
  if (!built) return built;
  if (same_key != entries_.end()) {
    same_key->stamps = std::move(stamps);
    same_key->credentials = *built;
    same_key->last_used = ++clock_;
    return built;
  }
  if (entries_.size() >= capacity_) {
    const auto oldest = std::min_element(entries_.begin(), entries_.end(),
                                         [](const Entry& a, const Entry& b) { return a.last_used < b.last_used; });
    entries_.erase(oldest);
  }
  entries_.push_back(Entry{key, std::move(stamps), *built, ++clock_});
  return built;
}

std::size_t ClientCredentialsCache::size() const {
  MutexLock lock(mutex_);
  return entries_.size();
}

}  // namespace rpcnet::quic
