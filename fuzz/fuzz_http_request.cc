// libFuzzer target: metrics::parse_http_request_head, the /metrics endpoint's request parser.
//
// Input: bytes a peer sent. Oracles: a complete head has a token method and a path starting
// with '/'; a rejection carries one of the documented statuses; every prefix of a complete head
// is incomplete or rejected, never complete (the endpoint answers as soon as it is complete);
// the size limit always holds.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "metrics/http_request.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using rpcnet::metrics::HttpRequestHead;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  constexpr std::size_t kLimit = 512;
  const HttpRequestHead head = rpcnet::metrics::parse_http_request_head(input, kLimit);
  switch (head.outcome) {
    case HttpRequestHead::Outcome::kIncomplete:
      if (size > kLimit) __builtin_trap();
      break;
    case HttpRequestHead::Outcome::kBad:
      if (head.status != 400 && head.status != 431 && head.status != 505) __builtin_trap();
      break;
    case HttpRequestHead::Outcome::kComplete: {
      if (head.method.empty() || head.path.empty() || head.path.front() != '/') __builtin_trap();
      if (head.path.find('?') != std::string::npos) __builtin_trap();
      const std::size_t end = input.find("\r\n\r\n");
      if (end == std::string_view::npos || end + 4 > kLimit) __builtin_trap();
      if (rpcnet::metrics::parse_http_request_head(input.substr(0, end + 3), kLimit).outcome ==
          HttpRequestHead::Outcome::kComplete) {
        __builtin_trap();
      }
      break;
    }
  }
  return 0;
}
