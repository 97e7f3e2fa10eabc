// rpcnet/address.h — socket addresses.
//
// rpcnet speaks UDP (QUIC), so an address is an Asio UDP endpoint: IP + port. Text forms are
// "127.0.0.1:8080", "[::1]:8080" and "localhost:8080" (localhost means 127.0.0.1; other host
// names are not resolved — pass an IP address).
//
// Example:
//   #include <iostream>
//
//   void print_port(std::string_view text) {
//     auto addr = rpcnet::parse_socket_address(text);  // e.g. "127.0.0.1:4433", "[::1]:0"
//     if (!addr) { std::cerr << addr.error() << "\n"; return; }
//     std::cout << addr->port() << "\n";
//   }
#pragma once

#include <asio/ip/udp.hpp>
#include <string>
#include <string_view>

#include "rpcnet/result.h"

namespace rpcnet {

using SocketAddress = asio::ip::udp::endpoint;

// Errors: kConfig naming the text when it is not "host:port" with an IP (or localhost) and a
// port in 0..65535.
Result<SocketAddress> parse_socket_address(std::string_view text);

// "127.0.0.1:8080" / "[::1]:8080".
std::string to_string(const SocketAddress& address);

}  // namespace rpcnet
