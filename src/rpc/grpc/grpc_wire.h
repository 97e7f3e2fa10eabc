// Sans-I/O translation between gRPC's wire protocol over HTTP/2 and rpcnet's own stream framing
// (doc/protocol.md §3), so that a call arriving on the gRPC-compatible TCP listener is served by
// the very ServerCall that serves QUIC calls (deadlines, limits, interceptors, metrics).
//
//   request:  HTTP/2 HEADERS (:path, grpc-timeout, metadata)  -> rpcnet HEADER frame
//             DATA: [flag 1 byte][length 4 bytes BE][message]  -> rpcnet MESSAGE frames
//   response: rpcnet MESSAGE frames -> response HEADERS (once) + gRPC-framed DATA
//             rpcnet TRAILER frame  -> trailers (grpc-status, grpc-message, metadata),
//                                      or a trailers-only response when nothing came before
//
// Messages are passed through, never assembled here: a request's bytes leave with an rpcnet
// prefix in place of the gRPC one, and the call core that reads them enforces max_message_size
// and every other limit exactly as it does for QUIC. What the gRPC side alone can get wrong
// (no gRPC content type, a compressed message, an unparsable timeout) is rejected here with the
// status gRPC specifies. https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md
//
//   grpc_compat::MessageDecoder decoder;
//   auto head = grpc_compat::parse_request_headers(headers, kind_of, request_id);
//   if (auto* call = std::get_if<wire::CallHeader>(&head)) wire::append_call_header_frame(out, *call);
//   decoder.feed(data, out);  // out: rpcnet MESSAGE frames
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "rpc/wire/call_header.h"
#include "rpc/wire/frame.h"
#include "rpcnet/bytes.h"
#include "rpcnet/result.h"
#include "rpcnet/status.h"

namespace rpcnet::grpc_compat {

// An HTTP/2 header field, name lowercase.
using HeaderField = std::pair<std::string, std::string>;
using HeaderFields = std::vector<HeaderField>;

// A request the listener answers without running a handler.
struct Rejection {
  // 200: a gRPC request that fails with `code` (trailers-only response). Anything else: not a gRPC
  // request at all (wrong method or content type), answered with that HTTP status and no body.
  int http_status = 200;
  StatusCode code = StatusCode::kInternal;
  std::string message;
};

// The call kind of a method as the server registered it (gRPC does not send it); nullopt when
// no such method is registered.
using KindOf = std::function<std::optional<wire::CallKind>(std::string_view method)>;

// Validates a request's headers and turns them into rpcnet's call header. `method` is the path
// without its leading '/' ("pkg.Service/Method"); metadata is every non-reserved field, with
// "-bin" values base64-decoded. `unknown_method`, when given, is set for a stock gRPC request
// (no rpcnet-call-kind) naming a method kind_of does not know: gRPC clients expect such a call to
// fail with UNIMPLEMENTED where rpcnet's own protocol says NOT_FOUND (ResponseEncoder maps it).
std::variant<wire::CallHeader, Rejection> parse_request_headers(const HeaderFields& headers,
                                                                const KindOf& kind_of,
                                                                std::uint64_t request_id,
                                                                bool* unknown_method = nullptr);

// "grpc-timeout" value ("1S", "250m", "100u", "5n", "2M", "1H"): at most 8 digits and a unit.
std::optional<std::chrono::microseconds> parse_timeout(std::string_view value);
std::string format_timeout(std::chrono::microseconds timeout);

// gRPC-framed DATA (either direction) -> rpcnet MESSAGE frames, incrementally (any chunking).
class MessageDecoder {
 public:
  // Appends the rpcnet bytes for `data` to `out`. Once it returns a rejection (a compressed or
  // malformed message prefix) every later call returns it too.
  std::optional<Rejection> feed(ByteView data, Bytes& out);
  // True between messages: an END_STREAM here ends the request cleanly.
  bool at_message_boundary() const noexcept { return prefix_have_ == 0 && remaining_ == 0; }

 private:
  std::uint8_t prefix_[5] = {};
  std::size_t prefix_have_ = 0;
  std::uint64_t remaining_ = 0;  // payload bytes of the current message still to pass through
  std::optional<Rejection> failed_;
};

// What the HTTP/2 stream must send for the rpcnet bytes a handler wrote.
struct ResponseAction {
  enum class Kind : std::uint8_t {
    kHeaders,   // response HEADERS; `end_stream` for a trailers-only response
    kData,      // gRPC-framed DATA
    kTrailers,  // trailing HEADERS, END_STREAM
  };
  Kind kind = Kind::kData;
  HeaderFields headers;
  Bytes data;
  bool end_stream = false;
};

// rpcnet frames written by the server's call -> HTTP/2 response actions, incrementally.
class ResponseEncoder {
 public:
  explicit ResponseEncoder(wire::FrameLimits limits) : decoder_(limits) {}
  // The call named a method the server does not have (parse_request_headers' unknown_method):
  // the server core's NOT_FOUND then goes out as gRPC's UNIMPLEMENTED.
  void set_unknown_method() noexcept { unknown_method_ = true; }
  // Translates `bytes` (any chunking of whole or partial frames). Errors only on bytes the server
  // itself produced wrongly (INTERNAL).
  Result<void> feed(ByteView bytes, std::vector<ResponseAction>& out);
  // The response as a trailers-only (or trailing) status when the call ends without a trailer
  // of its own: a reset by the server with `code`.
  void fail(StatusCode code, std::string message, std::vector<ResponseAction>& out);
  bool finished() const noexcept { return finished_; }
  bool headers_sent() const noexcept { return headers_sent_; }

 private:
  void status(const wire::Trailer& trailer, std::vector<ResponseAction>& out);

  wire::FrameDecoder decoder_;
  bool headers_sent_ = false;
  bool finished_ = false;
  bool unknown_method_ = false;
};

// ---- the client side: an rpcnet client call carried by gRPC (RpcClient's HTTP/2 fallback) ----

// What the HTTP/2 stream must send for the rpcnet bytes a client call wrote.
struct RequestAction {
  enum class Kind : std::uint8_t {
    kHeaders,  // the request HEADERS (opens the stream)
    kData,     // gRPC-framed DATA
  };
  Kind kind = Kind::kData;
  HeaderFields headers;
  Bytes data;
};

// rpcnet frames written by RpcClient's call -> HTTP/2 request actions, incrementally.
class RequestEncoder {
 public:
  RequestEncoder(std::string authority, wire::FrameLimits limits)
      : authority_(std::move(authority)), decoder_(limits) {}
  // Errors only on bytes the client itself produced wrongly (INTERNAL).
  Result<void> feed(ByteView bytes, std::vector<RequestAction>& out);

 private:
  std::string authority_;
  wire::FrameDecoder decoder_;
  bool headers_sent_ = false;
};

// An HTTP/2 response -> the rpcnet bytes RpcClient's call reads (MESSAGE frames, then a TRAILER
// frame), incrementally. A response that is not gRPC (an HTTP error status, another content
// type, no grpc-status) becomes the status gRPC specifies for it.
class ResponseDecoder {
 public:
  // Response HEADERS (`trailers` false: the first block) or trailers. Appends to `out`.
  void on_headers(const HeaderFields& headers, bool trailers, Bytes& out);
  void on_data(ByteView data, Bytes& out);
  // END_STREAM: if no status came, a missing-status error trailer is appended.
  void on_end_of_stream(Bytes& out);
  bool finished() const noexcept { return finished_; }

 private:
  void finish(const wire::Trailer& trailer, Bytes& out);
  void fail(StatusCode code, std::string message, Bytes& out);

  MessageDecoder messages_;
  bool headers_seen_ = false;
  bool finished_ = false;
};

// The status code gRPC assigns to a non-200 HTTP response.
StatusCode status_for_http(int http_status);
// The trailer a response's status fields describe (grpc-status, grpc-message,
// grpc-status-details-bin, metadata); nullopt without a valid grpc-status.
std::optional<wire::Trailer> trailer_from_fields(const HeaderFields& fields);

// The response HEADERS of a gRPC call (":status 200", content-type).
HeaderFields response_headers();
// The HTTP/2 fields of a status: grpc-status, grpc-message (percent-encoded),
// grpc-status-details-bin, then the trailer's metadata ("-bin" values base64-encoded).
HeaderFields status_fields(const wire::Trailer& trailer);

// gRPC's percent-encoding of grpc-message (bytes outside 0x20..0x7e, and '%').
std::string percent_encode(std::string_view text);
std::string percent_decode(std::string_view text);
std::string base64_encode(std::string_view bytes);
// Accepts padded and unpadded input (gRPC allows both); nullopt on a character outside the alphabet.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace rpcnet::grpc_compat
