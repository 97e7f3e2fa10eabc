#include "target.h"

#include <netdb.h>
#include <sys/socket.h>

#include <cmath>
#include <cstdlib>
#include <memory>

namespace rpcnet::tool {

Result<CallTarget> resolve_call_target(std::string_view text) {
  if (auto literal = parse_socket_address(text)) return CallTarget{{*literal}, ""};
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return RpcError::config("\"" + std::string(text) + "\" is not HOST:PORT");
  }
  const std::string host(text.substr(0, colon));
  const std::string port(text.substr(colon + 1));
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return RpcError::config("cannot resolve \"" + std::string(text) + "\": " + ::gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owned(found, &::freeaddrinfo);
  CallTarget target{{}, host};
  for (const addrinfo* entry = found; entry != nullptr; entry = entry->ai_next) {
    char numeric[NI_MAXHOST];
    if (::getnameinfo(entry->ai_addr, entry->ai_addrlen, numeric, sizeof numeric, nullptr, 0, NI_NUMERICHOST) != 0) {
      continue;
    }
    const std::string literal = entry->ai_family == AF_INET6 ? "[" + std::string(numeric) + "]:" + port
                                                              : std::string(numeric) + ":" + port;
    if (auto address = parse_socket_address(literal)) target.addresses.push_back(*address);
  }
  if (target.addresses.empty()) return RpcError::config("cannot resolve \"" + std::string(text) + "\"");
  return target;
}

Result<std::chrono::milliseconds> parse_call_duration(std::string_view text) {
  const std::string owned(text);
  char* end = nullptr;
  const double value = std::strtod(owned.c_str(), &end);
  const std::string_view unit(end, owned.c_str() + owned.size() - end);
  double millis_per_unit = 0;
  if (unit == "ms") millis_per_unit = 1;
  if (unit == "s") millis_per_unit = 1000;
  if (unit == "m") millis_per_unit = 60'000;
  if (end == owned.c_str() || millis_per_unit == 0 || !std::isfinite(value) || value <= 0 ||
      value * millis_per_unit > 1e12) {
    return RpcError::config("\"" + owned + "\" is not a duration such as 500ms, 2s or 1m");
  }
  return std::chrono::milliseconds(std::max<long long>(1, std::llround(value * millis_per_unit)));
}

}  // namespace rpcnet::tool
