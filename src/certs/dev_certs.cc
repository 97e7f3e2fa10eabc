// Development certificates: a throwaway CA and, signed by it, a server and a client
// certificate, generated with GnuTLS and written as PEM files (see rpcnet/certs.h).
#include "rpcnet/certs.h"

#include "rpcnet/bytes.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace rpcnet {

namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Ownership of GnuTLS objects

template <class Handle, void (*Free)(Handle)>
struct Release {
  void operator()(Handle handle) const noexcept { Free(handle); }
};

template <class Handle, void (*Free)(Handle)>
using Owned = std::unique_ptr<std::remove_pointer_t<Handle>, Release<Handle, Free>>;

using Certificate = Owned<gnutls_x509_crt_t, gnutls_x509_crt_deinit>;
using PrivateKey = Owned<gnutls_x509_privkey_t, gnutls_x509_privkey_deinit>;

// A buffer GnuTLS allocated for an export; released with gnutls_free, not delete.
class ExportedDatum {
 public:
  ExportedDatum() = default;
  ExportedDatum(const ExportedDatum&) = delete;
  ExportedDatum& operator=(const ExportedDatum&) = delete;
  ~ExportedDatum() { gnutls_free(datum_.data); }

  gnutls_datum_t* out() noexcept { return &datum_; }
  std::string str() const {
    return {reinterpret_cast<const char*>(datum_.data), static_cast<std::size_t>(datum_.size)};
  }

 private:
  gnutls_datum_t datum_{};
};

// An open file descriptor, closed on early-return paths. The success path closes it through
// close() so that a failing close (e.g. delayed write errors) is reported, not lost.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) noexcept : fd_(fd) {}
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileDescriptor& operator=(FileDescriptor&&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }

  int get() const noexcept { return fd_; }
  int close() noexcept { return ::close(std::exchange(fd_, -1)); }

 private:
  int fd_;
};

// ---------------------------------------------------------------------------------------------
// Errors

RpcError tls_error(std::string_view what, int rv) {
  return RpcError::tls(std::string(what) + ": " + gnutls_strerror(rv));
}

RpcError io_error(std::string_view what, const fs::path& path, std::error_code error) {
  return RpcError::io(std::string(what) + " \"" + path.string() + "\": " + error.message());
}

RpcError io_error(std::string_view what, const fs::path& path, int errno_value) {
  return io_error(what, path, std::error_code(errno_value, std::generic_category()));
}

// ---------------------------------------------------------------------------------------------
// Options

// An embedded NUL would make GnuTLS see a different (truncated) name than the caller passed.
bool is_usable_name(const std::string& name) {
  return !name.empty() && name.find('\0') == std::string::npos;
}

Result<void> validate(const DevCertificateOptions& options) {
  if (options.directory.empty()) return RpcError::config("dev certificates: directory is empty");
  if (options.server_names.empty()) {
    return RpcError::config("dev certificates: server_names is empty");
  }
  for (const std::string& name : options.server_names) {
    if (!is_usable_name(name)) {
      return RpcError::config("dev certificates: server_names contains an empty or invalid name");
    }
  }
  if (!is_usable_name(options.client_name)) {
    return RpcError::config("dev certificates: client_name is empty or invalid");
  }
  if (options.valid_for.count() <= 0) {
    return RpcError::config("dev certificates: valid_for must be positive");
  }
  if (options.ca_valid_for && options.ca_valid_for->count() <= 0) {
    return RpcError::config("dev certificates: ca_valid_for must be positive");
  }
  return {};
}

struct Validity {
  std::time_t not_before;
  std::time_t not_after;
};

Result<Validity> validity_from_now(std::chrono::hours valid_for) {
  // X.509 cannot encode times after 9999-12-31T23:59:59Z. Checking against it first also keeps
  // the arithmetic below from overflowing.
  constexpr std::time_t kLatestEncodable = 253402300799;
  constexpr std::time_t kSecondsPerHour = 3600;
  const std::time_t now = std::time(nullptr);
  if (valid_for.count() > (kLatestEncodable - now) / kSecondsPerHour) {
    return RpcError::config("dev certificates: valid_for reaches past the year 9999");
  }
  // Backdated so that a peer whose clock lags a little still accepts fresh certificates.
  return Validity{now - kSecondsPerHour,
                  now + static_cast<std::time_t>(valid_for.count()) * kSecondsPerHour};
}

// ---------------------------------------------------------------------------------------------
// Keys and certificates

using KeyId = std::vector<unsigned char>;

Result<PrivateKey> generate_key() {
  gnutls_x509_privkey_t raw = nullptr;
  if (const int rv = gnutls_x509_privkey_init(&raw); rv < 0) {
    return tls_error("creating a private key", rv);
  }
  PrivateKey key(raw);
  const unsigned bits = GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1);
  if (const int rv = gnutls_x509_privkey_generate2(key.get(), GNUTLS_PK_ECDSA, bits, 0, nullptr, 0);
      rv < 0) {
    return tls_error("generating an ECDSA P-256 key", rv);
  }
  return key;
}

// The SHA-1 hash of the public key: the usual subject/authority key identifier (RFC 5280 4.2.1.2).
Result<KeyId> key_id(gnutls_x509_privkey_t key) {
  std::array<unsigned char, 64> buffer{};
  std::size_t size = buffer.size();
  if (const int rv =
          gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA1, buffer.data(), &size);
      rv < 0) {
    return tls_error("computing a key identifier", rv);
  }
  return KeyId(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(size));
}

// Serials must be positive and unique per CA (RFC 5280 4.1.2.2). Sixteen random bytes make a
// collision between runs practically impossible; clearing the top bit keeps the DER INTEGER
// positive, and setting the next one keeps it nonzero and at its full length.
Result<void> set_random_serial(gnutls_x509_crt_t crt) {
  std::array<unsigned char, 16> serial{};
  if (const int rv = gnutls_rnd(GNUTLS_RND_NONCE, serial.data(), serial.size()); rv < 0) {
    return tls_error("generating a serial number", rv);
  }
  serial[0] = static_cast<unsigned char>((serial[0] & 0x7F) | 0x40);
  if (const int rv = gnutls_x509_crt_set_serial(crt, serial.data(), serial.size()); rv < 0) {
    return tls_error("setting the serial number", rv);
  }
  return {};
}

// Clients compare IP literals only with iPAddress entries, in binary form (RFC 6125 section
// 1.7.2), so an address written as a dNSName would never match.
Result<void> add_subject_alt_name(gnutls_x509_crt_t crt, const std::string& name) {
  std::array<unsigned char, 16> address{};
  gnutls_x509_subject_alt_name_t type = GNUTLS_SAN_IPADDRESS;
  const void* data = address.data();
  unsigned size = 0;
  if (::inet_pton(AF_INET, name.c_str(), address.data()) == 1) {
    size = 4;
  } else if (::inet_pton(AF_INET6, name.c_str(), address.data()) == 1) {
    size = 16;
  } else {
    type = GNUTLS_SAN_DNSNAME;
    data = name.data();
    size = static_cast<unsigned>(name.size());
  }
  if (const int rv =
          gnutls_x509_crt_set_subject_alt_name(crt, type, data, size, GNUTLS_FSAN_APPEND);
      rv < 0) {
    return tls_error("adding subjectAltName \"" + name + "\"", rv);
  }
  return {};
}

enum class Role { kCa, kServer, kClient };

struct CertificateSpec {
  Role role;
  std::string common_name;
  std::vector<std::string> alt_names;  // server only
};

// A key with its certificate; the CA's also signs the other two.
struct Issued {
  PrivateKey key;
  Certificate certificate;
  KeyId key_id;
};

// The extensions that make a certificate fit for exactly one job: the CA may only sign leaf
// certificates (pathLen 0), the leaves may only do TLS for their own side.
Result<void> add_role_extensions(gnutls_x509_crt_t crt, const CertificateSpec& spec) {
  const bool ca = spec.role == Role::kCa;
  if (const int rv = gnutls_x509_crt_set_basic_constraints(crt, ca ? 1 : 0, ca ? 0 : -1); rv < 0) {
    return tls_error("setting basicConstraints", rv);
  }
  const unsigned usage =
      ca ? GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN : GNUTLS_KEY_DIGITAL_SIGNATURE;
  if (const int rv = gnutls_x509_crt_set_key_usage(crt, usage); rv < 0) {
    return tls_error("setting keyUsage", rv);
  }
  if (ca) return {};

  const char* purpose =
      spec.role == Role::kServer ? GNUTLS_KP_TLS_WWW_SERVER : GNUTLS_KP_TLS_WWW_CLIENT;
  if (const int rv = gnutls_x509_crt_set_key_purpose_oid(crt, purpose, 0); rv < 0) {
    return tls_error("setting extendedKeyUsage", rv);
  }
  for (const std::string& name : spec.alt_names) {
    RPCNET_TRY(add_subject_alt_name(crt, name));
  }
  return {};
}

// Generates a key and a certificate for it, signed by `issuer`, or self-signed when `issuer`
// is null.
Result<Issued> issue(const CertificateSpec& spec, const Issued* issuer, const Validity& validity) {
  auto key = generate_key();
  if (!key) return std::move(key).error();
  auto id = key_id(key->get());
  if (!id) return std::move(id).error();

  gnutls_x509_crt_t raw = nullptr;
  if (const int rv = gnutls_x509_crt_init(&raw); rv < 0) {
    return tls_error("creating a certificate", rv);
  }
  Certificate crt(raw);

  if (const int rv = gnutls_x509_crt_set_version(crt.get(), 3); rv < 0) {
    return tls_error("setting the certificate version", rv);
  }
  RPCNET_TRY(set_random_serial(crt.get()));
  if (const int rv = gnutls_x509_crt_set_activation_time(crt.get(), validity.not_before); rv < 0) {
    return tls_error("setting notBefore", rv);
  }
  if (const int rv = gnutls_x509_crt_set_expiration_time(crt.get(), validity.not_after); rv < 0) {
    return tls_error("setting notAfter", rv);
  }
  if (const int rv = gnutls_x509_crt_set_dn_by_oid(crt.get(), GNUTLS_OID_X520_COMMON_NAME, 0,
                                                   spec.common_name.data(),
                                                   static_cast<unsigned>(spec.common_name.size()));
      rv < 0) {
    return tls_error("setting the common name \"" + spec.common_name + "\"", rv);
  }
  if (const int rv = gnutls_x509_crt_set_key(crt.get(), key->get()); rv < 0) {
    return tls_error("setting the certificate's public key", rv);
  }
  if (const int rv = gnutls_x509_crt_set_subject_key_id(crt.get(), id->data(), id->size());
      rv < 0) {
    return tls_error("setting subjectKeyIdentifier", rv);
  }
  if (issuer != nullptr) {
    // Lets verifiers pick the right issuer certificate without trying each one.
    if (const int rv = gnutls_x509_crt_set_authority_key_id(crt.get(), issuer->key_id.data(),
                                                            issuer->key_id.size());
        rv < 0) {
      return tls_error("setting authorityKeyIdentifier", rv);
    }
  }
  if (auto extensions = add_role_extensions(crt.get(), spec); !extensions) {
    return std::move(extensions).error();
  }

  gnutls_x509_crt_t signer_crt = issuer != nullptr ? issuer->certificate.get() : crt.get();
  gnutls_x509_privkey_t signer_key = issuer != nullptr ? issuer->key.get() : key->get();
  if (const int rv = gnutls_x509_crt_sign2(crt.get(), signer_crt, signer_key, GNUTLS_DIG_SHA256, 0);
      rv < 0) {
    return tls_error("signing the certificate for \"" + spec.common_name + "\"", rv);
  }
  return Issued{std::move(*key), std::move(crt), std::move(*id)};
}

// ---------------------------------------------------------------------------------------------
// PEM output

struct OutputFile {
  std::string name;
  std::string contents;
  bool secret;  // a private key: owner-only (0600)
};

// Appends "<stem>.pem" and "<stem>-key.pem". Keys are written as unencrypted PKCS#8
// ("BEGIN PRIVATE KEY"), which GnuTLS, OpenSSL and most other tools all read.
Result<void> append_pem_files(std::vector<OutputFile>& files, const Issued& issued,
                              const std::string& stem) {
  ExportedDatum certificate;
  if (const int rv = gnutls_x509_crt_export2(issued.certificate.get(), GNUTLS_X509_FMT_PEM,
                                             certificate.out());
      rv < 0) {
    return tls_error("exporting " + stem + " certificate", rv);
  }
  ExportedDatum key;
  if (const int rv = gnutls_x509_privkey_export2_pkcs8(issued.key.get(), GNUTLS_X509_FMT_PEM,
                                                       nullptr, GNUTLS_PKCS_PLAIN, key.out());
      rv < 0) {
    return tls_error("exporting " + stem + " private key", rv);
  }
  files.push_back({stem + ".pem", certificate.str(), false});
  files.push_back({stem + "-key.pem", key.str(), true});
  return {};
}

// ---------------------------------------------------------------------------------------------
// Files

// A complete temporary file next to its destination. It is deleted when destroyed, unless
// commit() has renamed it into place; rename() within one directory is atomic, so readers see
// either the old file or the whole new one.
class StagedFile {
 public:
  StagedFile(fs::path temp, fs::path target) : temp_(std::move(temp)), target_(std::move(target)) {}
  StagedFile(StagedFile&& other) noexcept
      : temp_(std::exchange(other.temp_, {})), target_(std::move(other.target_)) {}
  StagedFile& operator=(StagedFile&&) = delete;
  ~StagedFile() {
    std::error_code ignored;
    if (!temp_.empty()) fs::remove(temp_, ignored);
  }

  Result<void> commit() {
    if (::rename(temp_.c_str(), target_.c_str()) != 0) {
      return io_error("cannot move a new file into place at", target_, errno);
    }
    temp_.clear();
    return {};
  }

 private:
  fs::path temp_;
  fs::path target_;
};

// Creates a new, uniquely named file beside `target`. O_EXCL makes sure it is a fresh file of
// our own, never an existing file or symlink that happens to have the name.
Result<std::pair<FileDescriptor, fs::path>> create_temp_file(const fs::path& target, mode_t mode) {
  constexpr int kAttempts = 8;
  int last_errno = EEXIST;
  for (int attempt = 0; attempt < kAttempts && last_errno == EEXIST; ++attempt) {
    std::array<unsigned char, 6> random{};
    if (const int rv = gnutls_rnd(GNUTLS_RND_NONCE, random.data(), random.size()); rv < 0) {
      return tls_error("generating a temporary file name", rv);
    }
    const std::string suffix = ".tmp-" + to_hex(random);
    fs::path temp = target;
    temp.replace_filename("." + target.filename().string() + suffix);
    const int fd = ::open(temp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode);
    if (fd >= 0) return std::pair{FileDescriptor(fd), std::move(temp)};
    last_errno = errno;
  }
  return io_error("cannot create a temporary file for", target, last_errno);
}

Result<void> write_all(int fd, std::string_view contents, const fs::path& target) {
  while (!contents.empty()) {
    const ssize_t written = ::write(fd, contents.data(), contents.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot write", target, errno);
    }
    contents.remove_prefix(static_cast<std::size_t>(written));
  }
  return {};
}

Result<StagedFile> stage(const fs::path& target, std::string_view contents, bool secret) {
  const mode_t mode = secret ? 0600 : 0644;
  auto created = create_temp_file(target, mode);
  if (!created) return std::move(created).error();
  auto& [fd, temp] = *created;
  StagedFile staged(temp, target);  // from here on the temporary file is removed on failure

  if (auto written = write_all(fd.get(), contents, target); !written) {
    return std::move(written).error();
  }
  // open() applied the umask, which is right for certificates. A key gets exactly 0600, as
  // certs.h promises, whatever the umask (0277, say, would have left 0400).
  if (secret && ::fchmod(fd.get(), mode) != 0) {
    return io_error("cannot set the mode of", target, errno);
  }
  // Flushed before the rename, so that after a crash the name holds the old or the new
  // contents, never an empty file.
  if (::fsync(fd.get()) != 0) return io_error("cannot flush", target, errno);
  if (fd.close() != 0) return io_error("cannot write", target, errno);
  return staged;
}

// All six files are staged before any is renamed, so the usual failures (no space, no
// permission) leave a previous set of certificates untouched instead of half replaced.
Result<void> write_files(const fs::path& directory, const std::vector<OutputFile>& files) {
  std::vector<StagedFile> staged;
  staged.reserve(files.size());
  for (const OutputFile& file : files) {
    auto one = stage(directory / file.name, file.contents, file.secret);
    if (!one) return std::move(one).error();
    staged.push_back(std::move(*one));
  }
  for (StagedFile& file : staged) {
    RPCNET_TRY(file.commit());
  }
  return {};
}

Result<void> ensure_directory(const fs::path& directory) {
  std::error_code error;
  fs::create_directories(directory, error);
  if (error) return io_error("cannot create directory", directory, error);
  // Whether create_directories reports an existing non-directory varies between library
  // versions; check, so the failure names the directory rather than the first file in it.
  if (!fs::is_directory(directory, error)) {
    return io_error("cannot use directory", directory,
                    error ? error : std::make_error_code(std::errc::not_a_directory));
  }
  return {};
}

}  // namespace

Result<DevCertificatePaths> make_dev_certificates(const DevCertificateOptions& options) {
  RPCNET_TRY(validate(options));
  auto validity = validity_from_now(options.valid_for);
  if (!validity) return std::move(validity).error();
  auto ca_validity = validity_from_now(options.ca_valid_for.value_or(options.valid_for));
  if (!ca_validity) return std::move(ca_validity).error();

  auto ca = issue({Role::kCa, "rpcnet development CA", {}}, nullptr, *ca_validity);
  if (!ca) return std::move(ca).error();
  auto server = issue({Role::kServer, options.server_names.front(), options.server_names}, &*ca,
                      *validity);
  if (!server) return std::move(server).error();
  auto client = issue({Role::kClient, options.client_name, {}}, &*ca, *validity);
  if (!client) return std::move(client).error();

  std::vector<OutputFile> files;
  RPCNET_TRY(append_pem_files(files, *ca, "ca"));
  RPCNET_TRY(append_pem_files(files, *server, "server"));
  RPCNET_TRY(append_pem_files(files, *client, "client"));

  const fs::path directory(options.directory);
  RPCNET_TRY(ensure_directory(directory));
  RPCNET_TRY(write_files(directory, files));

  return DevCertificatePaths{
      .ca_cert = (directory / "ca.pem").string(),
      .ca_key = (directory / "ca-key.pem").string(),
      .server_cert = (directory / "server.pem").string(),
      .server_key = (directory / "server-key.pem").string(),
      .client_cert = (directory / "client.pem").string(),
      .client_key = (directory / "client-key.pem").string(),
  };
}

}  // namespace rpcnet
