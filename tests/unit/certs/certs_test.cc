// Tests for rpcnet::make_dev_certificates: the files it writes, what the certificates say, and
// that GnuTLS accepts them for a mutually authenticated TLS 1.3 handshake.
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "rpcnet/certs.h"
#include "support/error_matchers.h"

namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Helpers

template <class Handle, void (*Free)(Handle)>
struct Release {
  void operator()(Handle handle) const noexcept { Free(handle); }
};

template <class Handle, void (*Free)(Handle)>
using Owned = std::unique_ptr<std::remove_pointer_t<Handle>, Release<Handle, Free>>;

using Certificate = Owned<gnutls_x509_crt_t, gnutls_x509_crt_deinit>;
using Credentials = Owned<gnutls_certificate_credentials_t, gnutls_certificate_free_credentials>;
using Session = Owned<gnutls_session_t, gnutls_deinit>;

using ByteString = std::vector<unsigned char>;

// Loads a PEM certificate; on failure records a test failure and returns null.
Certificate load_certificate(const std::string& path) {
  gnutls_datum_t pem{};
  if (const int rv = gnutls_load_file(path.c_str(), &pem); rv < 0) {
    ADD_FAILURE() << "cannot load " << path << ": " << gnutls_strerror(rv);
    return nullptr;
  }
  gnutls_x509_crt_t raw = nullptr;
  int rv = gnutls_x509_crt_init(&raw);
  Certificate crt(raw);
  if (rv >= 0) rv = gnutls_x509_crt_import(crt.get(), &pem, GNUTLS_X509_FMT_PEM);
  gnutls_free(pem.data);
  if (rv < 0) {
    ADD_FAILURE() << "cannot parse " << path << ": " << gnutls_strerror(rv);
    return nullptr;
  }
  return crt;
}

// The verification status of `crt` against the single trusted `ca`; 0 means trusted.
unsigned verify_status(gnutls_x509_crt_t crt, gnutls_x509_crt_t ca) {
  unsigned status = ~0U;
  const int rv = gnutls_x509_crt_verify(crt, &ca, 1, 0, &status);
  EXPECT_EQ(rv, 0) << gnutls_strerror(rv);
  return status;
}

bool matches_hostname(gnutls_x509_crt_t crt, const char* hostname) {
  return gnutls_x509_crt_check_hostname2(crt, hostname, 0) != 0;
}

std::set<std::string> key_purposes(gnutls_x509_crt_t crt) {
  std::set<std::string> purposes;
  for (unsigned index = 0;; ++index) {
    char oid[128];
    std::size_t size = sizeof(oid);
    const int rv = gnutls_x509_crt_get_key_purpose_oid(crt, index, oid, &size, nullptr);
    if (rv == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) break;
    EXPECT_EQ(rv, 0) << gnutls_strerror(rv);
    if (rv < 0) break;
    purposes.insert(oid);
  }
  return purposes;
}

// subjectAltName entries as "dns:<name>" or "ip:<raw bytes as decimal dotted/colon list>".
std::vector<std::string> alt_names(gnutls_x509_crt_t crt) {
  std::vector<std::string> names;
  for (unsigned index = 0;; ++index) {
    unsigned char data[256];
    std::size_t size = sizeof(data);
    const int type = gnutls_x509_crt_get_subject_alt_name(crt, index, data, &size, nullptr);
    if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) break;
    EXPECT_GE(type, 0) << gnutls_strerror(type);
    if (type < 0) break;
    if (type == GNUTLS_SAN_DNSNAME) {
      names.push_back("dns:" + std::string(reinterpret_cast<const char*>(data), size));
    } else if (type == GNUTLS_SAN_IPADDRESS) {
      std::ostringstream ip;
      ip << "ip:";
      for (std::size_t i = 0; i < size; ++i) ip << (i ? "." : "") << static_cast<int>(data[i]);
      names.push_back(ip.str());
    } else {
      names.push_back("other:" + std::to_string(type));
    }
  }
  return names;
}

std::string common_name(gnutls_x509_crt_t crt) {
  char name[256];
  std::size_t size = sizeof(name);
  const int rv =
      gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, name, &size);
  EXPECT_EQ(rv, 0) << gnutls_strerror(rv);
  return rv == 0 ? std::string(name, size) : std::string();
}

ByteString serial_of(gnutls_x509_crt_t crt) {
  ByteString serial(64);
  std::size_t size = serial.size();
  const int rv = gnutls_x509_crt_get_serial(crt, serial.data(), &size);
  EXPECT_EQ(rv, 0) << gnutls_strerror(rv);
  serial.resize(rv == 0 ? size : 0);
  return serial;
}

ByteString public_key_id(gnutls_x509_crt_t crt) {
  ByteString id(64);
  std::size_t size = id.size();
  const int rv = gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, id.data(), &size);
  EXPECT_EQ(rv, 0) << gnutls_strerror(rv);
  id.resize(rv == 0 ? size : 0);
  return id;
}

ByteString subject_key_id(gnutls_x509_crt_t crt) {
  ByteString id(64);
  std::size_t size = id.size();
  const int rv = gnutls_x509_crt_get_subject_key_id(crt, id.data(), &size, nullptr);
  EXPECT_EQ(rv, 0) << gnutls_strerror(rv);
  id.resize(rv == 0 ? size : 0);
  return id;
}

ByteString authority_key_id(gnutls_x509_crt_t crt) {
  ByteString id(64);
  std::size_t size = id.size();
  const int rv = gnutls_x509_crt_get_authority_key_id(crt, id.data(), &size, nullptr);
  EXPECT_EQ(rv, 0) << gnutls_strerror(rv);
  id.resize(rv == 0 ? size : 0);
  return id;
}

struct BasicConstraints {
  bool critical = false;
  bool ca = false;
};

BasicConstraints basic_constraints(gnutls_x509_crt_t crt) {
  unsigned critical = 0;
  unsigned ca = 0;
  int path_length = 0;
  const int rv = gnutls_x509_crt_get_basic_constraints(crt, &critical, &ca, &path_length);
  EXPECT_GE(rv, 0) << gnutls_strerror(rv);
  return {critical != 0, ca != 0};
}

unsigned key_usage(gnutls_x509_crt_t crt) {
  unsigned usage = 0;
  const int rv = gnutls_x509_crt_get_key_usage(crt, &usage, nullptr);
  EXPECT_GE(rv, 0) << gnutls_strerror(rv);
  return usage;
}

// What gnutls_certificate_set_x509_key_file says about the pair: >= 0 when the key belongs to
// the certificate.
int load_key_pair(const std::string& cert, const std::string& key) {
  gnutls_certificate_credentials_t raw = nullptr;
  if (const int rv = gnutls_certificate_allocate_credentials(&raw); rv < 0) return rv;
  Credentials credentials(raw);
  return gnutls_certificate_set_x509_key_file(credentials.get(), cert.c_str(), key.c_str(),
                                              GNUTLS_X509_FMT_PEM);
}

unsigned file_mode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path << ": " << std::strerror(errno);
  return st.st_mode & 07777U;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::set<std::string> directory_entries(const fs::path& directory) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(directory)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

// ---------------------------------------------------------------------------------------------
// A TLS 1.3 handshake over a socketpair. Both sides trust `server.ca_cert`; the client presents
// `client.client_cert` and checks `expected_host`, the server requires a client certificate
// with the clientAuth purpose.

struct HandshakeResult {
  int client = 0;
  int server = 0;
};

Credentials make_credentials(const std::string& cert, const std::string& key,
                             const std::string& ca) {
  gnutls_certificate_credentials_t raw = nullptr;
  EXPECT_EQ(gnutls_certificate_allocate_credentials(&raw), 0);
  Credentials credentials(raw);
  EXPECT_GE(gnutls_certificate_set_x509_key_file(raw, cert.c_str(), key.c_str(),
                                                 GNUTLS_X509_FMT_PEM),
            0);
  EXPECT_EQ(gnutls_certificate_set_x509_trust_file(raw, ca.c_str(), GNUTLS_X509_FMT_PEM), 1);
  return credentials;
}

Session make_session(unsigned flags, gnutls_certificate_credentials_t credentials, int fd) {
  gnutls_session_t raw = nullptr;
  EXPECT_EQ(gnutls_init(&raw, flags), 0);
  Session session(raw);
  EXPECT_EQ(gnutls_priority_set_direct(raw, "NORMAL:-VERS-ALL:+VERS-TLS1.3", nullptr), 0);
  EXPECT_EQ(gnutls_credentials_set(raw, GNUTLS_CRD_CERTIFICATE, credentials), 0);
  gnutls_transport_set_int(raw, fd);
  gnutls_handshake_set_timeout(raw, 10000);
  return session;
}

int run_handshake(gnutls_session_t session) {
  int rv = 0;
  do {
    rv = gnutls_handshake(session);
  } while (rv < 0 && gnutls_error_is_fatal(rv) == 0);
  return rv;
}

HandshakeResult handshake(const rpcnet::DevCertificatePaths& server_side,
                          const rpcnet::DevCertificatePaths& client_side,
                          const char* expected_host) {
  int fds[2] = {-1, -1};
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
    ADD_FAILURE() << "socketpair: " << std::strerror(errno);
    return {-1, -1};
  }
  Credentials server_credentials =
      make_credentials(server_side.server_cert, server_side.server_key, server_side.ca_cert);
  Credentials client_credentials =
      make_credentials(client_side.client_cert, client_side.client_key, server_side.ca_cert);

  Session server = make_session(GNUTLS_SERVER, server_credentials.get(), fds[0]);
  gnutls_certificate_server_set_request(server.get(), GNUTLS_CERT_REQUIRE);
  gnutls_typed_vdata_st client_purpose{};
  client_purpose.type = GNUTLS_DT_KEY_PURPOSE_OID;
  client_purpose.data =
      reinterpret_cast<unsigned char*>(const_cast<char*>(GNUTLS_KP_TLS_WWW_CLIENT));
  gnutls_session_set_verify_cert2(server.get(), &client_purpose, 1, 0);

  Session client = make_session(GNUTLS_CLIENT, client_credentials.get(), fds[1]);
  gnutls_server_name_set(client.get(), GNUTLS_NAME_DNS, expected_host, std::strlen(expected_host));
  gnutls_session_set_verify_cert(client.get(), expected_host, 0);

  HandshakeResult result;
  std::thread server_thread([&] {
    result.server = run_handshake(server.get());
    ::shutdown(fds[0], SHUT_RDWR);  // never leave the client waiting for a dead server
  });
  result.client = run_handshake(client.get());
  ::shutdown(fds[1], SHUT_RDWR);
  server_thread.join();
  ::close(fds[0]);
  ::close(fds[1]);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Fixture: a fresh temporary directory per test, removed afterwards.

class DevCertsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "rpcnet-certs-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr) << std::strerror(errno);
    root_ = pattern;
  }

  void TearDown() override {
    std::error_code ignored;
    if (!root_.empty()) fs::remove_all(root_, ignored);
  }

  rpcnet::DevCertificateOptions options_in(const std::string& subdirectory = "certs") const {
    rpcnet::DevCertificateOptions options;
    options.directory = (root_ / subdirectory).string();
    return options;
  }

  fs::path root_;
};

// ---------------------------------------------------------------------------------------------
// Files

TEST_F(DevCertsTest, WritesSixFilesWithOwnerOnlyKeys) {
  const auto options = options_in();
  auto paths = rpcnet::make_dev_certificates(options);
  ASSERT_TRUE(paths) << paths.error();

  const fs::path dir = options.directory;
  EXPECT_EQ(paths->ca_cert, (dir / "ca.pem").string());
  EXPECT_EQ(paths->ca_key, (dir / "ca-key.pem").string());
  EXPECT_EQ(paths->server_cert, (dir / "server.pem").string());
  EXPECT_EQ(paths->server_key, (dir / "server-key.pem").string());
  EXPECT_EQ(paths->client_cert, (dir / "client.pem").string());
  EXPECT_EQ(paths->client_key, (dir / "client-key.pem").string());

  // Exactly the six files: no temporary files are left behind.
  EXPECT_EQ(directory_entries(dir),
            (std::set<std::string>{"ca.pem", "ca-key.pem", "server.pem", "server-key.pem",
                                   "client.pem", "client-key.pem"}));
  for (const auto* key : {&paths->ca_key, &paths->server_key, &paths->client_key}) {
    EXPECT_EQ(file_mode(*key), 0600U) << *key;
    EXPECT_NE(read_file(*key).find("-----BEGIN PRIVATE KEY-----"), std::string::npos) << *key;
  }
  for (const auto* cert : {&paths->ca_cert, &paths->server_cert, &paths->client_cert}) {
    EXPECT_EQ(file_mode(*cert) & 0022U, 0U) << *cert << " is group or world writable";
    EXPECT_EQ(read_file(*cert).rfind("-----BEGIN CERTIFICATE-----", 0), 0U) << *cert;
  }
}

TEST_F(DevCertsTest, ReplacesExistingFilesAndTightensKeyPermissions) {
  const auto options = options_in();
  fs::create_directories(options.directory);
  const std::string old_key = (fs::path(options.directory) / "server-key.pem").string();
  {
    std::ofstream(old_key) << "stale";
  }
  ASSERT_EQ(::chmod(old_key.c_str(), 0644), 0);

  auto paths = rpcnet::make_dev_certificates(options);
  ASSERT_TRUE(paths) << paths.error();
  EXPECT_EQ(file_mode(paths->server_key), 0600U);
  EXPECT_NE(read_file(paths->server_key), "stale");
  EXPECT_GE(load_key_pair(paths->server_cert, paths->server_key), 0);
}

// ---------------------------------------------------------------------------------------------
// Certificate contents

TEST_F(DevCertsTest, CaIsASelfSignedCertificateAuthority) {
  auto paths = rpcnet::make_dev_certificates(options_in());
  ASSERT_TRUE(paths) << paths.error();
  Certificate ca = load_certificate(paths->ca_cert);
  ASSERT_TRUE(ca);

  EXPECT_EQ(common_name(ca.get()), "rpcnet development CA");
  EXPECT_EQ(gnutls_x509_crt_get_version(ca.get()), 3);
  EXPECT_EQ(verify_status(ca.get(), ca.get()), 0U);
  const BasicConstraints constraints = basic_constraints(ca.get());
  EXPECT_TRUE(constraints.ca);
  EXPECT_TRUE(constraints.critical);
  EXPECT_EQ(key_usage(ca.get()), unsigned{GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN});
  EXPECT_FALSE(subject_key_id(ca.get()).empty());
  EXPECT_EQ(gnutls_x509_crt_get_pk_algorithm(ca.get(), nullptr), GNUTLS_PK_ECDSA);
  EXPECT_GE(load_key_pair(paths->ca_cert, paths->ca_key), 0);
}

TEST_F(DevCertsTest, ServerCertificateIsTrustedForTheDefaultNames) {
  auto paths = rpcnet::make_dev_certificates(options_in());
  ASSERT_TRUE(paths) << paths.error();
  Certificate ca = load_certificate(paths->ca_cert);
  Certificate server = load_certificate(paths->server_cert);
  ASSERT_TRUE(ca);
  ASSERT_TRUE(server);

  EXPECT_EQ(verify_status(server.get(), ca.get()), 0U);
  EXPECT_EQ(common_name(server.get()), "localhost");
  EXPECT_TRUE(matches_hostname(server.get(), "localhost"));
  EXPECT_TRUE(matches_hostname(server.get(), "127.0.0.1"));
  EXPECT_TRUE(matches_hostname(server.get(), "::1"));
  EXPECT_FALSE(matches_hostname(server.get(), "example.com"));
  EXPECT_FALSE(matches_hostname(server.get(), "127.0.0.2"));
  EXPECT_EQ(alt_names(server.get()),
            (std::vector<std::string>{"dns:localhost", "ip:127.0.0.1",
                                      "ip:0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1"}));

  EXPECT_EQ(key_purposes(server.get()), std::set<std::string>{GNUTLS_KP_TLS_WWW_SERVER});
  EXPECT_EQ(key_usage(server.get()), unsigned{GNUTLS_KEY_DIGITAL_SIGNATURE});
  EXPECT_FALSE(basic_constraints(server.get()).ca);
  EXPECT_EQ(authority_key_id(server.get()), subject_key_id(ca.get()));
  EXPECT_EQ(gnutls_x509_crt_get_signature_algorithm(server.get()), GNUTLS_SIGN_ECDSA_SHA256);
  EXPECT_GE(load_key_pair(paths->server_cert, paths->server_key), 0);
}

TEST_F(DevCertsTest, ClientCertificateIsTrustedForClientAuth) {
  auto options = options_in();
  options.client_name = "test-client";
  auto paths = rpcnet::make_dev_certificates(options);
  ASSERT_TRUE(paths) << paths.error();
  Certificate ca = load_certificate(paths->ca_cert);
  Certificate client = load_certificate(paths->client_cert);
  ASSERT_TRUE(ca);
  ASSERT_TRUE(client);

  EXPECT_EQ(verify_status(client.get(), ca.get()), 0U);
  EXPECT_EQ(common_name(client.get()), "test-client");
  EXPECT_EQ(key_purposes(client.get()), std::set<std::string>{GNUTLS_KP_TLS_WWW_CLIENT});
  EXPECT_EQ(key_usage(client.get()), unsigned{GNUTLS_KEY_DIGITAL_SIGNATURE});
  EXPECT_FALSE(basic_constraints(client.get()).ca);
  EXPECT_EQ(authority_key_id(client.get()), subject_key_id(ca.get()));
  EXPECT_GE(load_key_pair(paths->client_cert, paths->client_key), 0);
  // The pair check is meaningful: a key that does not belong to the certificate is refused.
  EXPECT_LT(load_key_pair(paths->client_cert, paths->server_key), 0);
}

TEST_F(DevCertsTest, SerialsArePositiveSixteenByteNumbers) {
  auto paths = rpcnet::make_dev_certificates(options_in());
  ASSERT_TRUE(paths) << paths.error();
  for (const auto* path : {&paths->ca_cert, &paths->server_cert, &paths->client_cert}) {
    Certificate crt = load_certificate(*path);
    ASSERT_TRUE(crt);
    const ByteString serial = serial_of(crt.get());
    ASSERT_EQ(serial.size(), 16U) << *path;
    EXPECT_EQ(serial[0] & 0x80, 0) << *path;
    EXPECT_NE(serial[0], 0) << *path;
  }
}

TEST_F(DevCertsTest, ValidityStartsAnHourAgoAndLastsValidFor) {
  auto options = options_in();
  options.valid_for = std::chrono::hours(48);
  const std::time_t before = std::time(nullptr);
  auto paths = rpcnet::make_dev_certificates(options);
  const std::time_t after = std::time(nullptr);
  ASSERT_TRUE(paths) << paths.error();

  for (const auto* path : {&paths->ca_cert, &paths->server_cert, &paths->client_cert}) {
    Certificate crt = load_certificate(*path);
    ASSERT_TRUE(crt);
    const std::time_t not_before = gnutls_x509_crt_get_activation_time(crt.get());
    const std::time_t not_after = gnutls_x509_crt_get_expiration_time(crt.get());
    EXPECT_GE(not_before, before - 3600) << *path;
    EXPECT_LE(not_before, after - 3600) << *path;
    EXPECT_GE(not_after, before + 48 * 3600) << *path;
    EXPECT_LE(not_after, after + 48 * 3600) << *path;
  }
}

TEST_F(DevCertsTest, CaValidForSetsTheCasValidityAlone) {
  auto options = options_in();
  options.valid_for = std::chrono::hours(48);
  options.ca_valid_for = std::chrono::hours(2);
  const std::time_t before = std::time(nullptr);
  auto paths = rpcnet::make_dev_certificates(options);
  const std::time_t after = std::time(nullptr);
  ASSERT_TRUE(paths) << paths.error();

  const auto not_after = [](const std::string& path) {
    Certificate crt = load_certificate(path);
    return crt ? gnutls_x509_crt_get_expiration_time(crt.get()) : std::time_t{-1};
  };
  EXPECT_GE(not_after(paths->ca_cert), before + 2 * 3600);
  EXPECT_LE(not_after(paths->ca_cert), after + 2 * 3600);
  for (const auto* path : {&paths->server_cert, &paths->client_cert}) {
    EXPECT_GE(not_after(*path), before + 48 * 3600) << *path;
    EXPECT_LE(not_after(*path), after + 48 * 3600) << *path;
  }
}

TEST_F(DevCertsTest, TwoRunsProduceDifferentSerialsAndKeys) {
  auto first = rpcnet::make_dev_certificates(options_in("first"));
  auto second = rpcnet::make_dev_certificates(options_in("second"));
  ASSERT_TRUE(first) << first.error();
  ASSERT_TRUE(second) << second.error();

  const std::pair<std::string, std::string> pairs[] = {
      {first->ca_cert, second->ca_cert},
      {first->server_cert, second->server_cert},
      {first->client_cert, second->client_cert},
  };
  for (const auto& [a_path, b_path] : pairs) {
    Certificate a = load_certificate(a_path);
    Certificate b = load_certificate(b_path);
    ASSERT_TRUE(a);
    ASSERT_TRUE(b);
    EXPECT_NE(serial_of(a.get()), serial_of(b.get())) << a_path;
    EXPECT_NE(public_key_id(a.get()), public_key_id(b.get())) << a_path;
  }
  EXPECT_NE(read_file(first->server_key), read_file(second->server_key));
  // Each run has its own CA: the first CA does not vouch for the second run's server.
  Certificate first_ca = load_certificate(first->ca_cert);
  Certificate second_server = load_certificate(second->server_cert);
  ASSERT_TRUE(first_ca);
  ASSERT_TRUE(second_server);
  EXPECT_NE(verify_status(second_server.get(), first_ca.get()), 0U);
}

TEST_F(DevCertsTest, CustomServerNamesAreExactlyTheAltNames) {
  auto options = options_in();
  options.server_names = {"node1.test", "10.1.2.3"};
  auto paths = rpcnet::make_dev_certificates(options);
  ASSERT_TRUE(paths) << paths.error();
  Certificate ca = load_certificate(paths->ca_cert);
  Certificate server = load_certificate(paths->server_cert);
  ASSERT_TRUE(ca);
  ASSERT_TRUE(server);

  EXPECT_EQ(verify_status(server.get(), ca.get()), 0U);
  EXPECT_EQ(common_name(server.get()), "node1.test");
  EXPECT_EQ(alt_names(server.get()), (std::vector<std::string>{"dns:node1.test", "ip:10.1.2.3"}));
  EXPECT_TRUE(matches_hostname(server.get(), "node1.test"));
  EXPECT_TRUE(matches_hostname(server.get(), "10.1.2.3"));
  EXPECT_FALSE(matches_hostname(server.get(), "localhost"));
  EXPECT_FALSE(matches_hostname(server.get(), "127.0.0.1"));
  EXPECT_FALSE(matches_hostname(server.get(), "::1"));
  EXPECT_FALSE(matches_hostname(server.get(), "node2.test"));
}

// ---------------------------------------------------------------------------------------------
// The certificates in actual use

TEST_F(DevCertsTest, MutualTlsHandshakeSucceeds) {
  auto paths = rpcnet::make_dev_certificates(options_in());
  ASSERT_TRUE(paths) << paths.error();
  const HandshakeResult result = handshake(*paths, *paths, "localhost");
  EXPECT_EQ(result.client, 0) << gnutls_strerror(result.client);
  EXPECT_EQ(result.server, 0) << gnutls_strerror(result.server);
}

TEST_F(DevCertsTest, HandshakeRejectsAnotherHostName) {
  auto paths = rpcnet::make_dev_certificates(options_in());
  ASSERT_TRUE(paths) << paths.error();
  const HandshakeResult result = handshake(*paths, *paths, "example.com");
  EXPECT_EQ(result.client, GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR)
      << gnutls_strerror(result.client);
  EXPECT_LT(result.server, 0);
}

TEST_F(DevCertsTest, HandshakeRejectsAClientCertificateFromAnotherRun) {
  auto paths = rpcnet::make_dev_certificates(options_in("first"));
  auto other = rpcnet::make_dev_certificates(options_in("second"));
  ASSERT_TRUE(paths) << paths.error();
  ASSERT_TRUE(other) << other.error();
  const HandshakeResult result = handshake(*paths, *other, "localhost");
  // Only the server's result counts: in TLS 1.3 the client completes its side of the
  // handshake before the server has judged the client certificate.
  EXPECT_EQ(result.server, GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR)
      << gnutls_strerror(result.server);
}

// ---------------------------------------------------------------------------------------------
// Errors

TEST_F(DevCertsTest, EmptyServerNamesIsAConfigError) {
  auto options = options_in();
  options.server_names.clear();
  auto paths = rpcnet::make_dev_certificates(options);
  ASSERT_FALSE(paths);
  EXPECT_THAT(paths, rpcnet::testing::ErrorIs(rpcnet::ErrorKind::kConfig, rpcnet::StatusCode::kInvalidArgument));
  EXPECT_FALSE(fs::exists(options.directory)) << "nothing is written for invalid options";
}

TEST_F(DevCertsTest, EmptyNamesAreConfigErrors) {
  auto options = options_in();
  options.server_names = {"localhost", ""};
  auto paths = rpcnet::make_dev_certificates(options);
  ASSERT_FALSE(paths);
  EXPECT_THAT(paths, rpcnet::testing::ErrorIs(rpcnet::ErrorKind::kConfig, rpcnet::StatusCode::kInvalidArgument));

  options = options_in();
  options.client_name.clear();
  paths = rpcnet::make_dev_certificates(options);
  ASSERT_FALSE(paths);
  EXPECT_THAT(paths, rpcnet::testing::ErrorIs(rpcnet::ErrorKind::kConfig, rpcnet::StatusCode::kInvalidArgument));

  options = options_in();
  options.directory.clear();
  paths = rpcnet::make_dev_certificates(options);
  ASSERT_FALSE(paths);
  EXPECT_THAT(paths, rpcnet::testing::ErrorIs(rpcnet::ErrorKind::kConfig, rpcnet::StatusCode::kInvalidArgument));
}

TEST_F(DevCertsTest, UnusableValidityIsAConfigError) {
  auto options = options_in();
  options.valid_for = std::chrono::hours(0);
  auto paths = rpcnet::make_dev_certificates(options);
  ASSERT_FALSE(paths);
  EXPECT_THAT(paths, rpcnet::testing::ErrorIs(rpcnet::ErrorKind::kConfig, rpcnet::StatusCode::kInvalidArgument));

  options.valid_for = std::chrono::hours::max();
  paths = rpcnet::make_dev_certificates(options);
  ASSERT_FALSE(paths);
  EXPECT_THAT(paths, rpcnet::testing::ErrorIs(rpcnet::ErrorKind::kConfig, rpcnet::StatusCode::kInvalidArgument));

  options.valid_for = std::chrono::hours(48);
  for (const auto ca_valid_for : {std::chrono::hours(0), std::chrono::hours(-1), std::chrono::hours::max()}) {
    options.ca_valid_for = ca_valid_for;
    paths = rpcnet::make_dev_certificates(options);
    ASSERT_FALSE(paths) << ca_valid_for.count();
    EXPECT_THAT(paths, rpcnet::testing::ErrorIs(rpcnet::ErrorKind::kConfig, rpcnet::StatusCode::kInvalidArgument));
  }
}

TEST_F(DevCertsTest, UncreatableDirectoryIsAnIoErrorNamingThePath) {
  const fs::path blocker = root_ / "blocker";
  { std::ofstream(blocker) << "a regular file"; }
  auto options = options_in();
  options.directory = (blocker / "certs").string();

  auto paths = rpcnet::make_dev_certificates(options);
  ASSERT_FALSE(paths);
  EXPECT_THAT(paths, rpcnet::testing::ErrorIs(rpcnet::ErrorKind::kIo, rpcnet::StatusCode::kUnavailable));
  EXPECT_NE(paths.error().message().find(options.directory), std::string::npos)
      << paths.error().message();
}

TEST_F(DevCertsTest, DirectoryThatIsARegularFileIsAnIoError) {
  auto options = options_in("not-a-directory");
  { std::ofstream(options.directory) << "a regular file"; }

  auto paths = rpcnet::make_dev_certificates(options);
  ASSERT_FALSE(paths);
  EXPECT_THAT(paths, rpcnet::testing::ErrorIs(rpcnet::ErrorKind::kIo, rpcnet::StatusCode::kUnavailable));
  EXPECT_NE(paths.error().message().find(options.directory), std::string::npos)
      << paths.error().message();
  EXPECT_EQ(read_file(options.directory), "a regular file");
}

TEST_F(DevCertsTest, TargetOccupiedByADirectoryIsAnIoErrorNamingThePath) {
  auto options = options_in();
  auto first = rpcnet::make_dev_certificates(options);
  ASSERT_TRUE(first) << first.error();
  // A non-empty directory where client-key.pem should go: the rename into place must fail.
  fs::remove(first->client_key);
  fs::create_directory(first->client_key);
  fs::create_directory(fs::path(first->client_key) / "occupied");

  auto second = rpcnet::make_dev_certificates(options);
  ASSERT_FALSE(second);
  EXPECT_THAT(second, rpcnet::testing::ErrorIs(rpcnet::ErrorKind::kIo, rpcnet::StatusCode::kUnavailable));
  EXPECT_NE(second.error().message().find(first->client_key), std::string::npos)
      << second.error().message();
  // No temporary files are left behind.
  for (const std::string& name : directory_entries(options.directory)) {
    EXPECT_EQ(name.find(".tmp"), std::string::npos) << name;
  }
}

}  // namespace
