// `rpcnet certs`: writes development certificates with rpcnet::make_dev_certificates.
#include <chrono>
#include <iomanip>
#include <iostream>

#include "commands.h"
#include "rpcnet/certs.h"

namespace rpcnet::tool {

int run_certs(const CertsOptions& options) {
  DevCertificateOptions dev;
  dev.directory = options.out;
  dev.server_names = options.hosts;
  dev.client_name = options.client_name;
  dev.valid_for = std::chrono::hours(static_cast<std::int64_t>(options.days) * 24);

  auto paths = make_dev_certificates(dev);
  if (!paths) {
    std::cerr << "rpcnet certs: " << paths.error() << "\n";
    return 1;
  }

  std::string names;
  for (const auto& host : options.hosts) names += (names.empty() ? "" : ", ") + host;
  std::cout << "Development certificates (for development and tests only: the CA key is here too)\n"
            << "valid for " << options.days << " days; server names: " << names
            << "; client CN: " << options.client_name << "\n\n";
  const std::pair<const char*, const std::string*> rows[] = {
      {"CA certificate", &paths->ca_cert},         {"CA private key", &paths->ca_key},
      {"server certificate", &paths->server_cert}, {"server private key", &paths->server_key},
      {"client certificate", &paths->client_cert}, {"client private key", &paths->client_key},
  };
  for (const auto& [label, path] : rows) {
    std::cout << "  " << std::left << std::setw(20) << label << *path << "\n";
  }
  std::cout << "\nServer: RpcConfig(\"" << paths->server_cert << "\", addr).with_key_path(\""
            << paths->server_key << "\")\n"
            << "Client: RpcConfig(\"" << paths->ca_cert
            << "\", \"127.0.0.1:0\").with_server_name(\"localhost\")\n";
  return 0;
}

}  // namespace rpcnet::tool
