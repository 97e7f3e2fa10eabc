// rpcnet/certs.h — development certificates, made by rpcnet itself (GnuTLS), so nobody has to
// type openssl commands.
//
// make_dev_certificates() writes a fresh development CA and, signed by it, a server certificate
// (for the given host names and IP addresses) and a client certificate (for mutual TLS), all
// ECDSA P-256, as PEM files:
//   ca.pem, ca-key.pem, server.pem, server-key.pem, client.pem, client-key.pem
// Private keys are written with mode 0600. Certificates are valid from one hour ago for
// `valid_for` (the CA for `ca_valid_for` when set). These are for development and tests only:
// the CA key sits next to the certificates.
//
// Example:
//   rpcnet::Result<rpcnet::RpcConfig> development_server_config() {
//     auto paths = rpcnet::make_dev_certificates({.directory = "certs"});
//     if (!paths) return paths.error();
//     return rpcnet::RpcConfig(paths->server_cert, "127.0.0.1:0").with_key_path(paths->server_key);
//   }
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "rpcnet/result.h"

namespace rpcnet {

struct DevCertificateOptions {
  std::string directory = "certs";  // created if missing
  // subjectAltNames of the server certificate: DNS names and IP literals (IPv4 or IPv6).
  std::vector<std::string> server_names = {"localhost", "127.0.0.1", "::1"};
  std::string client_name = "rpcnet-dev-client";  // CN of the client certificate
  std::chrono::hours valid_for{24 * 30};
  // The CA's own validity when it should differ from valid_for (unset: valid_for), e.g. a CA
  // that expires before the certificates it issued, to see what peers do when it does.
  std::optional<std::chrono::hours> ca_valid_for{};
};

struct DevCertificatePaths {
  std::string ca_cert;
  std::string ca_key;
  std::string server_cert;
  std::string server_key;
  std::string client_cert;
  std::string client_key;
};

// Errors: kIo when the directory cannot be created or a file cannot be written (the message
// names the path); kConfig for an empty server name list, an empty server or client name, an
// empty directory, or a valid_for or ca_valid_for that is not positive or reaches past the year
// 9999. Each file is written under a temporary name and renamed into place once all six are
// written, so a failure never leaves a partly written file.
Result<DevCertificatePaths> make_dev_certificates(const DevCertificateOptions& options = {});

}  // namespace rpcnet
