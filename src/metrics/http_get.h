// A small blocking HTTP GET for scraping a /metrics endpoint (what `rpcnet top` uses): one
// request over a fresh TCP connection, the answer read until the peer closes.
//
// Contract: the whole exchange (connect, send, receive) ends within `timeout`; a response over
// max_response_bytes is abandoned as soon as it is seen to be. The request is HTTP/1.0, so a
// compliant server answers with Content-Length or by closing — never chunked (a chunked answer
// is an error). Any status is a successful exchange: the caller decides what a 404 means.
// No TLS, no redirects, no DNS: the address is an IP (or localhost, see parse_socket_address).
//
// Example:
//   auto address = parse_socket_address("127.0.0.1:9464");
//   auto response = http_get(*address, "/metrics");
//   if (response && response->status == 200) use(response->body);
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "rpcnet/address.h"
#include "rpcnet/result.h"

namespace rpcnet::metrics {

struct HttpGetOptions {
  std::chrono::milliseconds timeout{5000};
  std::size_t max_response_bytes = 8 * 1024 * 1024 + 64 * 1024;  // a max-size exposition + head
};

struct HttpResponse {
  int status = 0;
  std::string reason;  // "OK", "Not Found", ...
  std::string body;
};

// Errors: kIo when the connection cannot be made or breaks ("connection refused" and the like,
// naming the address), the response is too large or malformed; kCall (timeout) when the
// exchange does not end within the timeout.
Result<HttpResponse> http_get(const SocketAddress& address, std::string_view path, const HttpGetOptions& options = {});

// Parses a complete response (everything the server sent before closing), without I/O.
// Errors: kIo naming what is wrong (status line, head without its blank line, body shorter than
// Content-Length, chunked transfer coding).
Result<HttpResponse> parse_http_response(std::string_view raw);

}  // namespace rpcnet::metrics
