#include "metrics/http_request.h"

#include <algorithm>

namespace rpcnet::metrics {
namespace {

HttpRequestHead bad(int status) {
  HttpRequestHead head;
  head.outcome = HttpRequestHead::Outcome::kBad;
  head.status = status;
  return head;
}

// RFC 9110 token characters, which a method consists of.
bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_visible(char c) { return c > 0x20 && c < 0x7f; }

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
  }
}

// request-line = method SP request-target SP HTTP-version, single spaces. Fills method and
// path; returns 0 or the status to answer.
int parse_request_line(std::string_view line, HttpRequestHead& request) {
  const std::size_t first_space = line.find(' ');
  if (first_space == std::string_view::npos || first_space == 0) return 400;
  const std::size_t second_space = line.find(' ', first_space + 1);
  if (second_space == std::string_view::npos || second_space == first_space + 1) return 400;
  const std::string_view method = line.substr(0, first_space);
  const std::string_view target = line.substr(first_space + 1, second_space - first_space - 1);
  const std::string_view version = line.substr(second_space + 1);
  if (!std::all_of(method.begin(), method.end(), is_token_char)) return 400;
  if (target.front() != '/' || !std::all_of(target.begin(), target.end(), is_visible)) return 400;
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/") return 400;
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return 505;
  request.method = std::string(method);
  request.path = std::string(target.substr(0, target.find('?')));
  return 0;
}

// field-line = field-name ":" field-value; only the shape is checked.
bool is_valid_field_line(std::string_view field) {
  const std::size_t colon = field.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  if (!std::all_of(field.begin(), field.begin() + static_cast<std::ptrdiff_t>(colon), is_token_char)) return false;
  return std::none_of(field.begin(), field.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

}  // namespace

HttpRequestHead parse_http_request_head(std::string_view buffer, std::size_t max_head_bytes) {
  const std::size_t end = buffer.find("\r\n\r\n");
  const std::size_t head_size = end == std::string_view::npos ? buffer.size() : end + 4;
  if (head_size > max_head_bytes) return bad(431);
  HttpRequestHead request;
  const std::size_t line_end = buffer.find("\r\n");
  if (line_end == std::string_view::npos) {
    // No full request line yet; bytes a request line never contains end it early.
    const bool plausible = std::all_of(buffer.begin(), buffer.end(), [](char c) { return is_visible(c) || c == ' ' || c == '\r'; });
    return plausible ? request : bad(400);
  }
  if (const int status = parse_request_line(buffer.substr(0, line_end), request); status != 0) return bad(status);
  if (end == std::string_view::npos) return HttpRequestHead{};  // headers still arriving
  for (std::size_t at = line_end + 2; at < end + 2;) {
    const std::size_t next = buffer.find("\r\n", at);
    if (!is_valid_field_line(buffer.substr(at, next - at))) return bad(400);
    at = next + 2;
  }
  request.outcome = HttpRequestHead::Outcome::kComplete;
  return request;
}

std::string http_response(int status, std::string_view content_type, std::string_view body,
                          std::string_view extra_headers) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\n";
  out += "Content-Type: ";
  out += content_type;
  out += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  out += extra_headers;
  out += "Connection: close\r\n\r\n";
  out += body;
  return out;
}

}  // namespace rpcnet::metrics
