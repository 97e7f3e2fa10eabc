// The request head of the metrics endpoint's tiny HTTP/1.x server, parsed without I/O. The
// endpoint answers one GET per connection, so all it needs is the request line; header lines are
// only checked for shape and size. Anything else gets a precise status and the connection ends.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace rpcnet::metrics {

struct HttpRequestHead {
  enum class Outcome {
    kIncomplete,  // no blank line yet, within the size limit: read more
    kComplete,    // `method` and `path` are set
    kBad,         // malformed: answer `status`
  };
  Outcome outcome = Outcome::kIncomplete;
  int status = 0;     // for kBad: 400 (malformed), 431 (head too large), 505 (not HTTP/1.x)
  std::string method;
  std::string path;   // the target without its query string
};

// `buffer` is everything read so far. A head longer than `max_head_bytes` is 431 even if it is
// still incomplete, so a peer cannot make the server buffer without bound.
HttpRequestHead parse_http_request_head(std::string_view buffer, std::size_t max_head_bytes);

// A complete response with Content-Length and "Connection: close".
std::string http_response(int status, std::string_view content_type, std::string_view body,
                          std::string_view extra_headers = {});

}  // namespace rpcnet::metrics
