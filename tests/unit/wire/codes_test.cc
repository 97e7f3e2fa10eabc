// Every wire enum is append-only: these tests pin each value so a renumbering cannot slip in.
#include "rpc/wire/codes.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "rpc/wire/call_header.h"
#include "rpc/wire/frame.h"

namespace rpcnet::wire {
namespace {

template <class E>
constexpr std::uint64_t v(E e) {
  return static_cast<std::uint64_t>(e);
}

TEST(WireEnums, FrameTypeValuesArePinned) {
  EXPECT_EQ(v(FrameType::kHeader), 1u);
  EXPECT_EQ(v(FrameType::kMessage), 2u);
  EXPECT_EQ(v(FrameType::kTrailer), 3u);
  EXPECT_EQ(sizeof(FrameType), 1u);
}

TEST(WireEnums, CallKindValuesArePinned) {
  EXPECT_EQ(v(CallKind::kUnary), 0u);
  EXPECT_EQ(v(CallKind::kServerStreaming), 1u);
  EXPECT_EQ(v(CallKind::kClientStreaming), 2u);
  EXPECT_EQ(v(CallKind::kBidiStreaming), 3u);
  EXPECT_EQ(kMaxCallKind, 3u);
}

TEST(WireEnums, CallKindCardinalitiesMatchTheirNames) {
  EXPECT_TRUE(single_request(CallKind::kUnary));
  EXPECT_TRUE(single_response(CallKind::kUnary));
  EXPECT_TRUE(single_request(CallKind::kServerStreaming));
  EXPECT_FALSE(single_response(CallKind::kServerStreaming));
  EXPECT_FALSE(single_request(CallKind::kClientStreaming));
  EXPECT_TRUE(single_response(CallKind::kClientStreaming));
  EXPECT_FALSE(single_request(CallKind::kBidiStreaming));
  EXPECT_FALSE(single_response(CallKind::kBidiStreaming));
}

TEST(WireEnums, HeaderTagValuesArePinned) {
  EXPECT_EQ(v(HeaderTag::kMethod), 1u);
  EXPECT_EQ(v(HeaderTag::kCallKind), 2u);
  EXPECT_EQ(v(HeaderTag::kTimeoutMicros), 3u);
  EXPECT_EQ(v(HeaderTag::kRequestId), 4u);
  EXPECT_EQ(v(HeaderTag::kMetadata), 5u);
}

TEST(WireEnums, TrailerTagValuesArePinned) {
  EXPECT_EQ(v(TrailerTag::kStatusCode), 1u);
  EXPECT_EQ(v(TrailerTag::kMessage), 2u);
  EXPECT_EQ(v(TrailerTag::kDetails), 3u);
  EXPECT_EQ(v(TrailerTag::kMetadata), 4u);
}

TEST(WireEnums, StreamErrorCodeValuesArePinned) {
  EXPECT_EQ(v(StreamErrorCode::kNoError), 0u);
  EXPECT_EQ(v(StreamErrorCode::kCancelled), 1u);
  EXPECT_EQ(v(StreamErrorCode::kProtocolError), 2u);
  EXPECT_EQ(v(StreamErrorCode::kDeadlineExceeded), 3u);
  EXPECT_EQ(v(StreamErrorCode::kMessageTooLarge), 4u);
  EXPECT_EQ(v(StreamErrorCode::kRefused), 5u);
  EXPECT_EQ(v(StreamErrorCode::kInternal), 6u);
  EXPECT_EQ(v(StreamErrorCode::kShutdown), 7u);
  EXPECT_EQ(v(StreamErrorCode::kHeaderTimeout), 8u);
  EXPECT_EQ(v(StreamErrorCode::kResourceExhausted), 9u);
}

TEST(WireEnums, ConnectionCloseCodeValuesArePinned) {
  EXPECT_EQ(v(ConnectionCloseCode::kNoError), 0u);
  EXPECT_EQ(v(ConnectionCloseCode::kShutdown), 1u);
  EXPECT_EQ(v(ConnectionCloseCode::kInternal), 2u);
  EXPECT_EQ(v(ConnectionCloseCode::kIdle), 3u);
  EXPECT_EQ(v(ConnectionCloseCode::kResourceExhausted), 4u);
}

TEST(StatusForStreamError, MapsEveryStreamErrorCode) {
  EXPECT_EQ(status_for_stream_error(0), StatusCode::kInternal);  // kNoError
  EXPECT_EQ(status_for_stream_error(1), StatusCode::kCancelled);
  EXPECT_EQ(status_for_stream_error(2), StatusCode::kInternal);  // kProtocolError
  EXPECT_EQ(status_for_stream_error(3), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(status_for_stream_error(4), StatusCode::kResourceExhausted);
  EXPECT_EQ(status_for_stream_error(5), StatusCode::kUnavailable);  // kRefused: safe to retry
  EXPECT_EQ(status_for_stream_error(6), StatusCode::kInternal);
  EXPECT_EQ(status_for_stream_error(7), StatusCode::kUnavailable);  // kShutdown
  EXPECT_EQ(status_for_stream_error(8), StatusCode::kDeadlineExceeded);  // kHeaderTimeout
  EXPECT_EQ(status_for_stream_error(9), StatusCode::kResourceExhausted);
}

TEST(StatusForStreamError, MapsAnUnknownCodeToUnknown) {
  EXPECT_EQ(status_for_stream_error(10), StatusCode::kUnknown);
  EXPECT_EQ(status_for_stream_error(0x100), StatusCode::kUnknown);
  EXPECT_EQ(status_for_stream_error(0x3fffffffffffffffULL), StatusCode::kUnknown);
}

}  // namespace
}  // namespace rpcnet::wire
