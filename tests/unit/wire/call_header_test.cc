// CallHeader and Trailer: tag | length | value fields; round trips, golden bytes, and every
// decode error.
#include "rpc/wire/call_header.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "rpc/wire/varint.h"
#include "support/error_matchers.h"

namespace rpcnet::wire {
namespace {

using std::chrono::microseconds;

Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

CallHeader minimal_header() {
  CallHeader header;
  header.method = "m";
  header.kind = CallKind::kUnary;
  return header;
}

// The header of the golden vector below.
CallHeader golden_header() {
  CallHeader header;
  header.method = "Echo";
  header.kind = CallKind::kServerStreaming;
  header.timeout = microseconds(1500);
  header.request_id = 7;
  header.metadata = {{"k", "v"}};
  return header;
}

const Bytes kGoldenHeader = {
    0x01, 0x04, 'E', 'c', 'h', 'o',  // method "Echo"
    0x02, 0x01, 0x01,                // kind = server streaming
    0x03, 0x02, 0x45, 0xdc,          // timeout = 1500 us (2-byte varint)
    0x04, 0x01, 0x07,                // request id = 7
    0x05, 0x03, 0x01, 'k', 'v',      // metadata: key length 1, "k", value "v"
};

Trailer golden_trailer() {
  Trailer trailer;
  trailer.code = StatusCode::kNotFound;
  trailer.message = "no";
  trailer.details = {0xde, 0xad};
  trailer.metadata = {{"a", ""}};
  return trailer;
}

const Bytes kGoldenTrailer = {
    0x01, 0x01, 0x05,            // code = NOT_FOUND
    0x02, 0x02, 'n', 'o',        // message "no"
    0x03, 0x02, 0xde, 0xad,      // details
    0x04, 0x02, 0x01, 'a',       // metadata: key "a", empty value
};

// Decodes `bytes` as a header and expects a malformed-header error mentioning `reason`.
void expect_header_error(const Bytes& bytes, const std::string& reason) {
  const auto decoded = decode_call_header(bytes);
  ASSERT_FALSE(decoded.ok()) << "expected: " << reason;
  EXPECT_THAT(decoded, rpcnet::testing::ErrorIs(ErrorKind::kStream, StatusCode::kInternal));
  EXPECT_NE(decoded.error().message().find(reason), std::string::npos)
      << decoded.error().message() << " does not mention " << reason;
}

void expect_trailer_error(const Bytes& bytes, const std::string& reason) {
  const auto decoded = decode_trailer(bytes);
  ASSERT_FALSE(decoded.ok()) << "expected: " << reason;
  EXPECT_THAT(decoded, rpcnet::testing::ErrorIs(ErrorKind::kStream, StatusCode::kInternal));
  EXPECT_NE(decoded.error().message().find(reason), std::string::npos)
      << decoded.error().message() << " does not mention " << reason;
}

CallHeader round_trip(const CallHeader& header) {
  auto decoded = decode_call_header(encode_call_header(header));
  EXPECT_TRUE(decoded.ok()) << (decoded.ok() ? "" : decoded.error().to_string());
  return decoded.ok() ? std::move(decoded).value() : CallHeader{};
}

Trailer round_trip(const Trailer& trailer) {
  auto decoded = decode_trailer(encode_trailer(trailer));
  EXPECT_TRUE(decoded.ok()) << (decoded.ok() ? "" : decoded.error().to_string());
  return decoded.ok() ? std::move(decoded).value() : Trailer{};
}

// ---- header: golden vector and round trips ---------------------------------------------------

TEST(CallHeaderCodec, EncodesTheGoldenVectorExactly) {
  EXPECT_EQ(encode_call_header(golden_header()), kGoldenHeader);
}

TEST(CallHeaderCodec, DecodesTheGoldenVector) {
  const auto decoded = decode_call_header(kGoldenHeader);
  ASSERT_TRUE(decoded.ok()) << decoded.error().to_string();
  EXPECT_EQ(decoded->method, "Echo");
  EXPECT_EQ(decoded->kind, CallKind::kServerStreaming);
  ASSERT_TRUE(decoded->timeout.has_value());
  EXPECT_EQ(decoded->timeout->count(), 1500);
  EXPECT_EQ(decoded->request_id, 7u);
  EXPECT_EQ(decoded->metadata, (Metadata{{"k", "v"}}));
}

TEST(CallHeaderCodec, EncodesAMinimalHeaderAsMethodAndKindOnly) {
  EXPECT_EQ(encode_call_header(minimal_header()), (Bytes{0x01, 0x01, 'm', 0x02, 0x01, 0x00}));
}

TEST(CallHeaderCodec, RoundTripsWithoutOptionalFields) {
  const CallHeader decoded = round_trip(minimal_header());
  EXPECT_EQ(decoded, minimal_header());
  EXPECT_FALSE(decoded.timeout.has_value());
  EXPECT_EQ(decoded.request_id, 0u);
  EXPECT_TRUE(decoded.metadata.empty());
}

TEST(CallHeaderCodec, RoundTripsEveryCallKind) {
  for (const CallKind kind : {CallKind::kUnary, CallKind::kServerStreaming,
                              CallKind::kClientStreaming, CallKind::kBidiStreaming}) {
    CallHeader header = minimal_header();
    header.kind = kind;
    EXPECT_EQ(round_trip(header).kind, kind);
  }
}

TEST(CallHeaderCodec, RoundTripsTimeouts) {
  for (const std::int64_t micros :
       {std::int64_t{0}, std::int64_t{1}, std::int64_t{63}, std::int64_t{64},
        std::int64_t{30'000'000}, static_cast<std::int64_t>(kMaxTimeout.count())}) {
    CallHeader header = minimal_header();
    header.timeout = microseconds(micros);
    const CallHeader decoded = round_trip(header);
    ASSERT_TRUE(decoded.timeout.has_value()) << micros;
    EXPECT_EQ(decoded.timeout->count(), micros);
  }
}

// A peer's timeout is clamped when decoded, before anyone adds it to a time point: the largest
// varint (~36,500 years in µs) must not overflow steady_clock arithmetic (UBSan checks it in
// the sanitize build).
TEST(CallHeaderCodec, ClampsAPeersHugeTimeoutSoDeadlineArithmeticCannotOverflow) {
  for (const std::int64_t micros : {kMaxTimeout.count() + 1, static_cast<std::int64_t>(kMaxVarint)}) {
    CallHeader header = minimal_header();
    header.timeout = microseconds(micros);
    const CallHeader decoded = round_trip(header);
    ASSERT_TRUE(decoded.timeout.has_value()) << micros;
    EXPECT_EQ(decoded.timeout->count(), kMaxTimeout.count());
    const auto deadline = std::chrono::steady_clock::now() + *decoded.timeout;
    EXPECT_GT(deadline, std::chrono::steady_clock::now() + std::chrono::hours(24 * 364));
  }
}

TEST(CallHeaderCodec, AZeroTimeoutIsDistinctFromNoTimeout) {
  CallHeader header = minimal_header();
  header.timeout = microseconds(0);
  const Bytes encoded = encode_call_header(header);
  EXPECT_EQ(encoded, cat(encode_call_header(minimal_header()), Bytes{0x03, 0x01, 0x00}));
  const CallHeader decoded = round_trip(header);
  ASSERT_TRUE(decoded.timeout.has_value());
  EXPECT_EQ(decoded.timeout->count(), 0);
}

TEST(CallHeaderCodec, EncodesANegativeTimeoutAsZero) {
  CallHeader header = minimal_header();
  header.timeout = microseconds(-5);
  const CallHeader decoded = round_trip(header);
  ASSERT_TRUE(decoded.timeout.has_value());
  EXPECT_EQ(decoded.timeout->count(), 0);
}

TEST(CallHeaderCodec, RoundTripsRequestIds) {
  for (const std::uint64_t id : {std::uint64_t{1}, std::uint64_t{16384}, kMaxVarint}) {
    CallHeader header = minimal_header();
    header.request_id = id;
    EXPECT_EQ(round_trip(header).request_id, id);
  }
}

TEST(CallHeaderCodec, OmitsARequestIdOfZero) {
  CallHeader header = minimal_header();
  header.request_id = 0;
  EXPECT_EQ(encode_call_header(header), encode_call_header(minimal_header()));
}

TEST(CallHeaderCodec, RoundTripsMetadataWithEmptyValuesBinaryBytesAndRepeatedKeys) {
  CallHeader header = minimal_header();
  const std::string binary("\x00\x01\xfe\xff\r\n", 6);
  header.metadata = {
      {"tenant", "blue"},
      {"empty", ""},
      {"bin", binary},
      {"tenant", "green"},  // repeated key: both kept, in order
      {"", "empty key"},
      {std::string(100, 'k'), std::string(300, 'v')},  // 2-byte lengths
  };
  const CallHeader decoded = round_trip(header);
  EXPECT_EQ(decoded, header);
  ASSERT_EQ(decoded.metadata.size(), 6u);
  EXPECT_EQ(decoded.metadata[2].second.size(), 6u);
  EXPECT_EQ(decoded.metadata[2].second, binary);
  EXPECT_EQ(decoded.metadata[3], (std::pair<std::string, std::string>{"tenant", "green"}));
}

TEST(CallHeaderCodec, RoundTripsALongMethodName) {
  CallHeader header = minimal_header();
  header.method = "pkg.Service/" + std::string(500, 'x');
  EXPECT_EQ(round_trip(header).method, header.method);
}

TEST(CallHeaderCodec, DecodesFieldsInAnyOrder) {
  const Bytes bytes = {0x05, 0x03, 0x01, 'k', 'v', 0x02, 0x01, 0x03, 0x01, 0x02, 'm', 'x'};
  const auto decoded = decode_call_header(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.error().to_string();
  EXPECT_EQ(decoded->method, "mx");
  EXPECT_EQ(decoded->kind, CallKind::kBidiStreaming);
  EXPECT_EQ(decoded->metadata, (Metadata{{"k", "v"}}));
}

// ---- header: forward compatibility -----------------------------------------------------------

TEST(CallHeaderCodec, SkipsAnUnknownTag) {
  const Bytes bytes = cat(kGoldenHeader, Bytes{0x30, 0x03, 'x', 'y', 'z'});
  const auto decoded = decode_call_header(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.error().to_string();
  EXPECT_EQ(*decoded, golden_header());
}

TEST(CallHeaderCodec, SkipsUnknownTagsAnywhereIncludingMultiByteTags) {
  Bytes bytes = {0x30, 0x00};                              // empty unknown field first
  bytes = cat(bytes, Bytes{0x01, 0x01, 'm'});
  bytes = cat(bytes, Bytes{0x7f, 0xff, 0x02, 0xaa, 0xbb});  // tag 16383 (2-byte varint)
  bytes = cat(bytes, Bytes{0x02, 0x01, 0x02});
  const auto decoded = decode_call_header(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.error().to_string();
  EXPECT_EQ(decoded->method, "m");
  EXPECT_EQ(decoded->kind, CallKind::kClientStreaming);
}

TEST(CallHeaderCodec, SkipsAnUnknownTagThatAppearsMoreThanOnce) {
  // A future version may add a repeatable field; an old peer must still skip it. Tag 0x06 is
  // the next unassigned header tag, 0x30 one far away.
  for (const std::uint8_t tag : {std::uint8_t{0x06}, std::uint8_t{0x0f}, std::uint8_t{0x30}}) {
    const Bytes bytes = cat(kGoldenHeader, Bytes{tag, 0x01, 'a', tag, 0x01, 'b'});
    const auto decoded = decode_call_header(bytes);
    ASSERT_TRUE(decoded.ok()) << "tag " << int{tag} << ": " << decoded.error().to_string();
    EXPECT_EQ(*decoded, golden_header());
  }
}

// ---- header: errors --------------------------------------------------------------------------

TEST(CallHeaderCodec, RejectsAnEmptyPayload) { expect_header_error({}, "missing method"); }

TEST(CallHeaderCodec, RejectsAMissingMethod) {
  expect_header_error({0x02, 0x01, 0x00}, "missing method");
}

TEST(CallHeaderCodec, RejectsAnEmptyMethod) {
  expect_header_error({0x01, 0x00, 0x02, 0x01, 0x00}, "empty method");
}

TEST(CallHeaderCodec, RejectsAMissingCallKind) {
  expect_header_error({0x01, 0x01, 'm'}, "missing call kind");
}

TEST(CallHeaderCodec, RejectsAnUnknownCallKind) {
  expect_header_error({0x01, 0x01, 'm', 0x02, 0x01, 0x04}, "unknown call kind");
  expect_header_error({0x01, 0x01, 'm', 0x02, 0x02, 0x7f, 0xff}, "unknown call kind");
}

TEST(CallHeaderCodec, RejectsADuplicateMethod) {
  expect_header_error({0x01, 0x01, 'm', 0x01, 0x01, 'n', 0x02, 0x01, 0x00}, "duplicate field 1");
}

TEST(CallHeaderCodec, RejectsEveryOtherDuplicateSingularField) {
  const Bytes base = {0x01, 0x01, 'm', 0x02, 0x01, 0x00};
  expect_header_error(cat(base, Bytes{0x02, 0x01, 0x01}), "duplicate field 2");
  expect_header_error(cat(base, Bytes{0x03, 0x01, 0x05, 0x03, 0x01, 0x05}), "duplicate field 3");
  expect_header_error(cat(base, Bytes{0x04, 0x01, 0x05, 0x04, 0x01, 0x06}), "duplicate field 4");
}

TEST(CallHeaderCodec, RejectsATruncatedFieldLength) {
  // The tag is there, the length is missing.
  expect_header_error({0x01, 0x01, 'm', 0x02, 0x01, 0x00, 0x05}, "truncated field");
  // The length is a 2-byte varint with only its first byte present.
  expect_header_error({0x01, 0x01, 'm', 0x02, 0x01, 0x00, 0x05, 0x40}, "truncated field");
  // The tag itself is a truncated 4-byte varint.
  expect_header_error({0x01, 0x01, 'm', 0x02, 0x01, 0x00, 0x80, 0x00}, "truncated field");
}

TEST(CallHeaderCodec, RejectsATruncatedValue) {
  expect_header_error({0x02, 0x01, 0x00, 0x01, 0x05, 'a', 'b'}, "truncated field");
  // Every strict prefix of the golden header fails, except those ending on a field boundary
  // after the kind (bytes 9, 13, 16): those are complete headers with fewer optional fields.
  for (std::size_t n = 1; n < kGoldenHeader.size(); ++n) {
    const Bytes prefix(kGoldenHeader.begin(),
                       kGoldenHeader.begin() + static_cast<std::ptrdiff_t>(n));
    const auto decoded = decode_call_header(prefix);
    const bool complete = n == 9 || n == 13 || n == 16;
    EXPECT_EQ(decoded.ok(), complete) << "prefix of " << n << " bytes";
    if (!complete && n != 6) {
      EXPECT_NE(decoded.error().message().find("truncated field"), std::string::npos)
          << "prefix of " << n << " bytes: " << decoded.error().message();
    }
  }
}

TEST(CallHeaderCodec, RejectsAMetadataKeyLengthPastTheEndOfTheEntry) {
  const Bytes base = {0x01, 0x01, 'm', 0x02, 0x01, 0x00};
  expect_header_error(cat(base, Bytes{0x05, 0x02, 0x05, 'k'}), "bad metadata entry");
  // Key length exactly one past the end.
  expect_header_error(cat(base, Bytes{0x05, 0x03, 0x03, 'k', 'v'}), "bad metadata entry");
  // An empty entry has no key length at all.
  expect_header_error(cat(base, Bytes{0x05, 0x00}), "bad metadata entry");
  // A truncated key-length varint.
  expect_header_error(cat(base, Bytes{0x05, 0x01, 0x40}), "bad metadata entry");
}

TEST(CallHeaderCodec, AcceptsAMetadataKeyThatFillsTheWholeEntry) {
  const Bytes bytes = {0x01, 0x01, 'm', 0x02, 0x01, 0x00, 0x05, 0x03, 0x02, 'k', 'v'};
  const auto decoded = decode_call_header(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.error().to_string();
  EXPECT_EQ(decoded->metadata, (Metadata{{"kv", ""}}));
}

TEST(CallHeaderCodec, RejectsAnIntegerFieldWhoseLengthIsNotItsVarintSize) {
  const Bytes method = {0x01, 0x01, 'm'};
  // Call kind: a trailing byte after the varint, a varint longer than the field, no bytes.
  expect_header_error(cat(method, Bytes{0x02, 0x02, 0x01, 0x00}), "unknown call kind");
  expect_header_error(cat(method, Bytes{0x02, 0x01, 0x40}), "unknown call kind");
  expect_header_error(cat(method, Bytes{0x02, 0x00}), "unknown call kind");
  const Bytes base = {0x01, 0x01, 'm', 0x02, 0x01, 0x00};
  expect_header_error(cat(base, Bytes{0x03, 0x02, 0x05, 0x00}), "bad timeout");
  expect_header_error(cat(base, Bytes{0x03, 0x01, 0x80}), "bad timeout");
  expect_header_error(cat(base, Bytes{0x03, 0x00}), "bad timeout");
  expect_header_error(cat(base, Bytes{0x04, 0x09, 0xc0, 0, 0, 0, 0, 0, 0, 0x01, 0x00}),
                      "bad request id");
  expect_header_error(cat(base, Bytes{0x04, 0x00}), "bad request id");
}

// ---- trailer ---------------------------------------------------------------------------------

TEST(TrailerCodec, EncodesTheGoldenVectorExactly) {
  EXPECT_EQ(encode_trailer(golden_trailer()), kGoldenTrailer);
}

TEST(TrailerCodec, DecodesTheGoldenVector) {
  const auto decoded = decode_trailer(kGoldenTrailer);
  ASSERT_TRUE(decoded.ok()) << decoded.error().to_string();
  EXPECT_EQ(*decoded, golden_trailer());
}

TEST(TrailerCodec, EncodesAnOkTrailerAsTheCodeAlone) {
  EXPECT_EQ(encode_trailer(Trailer{}), (Bytes{0x01, 0x01, 0x00}));
}

TEST(TrailerCodec, RoundTripsEveryStatusCode) {
  for (std::uint32_t code = 0; code <= kMaxStatusCode; ++code) {
    Trailer trailer;
    trailer.code = static_cast<StatusCode>(code);
    EXPECT_EQ(round_trip(trailer).code, trailer.code) << code;
  }
}

TEST(TrailerCodec, RoundTripsMessageDetailsAndMetadata) {
  Trailer trailer;
  trailer.code = StatusCode::kResourceExhausted;
  trailer.message = std::string(200, 'e');
  trailer.details = Bytes{0x00, 0xff, 0x00};
  trailer.metadata = {{"retry-after", "5"}, {"x", ""}, {"x", std::string("\0\1", 2)}};
  EXPECT_EQ(round_trip(trailer), trailer);
}

TEST(TrailerCodec, SkipsUnknownTags) {
  const Bytes bytes = cat(kGoldenTrailer, Bytes{0x30, 0x01, 0x00, 0x05, 0x00, 0x05, 0x00});
  const auto decoded = decode_trailer(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.error().to_string();
  EXPECT_EQ(*decoded, golden_trailer());
}

TEST(TrailerCodec, DecodesACodeAboveSixteenAsUnknown) {
  for (const Bytes& code_field : {Bytes{0x01, 0x01, 17}, Bytes{0x01, 0x01, 0x3f},
                                  Bytes{0x01, 0x02, 0x43, 0xe8}}) {  // 17, 63, 1000
    const auto decoded = decode_trailer(code_field);
    ASSERT_TRUE(decoded.ok()) << decoded.error().to_string();
    EXPECT_EQ(decoded->code, StatusCode::kUnknown);
  }
  const auto sixteen = decode_trailer(Bytes{0x01, 0x01, 16});
  ASSERT_TRUE(sixteen.ok());
  EXPECT_EQ(sixteen->code, StatusCode::kUnauthenticated);
}

TEST(TrailerCodec, RejectsAMissingStatusCode) {
  expect_trailer_error({}, "missing status code");
  expect_trailer_error({0x02, 0x02, 'n', 'o'}, "missing status code");
}

TEST(TrailerCodec, RejectsABadStatusCodeField) {
  expect_trailer_error({0x01, 0x00}, "bad status code");
  expect_trailer_error({0x01, 0x02, 0x05, 0x00}, "bad status code");
}

TEST(TrailerCodec, RejectsDuplicateSingularFields) {
  expect_trailer_error({0x01, 0x01, 0x00, 0x01, 0x01, 0x05}, "duplicate field 1");
  expect_trailer_error({0x01, 0x01, 0x05, 0x02, 0x00, 0x02, 0x00}, "duplicate field 2");
  expect_trailer_error({0x01, 0x01, 0x05, 0x03, 0x00, 0x03, 0x00}, "duplicate field 3");
}

TEST(TrailerCodec, RejectsTruncatedFields) {
  expect_trailer_error({0x01, 0x01, 0x05, 0x02}, "truncated field");
  expect_trailer_error({0x01, 0x01, 0x05, 0x02, 0x04, 'a'}, "truncated field");
  expect_trailer_error({0x01, 0x01}, "truncated field");
}

TEST(TrailerCodec, RejectsABadMetadataEntry) {
  expect_trailer_error({0x01, 0x01, 0x00, 0x04, 0x02, 0x05, 'k'}, "bad metadata entry");
  expect_trailer_error({0x01, 0x01, 0x00, 0x04, 0x00}, "bad metadata entry");
}

TEST(TrailerCodec, SkipsAnUnknownTagThatAppearsMoreThanOnce) {
  for (const std::uint8_t tag : {std::uint8_t{0x05}, std::uint8_t{0x0f}, std::uint8_t{0x30}}) {
    const Bytes bytes = cat(kGoldenTrailer, Bytes{tag, 0x01, 'a', tag, 0x01, 'b'});
    const auto decoded = decode_trailer(bytes);
    ASSERT_TRUE(decoded.ok()) << "tag " << int{tag} << ": " << decoded.error().to_string();
    EXPECT_EQ(*decoded, golden_trailer());
  }
}

}  // namespace
}  // namespace rpcnet::wire
