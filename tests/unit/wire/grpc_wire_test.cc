// gRPC <-> rpcnet framing translation (src/rpc/grpc/grpc_wire.h): exact bytes and fields.
#include "rpc/grpc/grpc_wire.h"

#include <gtest/gtest.h>

#include <optional>

#include "rpc/wire/call_header.h"
#include "rpc/wire/frame.h"

namespace rpcnet::grpc_compat {
namespace {

using std::chrono::microseconds;

HeaderFields request(std::string path = "/pkg.Echo/Say") {
  return {{":method", "POST"}, {":scheme", "https"}, {":path", std::move(path)},
          {":authority", "localhost"}, {"content-type", "application/grpc"}, {"te", "trailers"}};
}

wire::CallKind bidi_for_streams(std::string_view method) {
  return method == "pkg.Echo/Chat" ? wire::CallKind::kBidiStreaming : wire::CallKind::kUnary;
}

Bytes grpc_message(std::string_view payload, std::uint8_t flag = 0) {
  Bytes out{flag};
  const auto size = static_cast<std::uint32_t>(payload.size());
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<unsigned char>(size >> shift));
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

TEST(GrpcWire, RequestHeadersBecomeTheCallHeader) {
  HeaderFields headers = request("/pkg.Echo/Chat");
  headers.emplace_back("grpc-timeout", "250m");
  headers.emplace_back("tenant", "blue");
  headers.emplace_back("trace-bin", base64_encode(std::string("\x00\xff\x10", 3)));
  headers.emplace_back("grpc-accept-encoding", "identity,gzip");
  auto parsed = parse_request_headers(headers, bidi_for_streams, 7);
  ASSERT_TRUE(std::holds_alternative<wire::CallHeader>(parsed));
  const auto& call = std::get<wire::CallHeader>(parsed);
  EXPECT_EQ(call.method, "pkg.Echo/Chat");
  EXPECT_EQ(call.kind, wire::CallKind::kBidiStreaming);
  EXPECT_EQ(call.timeout, microseconds(250'000));
  EXPECT_EQ(call.request_id, 7u);
  EXPECT_EQ(call.metadata, (Metadata{{"tenant", "blue"}, {"trace-bin", std::string("\x00\xff\x10", 3)}}));
}

TEST(GrpcWire, NonGrpcRequestsGetAnHttpStatus) {
  HeaderFields get = request();
  get[0].second = "GET";
  auto parsed = parse_request_headers(get, bidi_for_streams, 1);
  ASSERT_TRUE(std::holds_alternative<Rejection>(parsed));
  EXPECT_EQ(std::get<Rejection>(parsed).http_status, 405);

  HeaderFields json = request();
  json[4].second = "application/json";
  parsed = parse_request_headers(json, bidi_for_streams, 1);
  ASSERT_TRUE(std::holds_alternative<Rejection>(parsed));
  EXPECT_EQ(std::get<Rejection>(parsed).http_status, 415);

  HeaderFields proto = request();
  proto[4].second = "application/grpc+proto";
  EXPECT_TRUE(std::holds_alternative<wire::CallHeader>(parse_request_headers(proto, bidi_for_streams, 1)));
}

TEST(GrpcWire, MalformedGrpcFieldsAreAGrpcStatus) {
  HeaderFields timeout = request();
  timeout.emplace_back("grpc-timeout", "12x");
  auto parsed = parse_request_headers(timeout, bidi_for_streams, 1);
  ASSERT_TRUE(std::holds_alternative<Rejection>(parsed));
  EXPECT_EQ(std::get<Rejection>(parsed).http_status, 200);
  EXPECT_EQ(std::get<Rejection>(parsed).code, StatusCode::kInternal);

  HeaderFields binary = request();
  binary.emplace_back("key-bin", "not base64!");
  parsed = parse_request_headers(binary, bidi_for_streams, 1);
  ASSERT_TRUE(std::holds_alternative<Rejection>(parsed));
  EXPECT_EQ(std::get<Rejection>(parsed).code, StatusCode::kInternal);

  parsed = parse_request_headers(request("nopath"), bidi_for_streams, 1);
  ASSERT_TRUE(std::holds_alternative<Rejection>(parsed));
  EXPECT_EQ(std::get<Rejection>(parsed).code, StatusCode::kUnimplemented);
}

TEST(GrpcWire, TimeoutsParseInEveryUnitAndFormatWithinEightDigits) {
  EXPECT_EQ(parse_timeout("1H"), microseconds(3'600'000'000));
  EXPECT_EQ(parse_timeout("2M"), microseconds(120'000'000));
  EXPECT_EQ(parse_timeout("3S"), microseconds(3'000'000));
  EXPECT_EQ(parse_timeout("4m"), microseconds(4'000));
  EXPECT_EQ(parse_timeout("5u"), microseconds(5));
  EXPECT_EQ(parse_timeout("1500n"), microseconds(2));  // rounded up
  EXPECT_EQ(parse_timeout("123456789S"), std::nullopt);  // nine digits
  EXPECT_EQ(parse_timeout("S"), std::nullopt);
  EXPECT_EQ(parse_timeout("-1S"), std::nullopt);
  EXPECT_EQ(parse_timeout("99999999H"), wire::kMaxTimeout);  // clamped
  EXPECT_EQ(format_timeout(microseconds(250'000)), "250000u");
  EXPECT_EQ(format_timeout(microseconds(100'000'001)), "100001m");
  EXPECT_EQ(parse_timeout(format_timeout(microseconds(123'456'789'012))), microseconds(123'457'000'000));
}

TEST(GrpcWire, RequestMessagesBecomeRpcnetFramesInAnyChunking) {
  Bytes grpc = grpc_message("hello");
  const Bytes empty = grpc_message("");
  grpc.insert(grpc.end(), empty.begin(), empty.end());
  Bytes expected;
  wire::append_frame(expected, wire::FrameType::kMessage, Bytes{'h', 'e', 'l', 'l', 'o'});
  wire::append_frame(expected, wire::FrameType::kMessage, Bytes{});
  for (std::size_t chunk = 1; chunk <= grpc.size(); ++chunk) {
    MessageDecoder decoder;
    Bytes out;
    for (std::size_t at = 0; at < grpc.size(); at += chunk) {
      const std::size_t n = std::min(chunk, grpc.size() - at);
      ASSERT_FALSE(decoder.feed(ByteView(grpc.data() + at, n), out)) << chunk;
      // Between the two messages (after byte 10) and at the end the decoder is at a boundary.
      EXPECT_EQ(decoder.at_message_boundary(), at + n == 10 || at + n == grpc.size()) << chunk;
    }
    EXPECT_EQ(out, expected) << "chunk " << chunk;
    EXPECT_TRUE(decoder.at_message_boundary());
  }
}

TEST(GrpcWire, CompressedOrMalformedPrefixesAreRejectedForGood) {
  MessageDecoder compressed;
  Bytes out;
  auto rejected = compressed.feed(grpc_message("x", 1), out);
  ASSERT_TRUE(rejected);
  EXPECT_EQ(rejected->code, StatusCode::kUnimplemented);
  EXPECT_TRUE(compressed.feed(grpc_message("y"), out));  // stays failed
  EXPECT_TRUE(out.empty());

  MessageDecoder malformed;
  rejected = malformed.feed(grpc_message("x", 7), out);
  ASSERT_TRUE(rejected);
  EXPECT_EQ(rejected->code, StatusCode::kInternal);
}

TEST(GrpcWire, ResponseMessagesGetHeadersOnceThenGrpcFramedData) {
  ResponseEncoder encoder(wire::FrameLimits{});
  Bytes frames;
  wire::append_frame(frames, wire::FrameType::kMessage, Bytes{'a', 'b'});
  wire::append_frame(frames, wire::FrameType::kMessage, Bytes{'c'});
  wire::Trailer trailer;
  trailer.metadata = {{"cost", "3"}, {"blob-bin", std::string("\x01\x02", 2)}, {"Bad Key", "x"}};
  wire::append_frame(frames, wire::FrameType::kTrailer, wire::encode_trailer(trailer));
  std::vector<ResponseAction> actions;
  ASSERT_TRUE(encoder.feed(frames, actions));
  ASSERT_EQ(actions.size(), 4u);
  EXPECT_EQ(actions[0].kind, ResponseAction::Kind::kHeaders);
  EXPECT_EQ(actions[0].headers, response_headers());
  EXPECT_FALSE(actions[0].end_stream);
  EXPECT_EQ(actions[1].data, grpc_message("ab"));
  EXPECT_EQ(actions[2].data, grpc_message("c"));
  EXPECT_EQ(actions[3].kind, ResponseAction::Kind::kTrailers);
  EXPECT_EQ(actions[3].headers, (HeaderFields{{"grpc-status", "0"}, {"cost", "3"}, {"blob-bin", "AQI="}}));
  EXPECT_TRUE(encoder.finished());
}

TEST(GrpcWire, AnErrorBeforeAnyMessageIsATrailersOnlyResponse) {
  ResponseEncoder encoder(wire::FrameLimits{});
  wire::Trailer trailer;
  trailer.code = StatusCode::kNotFound;
  trailer.message = "unknown method \"x\" 100%\n";
  Bytes frames;
  wire::append_frame(frames, wire::FrameType::kTrailer, wire::encode_trailer(trailer));
  std::vector<ResponseAction> actions;
  ASSERT_TRUE(encoder.feed(frames, actions));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].kind, ResponseAction::Kind::kHeaders);
  EXPECT_TRUE(actions[0].end_stream);
  EXPECT_EQ(actions[0].headers, (HeaderFields{{":status", "200"}, {"content-type", "application/grpc"},
                                              {"grpc-status", "5"},
                                              {"grpc-message", "unknown method \"x\" 100%25%0A"}}));
  EXPECT_EQ(percent_decode("unknown method \"x\" 100%25%0A"), trailer.message);
}

std::optional<wire::CallKind> only_chat_registered(std::string_view method) {
  if (method == "pkg.Echo/Chat") return wire::CallKind::kBidiStreaming;
  return std::nullopt;
}

std::string grpc_status_of(ResponseEncoder& encoder, StatusCode code) {
  wire::Trailer trailer;
  trailer.code = code;
  trailer.message = "gone";
  Bytes frames;
  wire::append_frame(frames, wire::FrameType::kTrailer, wire::encode_trailer(trailer));
  std::vector<ResponseAction> actions;
  EXPECT_TRUE(encoder.feed(frames, actions));
  for (const auto& [name, value] : actions.at(0).headers) {
    if (name == "grpc-status") return value;
  }
  return "none";
}

TEST(GrpcWire, AnUnknownMethodOfAStockGrpcClientIsUnimplementedNotNotFound) {
  bool unknown = false;
  auto parsed = parse_request_headers(request("/pkg.Echo/Nope"), only_chat_registered, 1, &unknown);
  ASSERT_TRUE(std::holds_alternative<wire::CallHeader>(parsed));
  EXPECT_TRUE(unknown);
  EXPECT_EQ(std::get<wire::CallHeader>(parsed).kind, wire::CallKind::kUnary);
  ResponseEncoder encoder(wire::FrameLimits{});
  encoder.set_unknown_method();
  EXPECT_EQ(grpc_status_of(encoder, StatusCode::kNotFound), "12");
  ResponseEncoder other_error(wire::FrameLimits{});
  other_error.set_unknown_method();
  EXPECT_EQ(grpc_status_of(other_error, StatusCode::kUnavailable), "14");  // only NOT_FOUND maps

  // A registered method's own NOT_FOUND (a handler's verdict) stays NOT_FOUND.
  parsed = parse_request_headers(request("/pkg.Echo/Chat"), only_chat_registered, 2, &unknown);
  EXPECT_FALSE(unknown);
  ResponseEncoder known(wire::FrameLimits{});
  EXPECT_EQ(grpc_status_of(known, StatusCode::kNotFound), "5");

  // An rpcnet client names its call kind and gets rpcnet's NOT_FOUND over either transport.
  HeaderFields named = request("/pkg.Echo/Nope");
  named.emplace_back("rpcnet-call-kind", "0");
  parsed = parse_request_headers(named, only_chat_registered, 3, &unknown);
  EXPECT_FALSE(unknown);
}

TEST(GrpcWire, AResetAfterMessagesBecomesTrailers) {
  ResponseEncoder encoder(wire::FrameLimits{});
  Bytes frames;
  wire::append_frame(frames, wire::FrameType::kMessage, Bytes{'a'});
  std::vector<ResponseAction> actions;
  ASSERT_TRUE(encoder.feed(frames, actions));
  encoder.fail(StatusCode::kDeadlineExceeded, "deadline exceeded", actions);
  encoder.fail(StatusCode::kCancelled, "twice", actions);  // once only
  ASSERT_EQ(actions.size(), 3u);
  EXPECT_EQ(actions[2].kind, ResponseAction::Kind::kTrailers);
  EXPECT_EQ(actions[2].headers,
            (HeaderFields{{"grpc-status", "4"}, {"grpc-message", "deadline exceeded"}}));
}

TEST(GrpcWire, LargeResponseMessagesKeepTheirBuffer) {
  ResponseEncoder encoder(wire::FrameLimits{});
  const Bytes payload(1u << 20, 0x5a);
  Bytes frames;
  wire::append_frame(frames, wire::FrameType::kMessage, payload);
  std::vector<ResponseAction> actions;
  ASSERT_TRUE(encoder.feed(frames, actions));
  ASSERT_EQ(actions.size(), 3u);
  EXPECT_EQ(actions[1].data, (Bytes{0, 0, 0x10, 0, 0}));
  EXPECT_EQ(actions[2].data, payload);
}

TEST(GrpcWire, Base64RoundTripsAndRejectsForeignCharacters) {
  for (const std::string& text : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x7f", 3)}) {
    EXPECT_EQ(base64_decode(base64_encode(text)), text);
  }
  EXPECT_EQ(base64_encode("ab"), "YWI=");
  EXPECT_EQ(base64_decode("YWI"), "ab");  // unpadded, as gRPC peers may send
  EXPECT_EQ(base64_decode("YW*"), std::nullopt);
  EXPECT_EQ(base64_decode("Y"), std::nullopt);
}

}  // namespace
}  // namespace rpcnet::grpc_compat

namespace rpcnet::grpc_compat {
namespace {

TEST(GrpcWireClient, TheCallHeaderBecomesRequestHeadersAndMessagesGrpcData) {
  RequestEncoder encoder("localhost", wire::FrameLimits{});
  wire::CallHeader header;
  header.method = "pkg.Echo/Chat";
  header.kind = wire::CallKind::kBidiStreaming;
  header.timeout = std::chrono::milliseconds(1500);
  header.metadata = {{"tenant", "blue"}, {"blob-bin", std::string("\x01\x02", 2)}, {"Bad Key", "dropped"}};
  Bytes frames;
  wire::append_call_header_frame(frames, header);
  wire::append_frame(frames, wire::FrameType::kMessage, Bytes{'h', 'i'});
  std::vector<RequestAction> actions;
  ASSERT_TRUE(encoder.feed(frames, actions));
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_EQ(actions[0].kind, RequestAction::Kind::kHeaders);
  EXPECT_EQ(actions[0].headers,
            (HeaderFields{{":method", "POST"}, {":scheme", "https"}, {":path", "/pkg.Echo/Chat"},
                          {":authority", "localhost"}, {"content-type", "application/grpc"},
                          {"te", "trailers"}, {"user-agent", "rpcnet"}, {"rpcnet-call-kind", "3"},
                          {"grpc-timeout", "1500000u"}, {"tenant", "blue"}, {"blob-bin", "AQI="}}));
  EXPECT_EQ(actions[1].data, (Bytes{0, 0, 0, 0, 2, 'h', 'i'}));
}

TEST(GrpcWireClient, AnRpcnetClientsNamedKindWinsOverTheServersGuess) {
  // The server guesses from its registration; the request names the kind the caller used.
  HeaderFields headers = request("/pkg.Echo/Say");
  headers.emplace_back("rpcnet-call-kind", "1");
  auto parsed = parse_request_headers(headers, bidi_for_streams, 1);
  ASSERT_TRUE(std::holds_alternative<wire::CallHeader>(parsed));
  EXPECT_EQ(std::get<wire::CallHeader>(parsed).kind, wire::CallKind::kServerStreaming);
  EXPECT_TRUE(std::get<wire::CallHeader>(parsed).metadata.empty());
}

Bytes decode_response(const std::vector<std::pair<HeaderFields, bool>>& blocks, const Bytes& data,
                      bool end_stream) {
  ResponseDecoder decoder;
  Bytes out;
  decoder.on_headers(blocks.front().first, false, out);
  if (!data.empty()) decoder.on_data(data, out);
  for (std::size_t i = 1; i < blocks.size(); ++i) decoder.on_headers(blocks[i].first, true, out);
  if (end_stream) decoder.on_end_of_stream(out);
  return out;
}

std::vector<wire::Frame> frames_of(const Bytes& bytes) {
  wire::FrameDecoder decoder;
  std::vector<wire::Frame> frames;
  EXPECT_EQ(decoder.feed(bytes, frames), wire::FrameError::kNone);
  return frames;
}

TEST(GrpcWireClient, AResponseBecomesMessagesThenTheTrailer) {
  Bytes data = grpc_message("ok");
  const Bytes out = decode_response(
      {{response_headers(), false},
       {HeaderFields{{"grpc-status", "0"}, {"cost", "3"}, {"blob-bin", "AQI"}}, true}},
      data, true);
  const auto frames = frames_of(out);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].type, wire::FrameType::kMessage);
  EXPECT_EQ(frames[0].payload, (Bytes{'o', 'k'}));
  auto trailer = wire::decode_trailer(frames[1].payload);
  ASSERT_TRUE(trailer);
  EXPECT_EQ(trailer->code, StatusCode::kOk);
  EXPECT_EQ(trailer->metadata, (Metadata{{"cost", "3"}, {"blob-bin", std::string("\x01\x02", 2)}}));
}

TEST(GrpcWireClient, NonGrpcResponsesBecomeTheStatusGrpcSpecifies) {
  const auto status_of = [](HeaderFields headers) {
    const auto frames = frames_of(decode_response({{std::move(headers), false}}, {}, true));
    EXPECT_EQ(frames.size(), 1u);
    return wire::decode_trailer(frames.back().payload)->code;
  };
  EXPECT_EQ(status_of({{":status", "404"}}), StatusCode::kUnimplemented);
  EXPECT_EQ(status_of({{":status", "503"}}), StatusCode::kUnavailable);
  EXPECT_EQ(status_of({{":status", "401"}}), StatusCode::kUnauthenticated);
  EXPECT_EQ(status_of({{":status", "200"}, {"content-type", "text/html"}}), StatusCode::kUnknown);
  // A gRPC response that ends without any status is INTERNAL.
  EXPECT_EQ(status_of(response_headers()), StatusCode::kInternal);
  // Trailers-only, with the message percent-decoded.
  HeaderFields only = response_headers();
  only.emplace_back("grpc-status", "5");
  only.emplace_back("grpc-message", "not %25 here");
  const auto frames = frames_of(decode_response({{only, false}}, {}, true));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(wire::decode_trailer(frames[0].payload)->message, "not % here");
}

}  // namespace
}  // namespace rpcnet::grpc_compat
