// Shared by the single-process examples: fresh development certificates in a temporary
// directory that is removed again when the program ends.
//
// In a real deployment the certificates come from your PKI (or from `rpcnet certs` while
// developing); the examples make their own so that each one runs anywhere without setup.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <system_error>

#include "rpcnet/rpcnet.h"

namespace examples {

class TempCertificates {
 public:
  TempCertificates() {
    std::error_code error;
    std::filesystem::path base = std::filesystem::temp_directory_path(error);
    if (error) base = "/tmp";
    std::string pattern = (base / "rpcnet-example-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::cerr << "cannot create a temporary directory under " << base << "\n";
      return;
    }
    directory_ = pattern;
    rpcnet::DevCertificateOptions options;
    options.directory = directory_;
    auto paths = rpcnet::make_dev_certificates(options);  // CA + server + client, PEM files
    if (!paths) {
      std::cerr << "cannot make certificates: " << paths.error() << "\n";
      return;
    }
    paths_ = *paths;
  }
  ~TempCertificates() {
    if (directory_.empty()) return;
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
  }
  TempCertificates(const TempCertificates&) = delete;
  TempCertificates& operator=(const TempCertificates&) = delete;

  bool ok() const { return paths_.has_value(); }
  const rpcnet::DevCertificatePaths& paths() const { return *paths_; }

  // The server side: its certificate and private key, listening on an OS-chosen loopback port.
  rpcnet::RpcConfig server_config() const {
    return rpcnet::RpcConfig(paths_->server_cert, "127.0.0.1:0")
        .with_key_path(paths_->server_key)
        .with_event_loops(1);
  }
  // The client side: trusts the development CA and expects the name "localhost".
  rpcnet::RpcConfig client_config() const {
    return rpcnet::RpcConfig(paths_->ca_cert, "127.0.0.1:0").with_server_name("localhost");
  }

 private:
  std::string directory_;
  std::optional<rpcnet::DevCertificatePaths> paths_;
};

}  // namespace examples
