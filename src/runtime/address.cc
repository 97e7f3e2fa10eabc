#include "rpcnet/address.h"

#include <charconv>

namespace rpcnet {

Result<SocketAddress> parse_socket_address(std::string_view text) {
  const auto bad = [&](std::string_view why) {
    return RpcError::config("invalid address \"" + std::string(text) + "\": " + std::string(why));
  };
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return bad("expected host:port");
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port > 65535) {
    return bad("port must be a number in 0..65535");
  }
  if (host == "localhost") host = "127.0.0.1";
  asio::error_code error;
  const auto ip = asio::ip::make_address(std::string(host), error);
  if (error) return bad("host must be an IP address or localhost");
  return SocketAddress(ip, static_cast<unsigned short>(port));
}

std::string to_string(const SocketAddress& address) {
  const auto ip = address.address();
  std::string out = ip.is_v6() ? "[" + ip.to_string() + "]" : ip.to_string();
  return out + ":" + std::to_string(address.port());
}

}  // namespace rpcnet
