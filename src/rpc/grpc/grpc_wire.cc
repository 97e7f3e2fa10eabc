#include "rpc/grpc/grpc_wire.h"

#include <algorithm>
#include <array>
#include <charconv>

namespace rpcnet::grpc_compat {

namespace {

constexpr std::size_t kPrefixBytes = 5;  // compressed flag, then the length big-endian
// A response message at most this large is sent with its prefix in one buffer (one copy, one
// DATA frame); larger ones keep their own buffer and the prefix goes in front of it.
constexpr std::size_t kCoalesceBytes = 16u << 10;

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

bool is_binary_key(std::string_view key) { return ends_with(key, "-bin"); }

// An rpcnet client over HTTP/2 names its call's kind (gRPC leaves it to the .proto), so a server
// rejects a unary method called as a stream exactly as it does over QUIC.
constexpr std::string_view kCallKindField = "rpcnet-call-kind";

// gRPC reserves "grpc-" and the transport's own fields; everything else is the caller's metadata.
bool is_reserved_request_field(std::string_view name) {
  return name.empty() || name.front() == ':' || starts_with(name, "grpc-") || name == kCallKindField ||
         name == "content-type" || name == "te" || name == "content-length" ||
         name == "connection" || name == "host";
}

bool is_grpc_content_type(std::string_view value) {
  constexpr std::string_view kGrpc = "application/grpc";
  if (!starts_with(value, kGrpc)) return false;
  return value.size() == kGrpc.size() || value[kGrpc.size()] == '+' || value[kGrpc.size()] == ';';
}

// An HTTP/2 field name gRPC metadata may use: lowercase letters, digits, '-', '_' and '.'.
bool is_valid_metadata_key(std::string_view key) {
  if (key.empty() || starts_with(key, "grpc-") || key.front() == ':') return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

bool is_printable_ascii(std::string_view value) {
  return std::all_of(value.begin(), value.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

// A key HTTP/2 cannot carry, or a text value with bytes a header may not hold, is left out
// rather than breaking the call for every field.
void append_metadata_fields(const Metadata& metadata, HeaderFields& fields) {
  for (const auto& [key, value] : metadata) {
    // A key naming one of the transport's own fields ("content-type", "te") would replace it.
    if (!is_valid_metadata_key(key) || is_reserved_request_field(key)) continue;
    if (is_binary_key(key)) {
      fields.emplace_back(key, base64_encode(value));
    } else if (is_printable_ascii(value)) {
      fields.emplace_back(key, value);
    }
  }
}

Rejection grpc_error(StatusCode code, std::string message) {
  return Rejection{200, code, std::move(message)};
}

void append_prefix(Bytes& out, std::size_t length) {
  out.push_back(0);  // not compressed
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<unsigned char>((length >> shift) & 0xff));
  }
}

}  // namespace

// ---- request ----------------------------------------------------------------------------------

std::variant<wire::CallHeader, Rejection> parse_request_headers(const HeaderFields& headers,
                                                                const KindOf& kind_of,
                                                                std::uint64_t request_id,
                                                                bool* unknown_method) {
  wire::CallHeader call;
  call.request_id = request_id;
  bool post = false;
  bool grpc_type = false;
  std::optional<std::string_view> path;
  std::optional<wire::CallKind> named_kind;
  for (const auto& [name, value] : headers) {
    if (name == kCallKindField) {
      if (value.size() == 1 && value[0] >= '0' && value[0] <= static_cast<char>('0' + wire::kMaxCallKind)) {
        named_kind = static_cast<wire::CallKind>(value[0] - '0');
      }
      continue;
    }
    if (name == ":method") {
      post = value == "POST";
    } else if (name == ":path") {
      path = value;
    } else if (name == "content-type") {
      grpc_type = is_grpc_content_type(value);
    } else if (name == "grpc-timeout") {
      call.timeout = parse_timeout(value);
      if (!call.timeout) return grpc_error(StatusCode::kInternal, "malformed grpc-timeout \"" + value + "\"");
    } else if (!is_reserved_request_field(name)) {
      if (!is_binary_key(name)) {
        call.metadata.emplace_back(name, value);
        continue;
      }
      auto decoded = base64_decode(value);
      if (!decoded) return grpc_error(StatusCode::kInternal, "metadata \"" + name + "\" is not base64");
      call.metadata.emplace_back(name, std::move(*decoded));
    }
  }
  if (!post) return Rejection{405, StatusCode::kUnimplemented, "gRPC requests are POST"};
  if (!grpc_type) {
    return Rejection{415, StatusCode::kUnimplemented, "content-type must be application/grpc"};
  }
  if (!path || path->size() < 2 || path->front() != '/') {
    return grpc_error(StatusCode::kUnimplemented, "malformed :path");
  }
  call.method = std::string(path->substr(1));
  std::optional<wire::CallKind> registered = wire::CallKind::kUnary;
  if (named_kind) {
    registered = *named_kind;
  } else if (kind_of) {
    registered = kind_of(call.method);
  }
  if (unknown_method != nullptr) *unknown_method = !registered.has_value();
  call.kind = registered.value_or(wire::CallKind::kUnary);
  return call;
}

std::optional<std::chrono::microseconds> parse_timeout(std::string_view value) {
  if (value.size() < 2 || value.size() > 9) return std::nullopt;
  const char unit = value.back();
  const std::string_view digits = value.substr(0, value.size() - 1);
  std::uint64_t amount = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), amount);
  if (error != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  using std::chrono::microseconds;
  std::uint64_t micros = 0;
  switch (unit) {
    case 'H': micros = amount * 3'600'000'000ull; break;
    case 'M': micros = amount * 60'000'000ull; break;
    case 'S': micros = amount * 1'000'000ull; break;
    case 'm': micros = amount * 1'000ull; break;
    case 'u': micros = amount; break;
    case 'n': micros = (amount + 999) / 1'000; break;
    default: return std::nullopt;
  }
  // 8 digits of hours is below 2^64 µs; the deadline arithmetic needs the usual clamp.
  const auto clamped = std::min<std::uint64_t>(micros, static_cast<std::uint64_t>(wire::kMaxTimeout.count()));
  return microseconds(static_cast<std::int64_t>(clamped));
}

std::string format_timeout(std::chrono::microseconds timeout) {
  constexpr std::int64_t kMaxAmount = 99'999'999;  // eight digits
  std::int64_t amount = std::max<std::int64_t>(timeout.count(), 0);
  // Round up, so a deadline is never earlier on the other side than here.
  constexpr std::array<std::pair<std::int64_t, char>, 5> kUnits = {
      {{1, 'u'}, {1'000, 'm'}, {1'000'000, 'S'}, {60'000'000, 'M'}, {3'600'000'000, 'H'}}};
  for (const auto& [micros_per_unit, unit] : kUnits) {
    const std::int64_t in_unit = (amount + micros_per_unit - 1) / micros_per_unit;
    if (in_unit <= kMaxAmount) return std::to_string(in_unit) + unit;
  }
  return std::to_string(kMaxAmount) + "H";
}

std::optional<Rejection> MessageDecoder::feed(ByteView data, Bytes& out) {
  if (failed_) return failed_;
  std::size_t at = 0;
  while (at < data.size()) {
    if (remaining_ > 0) {
      const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, data.size() - at));
      out.insert(out.end(), data.begin() + static_cast<std::ptrdiff_t>(at),
                 data.begin() + static_cast<std::ptrdiff_t>(at + take));
      remaining_ -= take;
      at += take;
      continue;
    }
    prefix_[prefix_have_++] = data[at++];
    if (prefix_have_ < kPrefixBytes) continue;
    prefix_have_ = 0;
    if (prefix_[0] == 1) {
      failed_ = grpc_error(StatusCode::kUnimplemented,
                           "compressed messages are not supported (grpc-encoding identity only)");
      return failed_;
    }
    if (prefix_[0] != 0) {
      failed_ = grpc_error(StatusCode::kInternal, "malformed gRPC message prefix");
      return failed_;
    }
    std::uint64_t length = 0;
    for (std::size_t i = 1; i < kPrefixBytes; ++i) length = (length << 8) | prefix_[i];
    // The call core checks the length against max_message_size when it reads this prefix.
    wire::append_frame_prefix(out, wire::FrameType::kMessage, length);
    remaining_ = length;
  }
  return std::nullopt;
}

// ---- response ---------------------------------------------------------------------------------

HeaderFields response_headers() {
  return {{":status", "200"}, {"content-type", "application/grpc"}};
}

HeaderFields status_fields(const wire::Trailer& trailer) {
  HeaderFields fields;
  fields.emplace_back("grpc-status", std::to_string(static_cast<int>(trailer.code)));
  if (!trailer.message.empty()) fields.emplace_back("grpc-message", percent_encode(trailer.message));
  if (!trailer.details.empty()) {
    const std::string details(trailer.details.begin(), trailer.details.end());
    fields.emplace_back("grpc-status-details-bin", base64_encode(details));
  }
  append_metadata_fields(trailer.metadata, fields);
  return fields;
}

Result<void> ResponseEncoder::feed(ByteView bytes, std::vector<ResponseAction>& out) {
  std::vector<wire::Frame> frames;
  if (decoder_.feed(bytes, frames) != wire::FrameError::kNone) {
    return RpcError::status(StatusCode::kInternal, "the server wrote malformed frames");
  }
  for (wire::Frame& frame : frames) {
    if (finished_) return RpcError::status(StatusCode::kInternal, "frames after the trailer");
    switch (frame.type) {
      case wire::FrameType::kMessage: {
        if (!headers_sent_) {
          out.push_back(ResponseAction{ResponseAction::Kind::kHeaders, response_headers(), {}, false});
          headers_sent_ = true;
        }
        Bytes prefixed;
        append_prefix(prefixed, frame.payload.size());
        if (frame.payload.size() <= kCoalesceBytes) {
          prefixed.insert(prefixed.end(), frame.payload.begin(), frame.payload.end());
          out.push_back(ResponseAction{ResponseAction::Kind::kData, {}, std::move(prefixed), false});
        } else {
          out.push_back(ResponseAction{ResponseAction::Kind::kData, {}, std::move(prefixed), false});
          out.push_back(ResponseAction{ResponseAction::Kind::kData, {}, std::move(frame.payload), false});
        }
        break;
      }
      case wire::FrameType::kTrailer: {
        auto trailer = wire::decode_trailer(frame.payload);
        if (!trailer) return RpcError::status(StatusCode::kInternal, "the server wrote a malformed trailer");
        status(*trailer, out);
        break;
      }
      case wire::FrameType::kHeader:
        return RpcError::status(StatusCode::kInternal, "a call header in a response");
    }
  }
  return ok();
}

void ResponseEncoder::fail(StatusCode code, std::string message, std::vector<ResponseAction>& out) {
  if (finished_) return;
  wire::Trailer trailer;
  trailer.code = code;
  trailer.message = std::move(message);
  status(trailer, out);
}

void ResponseEncoder::status(const wire::Trailer& trailer, std::vector<ResponseAction>& out) {
  finished_ = true;
  std::optional<wire::Trailer> unimplemented;
  if (unknown_method_ && trailer.code == StatusCode::kNotFound) {
    unimplemented = trailer;
    unimplemented->code = StatusCode::kUnimplemented;
  }
  const wire::Trailer& sent = unimplemented ? *unimplemented : trailer;
  if (headers_sent_) {
    out.push_back(ResponseAction{ResponseAction::Kind::kTrailers, status_fields(sent), {}, true});
    return;
  }
  // Trailers-only: the status rides on the only HEADERS frame of the response.
  HeaderFields fields = response_headers();
  HeaderFields status = status_fields(sent);
  fields.insert(fields.end(), std::make_move_iterator(status.begin()), std::make_move_iterator(status.end()));
  headers_sent_ = true;
  out.push_back(ResponseAction{ResponseAction::Kind::kHeaders, std::move(fields), {}, true});
}

// ---- client side --------------------------------------------------------------------------------

Result<void> RequestEncoder::feed(ByteView bytes, std::vector<RequestAction>& out) {
  std::vector<wire::Frame> frames;
  if (decoder_.feed(bytes, frames) != wire::FrameError::kNone) {
    return RpcError::status(StatusCode::kInternal, "the client wrote malformed frames");
  }
  for (wire::Frame& frame : frames) {
    switch (frame.type) {
      case wire::FrameType::kHeader: {
        if (headers_sent_) return RpcError::status(StatusCode::kInternal, "a second call header");
        auto header = wire::decode_call_header(frame.payload);
        if (!header) return RpcError::status(StatusCode::kInternal, "the client wrote a malformed header");
        HeaderFields fields = {{":method", "POST"},
                               {":scheme", "https"},
                               {":path", "/" + header->method},
                               {":authority", authority_},
                               {"content-type", "application/grpc"},
                               {"te", "trailers"},
                               {"user-agent", "rpcnet"},
                               {std::string(kCallKindField),
                                std::to_string(static_cast<unsigned>(header->kind))}};
        if (header->timeout) fields.emplace_back("grpc-timeout", format_timeout(*header->timeout));
        append_metadata_fields(header->metadata, fields);
        out.push_back(RequestAction{RequestAction::Kind::kHeaders, std::move(fields), {}});
        headers_sent_ = true;
        break;
      }
      case wire::FrameType::kMessage: {
        if (!headers_sent_) return RpcError::status(StatusCode::kInternal, "a message before the header");
        Bytes prefixed;
        append_prefix(prefixed, frame.payload.size());
        if (frame.payload.size() <= kCoalesceBytes) {
          prefixed.insert(prefixed.end(), frame.payload.begin(), frame.payload.end());
          out.push_back(RequestAction{RequestAction::Kind::kData, {}, std::move(prefixed)});
        } else {
          out.push_back(RequestAction{RequestAction::Kind::kData, {}, std::move(prefixed)});
          out.push_back(RequestAction{RequestAction::Kind::kData, {}, std::move(frame.payload)});
        }
        break;
      }
      case wire::FrameType::kTrailer:
        return RpcError::status(StatusCode::kInternal, "a status trailer in a request");
    }
  }
  return ok();
}

StatusCode status_for_http(int http_status) {
  // https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md
  switch (http_status) {
    case 400: return StatusCode::kInternal;
    case 401: return StatusCode::kUnauthenticated;
    case 403: return StatusCode::kPermissionDenied;
    case 404: return StatusCode::kUnimplemented;
    case 429:
    case 502:
    case 503:
    case 504: return StatusCode::kUnavailable;
    default: return StatusCode::kUnknown;
  }
}

std::optional<wire::Trailer> trailer_from_fields(const HeaderFields& fields) {
  wire::Trailer trailer;
  bool have_status = false;
  for (const auto& [name, value] : fields) {
    if (name == "grpc-status") {
      std::uint32_t code = 0;
      const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), code);
      if (error != std::errc() || end != value.data() + value.size()) return std::nullopt;
      trailer.code = code > kMaxStatusCode ? StatusCode::kUnknown : static_cast<StatusCode>(code);
      have_status = true;
    } else if (name == "grpc-message") {
      trailer.message = percent_decode(value);
    } else if (name == "grpc-status-details-bin") {
      if (auto details = base64_decode(value)) trailer.details.assign(details->begin(), details->end());
    } else if (!is_reserved_request_field(name)) {
      if (!is_binary_key(name)) {
        trailer.metadata.emplace_back(name, value);
      } else if (auto decoded = base64_decode(value)) {
        trailer.metadata.emplace_back(name, std::move(*decoded));
      }
    }
  }
  if (!have_status) return std::nullopt;
  return trailer;
}

void ResponseDecoder::finish(const wire::Trailer& trailer, Bytes& out) {
  if (finished_) return;
  finished_ = true;
  // Inside a message cut short, a TRAILER frame would be read as the rest of it: nothing more
  // is appended, and the call fails on the incomplete frame (INTERNAL).
  if (!messages_.at_message_boundary()) return;
  wire::append_frame(out, wire::FrameType::kTrailer, wire::encode_trailer(trailer));
}

void ResponseDecoder::fail(StatusCode code, std::string message, Bytes& out) {
  wire::Trailer trailer;
  trailer.code = code;
  trailer.message = std::move(message);
  finish(trailer, out);
}

void ResponseDecoder::on_headers(const HeaderFields& headers, bool trailers, Bytes& out) {
  if (finished_) return;
  if (!trailers && !headers_seen_) {
    headers_seen_ = true;
    std::string_view status;
    std::string_view content_type;
    for (const auto& [name, value] : headers) {
      if (name == ":status") status = value;
      if (name == "content-type") content_type = value;
    }
    if (status != "200") {
      int http_status = 0;
      (void)std::from_chars(status.data(), status.data() + status.size(), http_status);
      fail(status_for_http(http_status), "HTTP status " + std::string(status) + " from the server", out);
      return;
    }
    if (!is_grpc_content_type(content_type)) {
      fail(StatusCode::kUnknown, "the server's response is not gRPC (content-type \"" +
                                     std::string(content_type) + "\")", out);
      return;
    }
    // Trailers-only: the status rides on the first HEADERS.
    if (auto trailer = trailer_from_fields(headers)) finish(*trailer, out);
    return;
  }
  if (auto trailer = trailer_from_fields(headers)) {
    finish(*trailer, out);
  } else {
    fail(StatusCode::kInternal, "the server's trailers have no valid grpc-status", out);
  }
}

void ResponseDecoder::on_data(ByteView data, Bytes& out) {
  if (finished_) return;
  if (!headers_seen_) {
    fail(StatusCode::kInternal, "DATA before the response headers", out);
    return;
  }
  if (auto rejected = messages_.feed(data, out)) fail(rejected->code, rejected->message, out);
}

void ResponseDecoder::on_end_of_stream(Bytes& out) {
  fail(StatusCode::kInternal, "the server ended the response without a status", out);
}

// ---- encodings --------------------------------------------------------------------------------

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte <= 0x7e && byte != '%') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xf]);
    }
  }
  return out;
}

std::string percent_decode(std::string_view text) {
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    // A '%' not followed by two hex digits stays as it is (gRPC decoders are lenient here).
    if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  const auto at = [&](std::size_t index) { return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[index])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t group = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    for (int shift = 18; shift >= 0; shift -= 6) out.push_back(kBase64Alphabet[(group >> shift) & 0x3f]);
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 0) return out;
  std::uint32_t group = at(i) << 16;
  if (rest == 2) group |= at(i + 1) << 8;
  out.push_back(kBase64Alphabet[(group >> 18) & 0x3f]);
  out.push_back(kBase64Alphabet[(group >> 12) & 0x3f]);
  out.push_back(rest == 2 ? kBase64Alphabet[(group >> 6) & 0x3f] : '=');
  out.push_back('=');
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t group = 0;
  int bits = 0;
  for (const char c : text) {
    const auto index = kBase64Alphabet.find(c);
    if (index == std::string_view::npos) return std::nullopt;
    group = (group << 6) | static_cast<std::uint32_t>(index);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((group >> bits) & 0xff));
    }
  }
  return out;
}

}  // namespace rpcnet::grpc_compat
