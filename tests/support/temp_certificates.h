// A temporary directory, removed with its contents when the object goes, and development
// certificates (rpcnet::make_dev_certificates) made in named subdirectories of it: one CA with
// its server and client certificates per subdirectory, each CA unrelated to the others.
//
// Example:
//   const TempCertificateDirectory dir("rpcnet-my-test");
//   const DevCertificatePaths paths = dir.make("trusted");
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

#include "rpcnet/certs.h"

namespace rpcnet::testing {

class TempCertificateDirectory {
 public:
  explicit TempCertificateDirectory(const std::string& prefix) {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    root_ = pattern;
  }
  ~TempCertificateDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
  }
  TempCertificateDirectory(const TempCertificateDirectory&) = delete;
  TempCertificateDirectory& operator=(const TempCertificateDirectory&) = delete;

  const std::filesystem::path& root() const { return root_; }

  // Throws on failure: a test cannot go on without its certificates.
  DevCertificatePaths make(const std::string& name, const std::string& client_name = "") const {
    DevCertificateOptions options;
    options.directory = (root_ / name).string();
    if (!client_name.empty()) options.client_name = client_name;
    auto paths = make_dev_certificates(options);
    if (!paths) throw std::runtime_error("certificates: " + paths.error().to_string());
    return *paths;
  }

 private:
  std::filesystem::path root_;
};

}  // namespace rpcnet::testing
