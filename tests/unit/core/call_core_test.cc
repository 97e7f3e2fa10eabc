// Sans-I/O call state machines: byte streams built with the encode_* helpers go in (whole, one
// byte at a time, and in 3-byte chunks), ordered InboundEvents come out.
#include "rpc/core/call_core.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "rpc/wire/frame.h"
#include "support/error_matchers.h"

namespace rpcnet::rpc {
namespace {

using wire::CallHeader;
using wire::CallKind;
using wire::FrameType;
using wire::StreamErrorCode;
using wire::Trailer;
using Kind = InboundEvent::Kind;

constexpr wire::FrameLimits kSmallLimits{.max_message_size = 16, .max_header_size = 64};

CallHeader header_for(CallKind kind, std::string method = "svc/Echo") {
  CallHeader header;
  header.method = std::move(method);
  header.kind = kind;
  return header;
}

Bytes start(const CallHeader& header) { return encode_call_start(header, nullptr); }
Bytes start(const CallHeader& header, std::string_view first) {
  const Bytes message = to_bytes(first);
  return encode_call_start(header, &message);
}
Bytes msg(std::string_view text) { return encode_message(to_bytes(text)); }
Bytes frame(FrameType type, const Bytes& payload) {
  Bytes out;
  wire::append_frame(out, type, payload);
  return out;
}
Bytes trailer_frame(const Trailer& trailer) { return encode_call_end(nullptr, trailer); }
Bytes ok_trailer(Metadata metadata = {}) {
  Trailer trailer;
  trailer.metadata = std::move(metadata);
  return trailer_frame(trailer);
}
Bytes status_trailer(StatusCode code, std::string message = {}, Bytes details = {}) {
  Trailer trailer;
  trailer.code = code;
  trailer.message = std::move(message);
  trailer.details = std::move(details);
  return trailer_frame(trailer);
}

template <class... Parts>
Bytes concat(const Parts&... parts) {
  Bytes out;
  (out.insert(out.end(), parts.begin(), parts.end()), ...);
  return out;
}

std::vector<InboundEvent> drain(CallCoreBase& core) {
  std::vector<InboundEvent> events;
  while (core.has_event()) events.push_back(core.pop_event());
  return events;
}

const char* action_name(StreamAction action) {
  switch (action) {
    case StreamAction::kNone: return "none";
    case StreamAction::kReset: return "reset";
    case StreamAction::kRespondStatus: return "respond";
  }
  return "?";
}

// A compact, comparable description of an event sequence:
//   H(method)  M(payload)  END  END!kind:CODE/action/reset_code
std::vector<std::string> summary(const std::vector<InboundEvent>& events) {
  std::vector<std::string> out;
  for (const InboundEvent& e : events) {
    switch (e.kind) {
      case Kind::kHeader: out.push_back("H(" + (e.header ? e.header->method : "?") + ")"); break;
      case Kind::kMessage: out.push_back("M(" + to_string(e.message) + ")"); break;
      case Kind::kEnd:
        if (!e.error) {
          out.push_back("END");
        } else {
          out.push_back("END!" + std::string(error_kind_name(e.error->kind())) + ":" +
                        std::string(status_code_name(e.error->code())) + "/" +
                        action_name(e.action) + "/" +
                        std::to_string(static_cast<std::uint64_t>(e.reset_code)));
        }
        break;
    }
  }
  return out;
}

using Seq = std::vector<std::string>;
// The kEnd every peer protocol violation produces.
const std::string kProtocolEnd = "END!stream:INTERNAL/reset/2";

// Parameter: chunk size for feeding (0 = the whole buffer in one call).
class CallCoreTest : public ::testing::TestWithParam<std::size_t> {
 protected:
  template <class Core>
  void feed(Core& core, const Bytes& bytes) {
    const std::size_t step = GetParam() == 0 ? bytes.size() : GetParam();
    for (std::size_t at = 0; at < bytes.size(); at += step) {
      core.on_data(ByteView(bytes).subspan(at, std::min(step, bytes.size() - at)));
    }
  }
};

// Whole buffer, one byte at a time, 3-byte chunks.
const auto kChunkings = ::testing::Values(std::size_t{0}, std::size_t{1}, std::size_t{3});

std::string chunking_name(const ::testing::TestParamInfo<std::size_t>& info) {
  return info.param == 0 ? "Whole" : "Chunks" + std::to_string(info.param);
}

// ==== server side =============================================================================

using ServerCallCoreTest = CallCoreTest;
INSTANTIATE_TEST_SUITE_P(Chunking, ServerCallCoreTest, kChunkings, chunking_name);

TEST_P(ServerCallCoreTest, SeesTheHeaderThenMessagesThenACleanEndAtFin) {
  CallHeader header = header_for(CallKind::kBidiStreaming);
  header.timeout = std::chrono::microseconds(250);
  header.metadata = {{"tenant", "blue"}};
  ServerCallCore core(wire::FrameLimits{});
  EXPECT_FALSE(core.header_received());
  feed(core, concat(start(header, "one"), msg("two"), msg("three")));
  EXPECT_TRUE(core.header_received());
  EXPECT_FALSE(core.ended());
  auto events = drain(core);
  EXPECT_EQ(summary(events), (Seq{"H(svc/Echo)", "M(one)", "M(two)", "M(three)"}));
  ASSERT_FALSE(events.empty());
  ASSERT_TRUE(events[0].header.has_value());
  EXPECT_EQ(*events[0].header, header);

  core.on_fin();
  EXPECT_TRUE(core.ended());
  events = drain(core);
  ASSERT_EQ(summary(events), (Seq{"END"}));
  EXPECT_FALSE(events[0].error.has_value());
  EXPECT_EQ(events[0].action, StreamAction::kNone);
}

TEST_P(ServerCallCoreTest, DeliversEmptyMessagesAsEmptyMessages) {
  ServerCallCore core(wire::FrameLimits{});
  feed(core, concat(start(header_for(CallKind::kClientStreaming), ""), msg(""), msg("x")));
  core.on_fin();
  const auto events = drain(core);
  EXPECT_EQ(summary(events), (Seq{"H(svc/Echo)", "M()", "M()", "M(x)", "END"}));
}

TEST_P(ServerCallCoreTest, AcceptsAUnaryCallWithExactlyOneRequest) {
  ServerCallCore core(wire::FrameLimits{});
  feed(core, start(header_for(CallKind::kUnary), "req"));
  core.on_fin();
  EXPECT_EQ(summary(drain(core)), (Seq{"H(svc/Echo)", "M(req)", "END"}));
}

TEST_P(ServerCallCoreTest, AcceptsStreamingCallsWithZeroRequests) {
  for (const CallKind kind : {CallKind::kClientStreaming, CallKind::kBidiStreaming}) {
    ServerCallCore core(wire::FrameLimits{});
    feed(core, start(header_for(kind)));
    core.on_fin();
    EXPECT_EQ(summary(drain(core)), (Seq{"H(svc/Echo)", "END"})) << static_cast<int>(kind);
  }
}

TEST_P(ServerCallCoreTest, FirstFrameNotAHeaderIsAProtocolError) {
  ServerCallCore core(wire::FrameLimits{});
  feed(core, concat(msg("hello"), start(header_for(CallKind::kUnary))));
  EXPECT_TRUE(core.ended());
  EXPECT_FALSE(core.header_received());
  const auto events = drain(core);
  ASSERT_EQ(summary(events), (Seq{kProtocolEnd}));
  const InboundEvent& end = events[0];
  EXPECT_EQ(end.kind, Kind::kEnd);
  ASSERT_TRUE(end.error.has_value());
  EXPECT_THAT(end.error, rpcnet::testing::ErrorIs(ErrorKind::kStream, StatusCode::kInternal));
  EXPECT_FALSE(end.error->is_remote());
  EXPECT_EQ(end.action, StreamAction::kReset);
  EXPECT_EQ(end.reset_code, StreamErrorCode::kProtocolError);
  EXPECT_NE(end.error->message().find("first frame is not a header"), std::string::npos)
      << end.error->message();
}

TEST_P(ServerCallCoreTest, AMalformedHeaderIsAProtocolError) {
  ServerCallCore core(wire::FrameLimits{});
  // A header frame whose payload lacks the call kind.
  feed(core, frame(FrameType::kHeader, Bytes{0x01, 0x01, 'm'}));
  const auto events = drain(core);
  ASSERT_EQ(summary(events), (Seq{kProtocolEnd}));
  EXPECT_NE(events[0].error->message().find("missing call kind"), std::string::npos);
  EXPECT_FALSE(core.header_received());
}

TEST_P(ServerCallCoreTest, ASecondHeaderIsAProtocolError) {
  ServerCallCore core(wire::FrameLimits{});
  const CallHeader header = header_for(CallKind::kBidiStreaming);
  feed(core, concat(start(header, "a"), start(header), msg("after")));
  EXPECT_EQ(summary(drain(core)), (Seq{"H(svc/Echo)", "M(a)", kProtocolEnd}));
}

TEST_P(ServerCallCoreTest, ATrailerFromTheClientIsAProtocolError) {
  ServerCallCore core(wire::FrameLimits{});
  feed(core, concat(start(header_for(CallKind::kBidiStreaming)), ok_trailer()));
  EXPECT_EQ(summary(drain(core)), (Seq{"H(svc/Echo)", kProtocolEnd}));
}

TEST_P(ServerCallCoreTest, AnUnknownFrameTypeIsAProtocolError) {
  ServerCallCore core(wire::FrameLimits{});
  feed(core, concat(start(header_for(CallKind::kBidiStreaming), "ok"), Bytes{0x09, 0x00}));
  EXPECT_EQ(summary(drain(core)), (Seq{"H(svc/Echo)", "M(ok)", kProtocolEnd}));
}

TEST_P(ServerCallCoreTest, FinInsideAFrameIsAProtocolError) {
  const Bytes whole = concat(start(header_for(CallKind::kBidiStreaming), "a"), msg("partial"));
  // The last frame is 02 07 "partial" (9 bytes): keep only its type byte, only type + length,
  // or cut inside its payload.
  for (const std::size_t cut : {std::size_t{8}, std::size_t{7}, std::size_t{3}, std::size_t{1}}) {
    ServerCallCore core(wire::FrameLimits{});
    feed(core, Bytes(whole.begin(), whole.end() - static_cast<std::ptrdiff_t>(cut)));
    core.on_fin();
    const auto events = drain(core);
    EXPECT_EQ(summary(events), (Seq{"H(svc/Echo)", "M(a)", kProtocolEnd})) << "cut " << cut;
    EXPECT_NE(events.back().error->message().find("inside a frame"), std::string::npos);
  }
}

TEST_P(ServerCallCoreTest, FinBeforeTheHeaderIsAProtocolError) {
  {
    ServerCallCore core(wire::FrameLimits{});
    core.on_fin();
    const auto events = drain(core);
    ASSERT_EQ(summary(events), (Seq{kProtocolEnd}));
    EXPECT_NE(events[0].error->message().find("before the call header"), std::string::npos);
  }
  {
    // Half a header, then FIN.
    ServerCallCore core(wire::FrameLimits{});
    const Bytes header = start(header_for(CallKind::kUnary));
    feed(core, Bytes(header.begin(), header.begin() + 4));
    core.on_fin();
    EXPECT_EQ(summary(drain(core)), (Seq{kProtocolEnd}));
  }
}

TEST_P(ServerCallCoreTest, ASingleRequestCallWithTwoRequestsIsAProtocolError) {
  for (const CallKind kind : {CallKind::kUnary, CallKind::kServerStreaming}) {
    ServerCallCore core(wire::FrameLimits{});
    feed(core, concat(start(header_for(kind), "one"), msg("two"), msg("three")));
    const auto events = drain(core);
    EXPECT_EQ(summary(events), (Seq{"H(svc/Echo)", "M(one)", kProtocolEnd}))
        << static_cast<int>(kind);
    EXPECT_TRUE(core.ended());
  }
}

TEST_P(ServerCallCoreTest, ASingleRequestCallEndingWithoutItsRequestIsAProtocolError) {
  for (const CallKind kind : {CallKind::kUnary, CallKind::kServerStreaming}) {
    ServerCallCore core(wire::FrameLimits{});
    feed(core, start(header_for(kind)));
    EXPECT_FALSE(core.ended());
    core.on_fin();
    const auto events = drain(core);
    EXPECT_EQ(summary(events), (Seq{"H(svc/Echo)", kProtocolEnd})) << static_cast<int>(kind);
  }
}

TEST_P(ServerCallCoreTest, AnOversizedRequestIsAnsweredWithResourceExhausted) {
  ServerCallCore core(kSmallLimits);
  Bytes oversized;
  wire::append_frame_prefix(oversized, FrameType::kMessage, kSmallLimits.max_message_size + 1);
  feed(core, concat(start(header_for(CallKind::kClientStreaming), "fits"), oversized));
  EXPECT_TRUE(core.ended());
  const auto events = drain(core);
  ASSERT_EQ(summary(events),
            (Seq{"H(svc/Echo)", "M(fits)", "END!status:RESOURCE_EXHAUSTED/respond/4"}));
  const InboundEvent& end = events.back();
  EXPECT_THAT(end.error, rpcnet::testing::StatusIs(StatusCode::kResourceExhausted));
  EXPECT_EQ(end.action, StreamAction::kRespondStatus);
  EXPECT_EQ(end.reset_code, StreamErrorCode::kMessageTooLarge);
  EXPECT_NE(end.error->message().find("17"), std::string::npos) << end.error->message();
  EXPECT_NE(end.error->message().find("16"), std::string::npos) << end.error->message();
}

TEST_P(ServerCallCoreTest, AMessageExactlyAtTheLimitIsAccepted) {
  ServerCallCore core(kSmallLimits);
  feed(core, start(header_for(CallKind::kUnary), std::string(16, 'x')));
  core.on_fin();
  EXPECT_EQ(summary(drain(core)), (Seq{"H(svc/Echo)", "M(" + std::string(16, 'x') + ")", "END"}));
}

TEST_P(ServerCallCoreTest, AnOversizedHeaderIsAnsweredWithResourceExhausted) {
  ServerCallCore core(kSmallLimits);
  feed(core, start(header_for(CallKind::kUnary, std::string(100, 'm'))));
  const auto events = drain(core);
  ASSERT_EQ(summary(events), (Seq{"END!status:RESOURCE_EXHAUSTED/respond/4"}));
  EXPECT_NE(events[0].error->message().find("call header"), std::string::npos);
}

TEST_P(ServerCallCoreTest, AClientResetEndsTheCallAsCancelled) {
  ServerCallCore core(wire::FrameLimits{});
  feed(core, start(header_for(CallKind::kBidiStreaming), "a"));
  core.on_reset(static_cast<std::uint64_t>(StreamErrorCode::kCancelled));
  const auto events = drain(core);
  ASSERT_EQ(summary(events), (Seq{"H(svc/Echo)", "M(a)", "END!call:CANCELLED/reset/1"}));
  EXPECT_THAT(events.back().error, rpcnet::testing::ErrorIs(ErrorKind::kCall, StatusCode::kCancelled));
  EXPECT_EQ(events.back().action, StreamAction::kReset);
  EXPECT_EQ(events.back().reset_code, StreamErrorCode::kCancelled);
}

TEST_P(ServerCallCoreTest, AClientResetWithDeadlineExceededEndsTheCallAsATimeout) {
  ServerCallCore core(wire::FrameLimits{});
  feed(core, start(header_for(CallKind::kUnary)));
  core.on_reset(static_cast<std::uint64_t>(StreamErrorCode::kDeadlineExceeded));
  const auto events = drain(core);
  ASSERT_EQ(summary(events), (Seq{"H(svc/Echo)", "END!call:DEADLINE_EXCEEDED/reset/1"}));
  EXPECT_THAT(events.back().error, rpcnet::testing::ErrorIs(ErrorKind::kCall, StatusCode::kDeadlineExceeded));
}

TEST_P(ServerCallCoreTest, AnyOtherResetCodeAlsoMeansCancelled) {
  for (const std::uint64_t code : {std::uint64_t{0}, std::uint64_t{2}, std::uint64_t{6},
                                   std::uint64_t{999}}) {
    ServerCallCore core(wire::FrameLimits{});
    core.on_reset(code);
    EXPECT_EQ(summary(drain(core)), (Seq{"END!call:CANCELLED/reset/1"})) << code;
  }
}

TEST_P(ServerCallCoreTest, IgnoresInputAfterTheEnd) {
  ServerCallCore core(wire::FrameLimits{});
  feed(core, start(header_for(CallKind::kBidiStreaming), "a"));
  core.on_fin();
  ASSERT_EQ(summary(drain(core)), (Seq{"H(svc/Echo)", "M(a)", "END"}));
  feed(core, msg("late"));
  core.on_fin();
  core.on_reset(1);
  EXPECT_FALSE(core.has_event());
  EXPECT_TRUE(core.ended());
}

TEST_P(ServerCallCoreTest, IgnoresInputAfterAProtocolError) {
  ServerCallCore core(wire::FrameLimits{});
  feed(core, msg("not a header"));
  ASSERT_EQ(summary(drain(core)), (Seq{kProtocolEnd}));
  feed(core, start(header_for(CallKind::kUnary), "a"));
  core.on_fin();
  core.on_reset(3);
  EXPECT_FALSE(core.has_event());
}

TEST_P(ServerCallCoreTest, EventsAfterAViolationInTheSameChunkAreNotDelivered) {
  ServerCallCore core(wire::FrameLimits{});
  feed(core, concat(start(header_for(CallKind::kUnary), "one"), msg("two"), msg("three"),
                    ok_trailer()));
  const auto events = drain(core);
  EXPECT_EQ(summary(events), (Seq{"H(svc/Echo)", "M(one)", kProtocolEnd}));
}

// ==== client side =============================================================================

using ClientCallCoreTest = CallCoreTest;
INSTANTIATE_TEST_SUITE_P(Chunking, ClientCallCoreTest, kChunkings, chunking_name);

TEST_P(ClientCallCoreTest, MessagesThenAnOkTrailerEndCleanlyWithTrailerMetadata) {
  ClientCallCore core(CallKind::kServerStreaming, wire::FrameLimits{});
  feed(core, concat(msg("r1"), msg(""), msg("r3")));
  EXPECT_FALSE(core.ended());
  feed(core, ok_trailer({{"cost", "3"}, {"cost", "4"}}));
  EXPECT_TRUE(core.ended());
  const auto events = drain(core);
  ASSERT_EQ(summary(events), (Seq{"M(r1)", "M()", "M(r3)", "END"}));
  const InboundEvent& end = events.back();
  EXPECT_FALSE(end.error.has_value());
  EXPECT_EQ(end.action, StreamAction::kNone);
  EXPECT_EQ(end.trailer_metadata, (Metadata{{"cost", "3"}, {"cost", "4"}}));
}

TEST_P(ClientCallCoreTest, AUnaryCallEndsCleanlyWithOneResponseAndAnOkTrailer) {
  ClientCallCore core(CallKind::kUnary, wire::FrameLimits{});
  const Bytes response = to_bytes("pong");
  Trailer ok;
  feed(core, encode_call_end(&response, ok));
  EXPECT_EQ(summary(drain(core)), (Seq{"M(pong)", "END"}));
}

TEST_P(ClientCallCoreTest, AStreamingResponseMayBeEmpty) {
  for (const CallKind kind : {CallKind::kServerStreaming, CallKind::kBidiStreaming}) {
    ClientCallCore core(kind, wire::FrameLimits{});
    feed(core, ok_trailer());
    EXPECT_EQ(summary(drain(core)), (Seq{"END"})) << static_cast<int>(kind);
  }
}

TEST_P(ClientCallCoreTest, ANonOkTrailerIsARemoteErrorWithCodeMessageAndDetails) {
  ClientCallCore core(CallKind::kBidiStreaming, wire::FrameLimits{});
  feed(core, concat(msg("partial"),
                    status_trailer(StatusCode::kNotFound, "no such user", Bytes{0x00, 0x07})));
  const auto events = drain(core);
  ASSERT_EQ(summary(events), (Seq{"M(partial)", "END!status:NOT_FOUND/none/0"}));
  const RpcError& error = *events.back().error;
  EXPECT_TRUE(error.is_remote());
  EXPECT_THAT(error, rpcnet::testing::ErrorIs(ErrorKind::kStatus, StatusCode::kNotFound));
  EXPECT_EQ(error.message(), "no such user");
  EXPECT_EQ(error.details(), (Bytes{0x00, 0x07}));
  EXPECT_EQ(events.back().action, StreamAction::kNone);
}

TEST_P(ClientCallCoreTest, ANonOkTrailerWithoutAResponseIsStillTheRemoteStatus) {
  ClientCallCore core(CallKind::kUnary, wire::FrameLimits{});
  feed(core, status_trailer(StatusCode::kPermissionDenied, "nope"));
  const auto events = drain(core);
  ASSERT_EQ(summary(events), (Seq{"END!status:PERMISSION_DENIED/none/0"}));
  EXPECT_TRUE(events[0].error->is_remote());
}

TEST_P(ClientCallCoreTest, ADeadlineExceededTrailerIsARemoteStatus) {
  ClientCallCore core(CallKind::kUnary, wire::FrameLimits{});
  feed(core, status_trailer(StatusCode::kDeadlineExceeded, "too slow"));
  const auto events = drain(core);
  ASSERT_EQ(summary(events), (Seq{"END!status:DEADLINE_EXCEEDED/none/0"}));
  EXPECT_THAT(events[0].error, rpcnet::testing::ErrorIs(ErrorKind::kStatus, StatusCode::kDeadlineExceeded));
  EXPECT_TRUE(events[0].error->is_remote());
  EXPECT_EQ(events[0].error->message(), "too slow");
}

TEST_P(ClientCallCoreTest, ASecondResponseToASingleResponseCallIsAProtocolError) {
  for (const CallKind kind : {CallKind::kUnary, CallKind::kClientStreaming}) {
    ClientCallCore core(kind, wire::FrameLimits{});
    feed(core, concat(msg("one"), msg("two"), ok_trailer()));
    const auto events = drain(core);
    ASSERT_EQ(summary(events), (Seq{"M(one)", kProtocolEnd})) << static_cast<int>(kind);
    EXPECT_EQ(events.back().action, StreamAction::kReset);
    EXPECT_EQ(events.back().reset_code, StreamErrorCode::kProtocolError);
  }
}

TEST_P(ClientCallCoreTest, StreamingResponseCallsAcceptManyResponses) {
  for (const CallKind kind : {CallKind::kServerStreaming, CallKind::kBidiStreaming}) {
    ClientCallCore core(kind, wire::FrameLimits{});
    feed(core, concat(msg("1"), msg("2"), msg("3"), ok_trailer()));
    EXPECT_EQ(summary(drain(core)), (Seq{"M(1)", "M(2)", "M(3)", "END"}));
  }
}

TEST_P(ClientCallCoreTest, AnOkTrailerWithoutTheResponseIsAProtocolError) {
  for (const CallKind kind : {CallKind::kUnary, CallKind::kClientStreaming}) {
    ClientCallCore core(kind, wire::FrameLimits{});
    feed(core, ok_trailer());
    const auto events = drain(core);
    ASSERT_EQ(summary(events), (Seq{kProtocolEnd})) << static_cast<int>(kind);
    EXPECT_NE(events[0].error->message().find("without the response"), std::string::npos);
  }
}

TEST_P(ClientCallCoreTest, FinWithoutATrailerIsAStreamErrorNeverACleanEnd) {
  ClientCallCore core(CallKind::kServerStreaming, wire::FrameLimits{});
  feed(core, concat(msg("a"), msg("b")));
  core.on_fin();
  const auto events = drain(core);
  ASSERT_EQ(summary(events), (Seq{"M(a)", "M(b)", "END!stream:INTERNAL/none/0"}));
  EXPECT_FALSE(events.back().error->is_remote());
  EXPECT_NE(events.back().error->message().find("without a status"), std::string::npos);
}

TEST_P(ClientCallCoreTest, FinInsideATrailerIsAStreamError) {
  ClientCallCore core(CallKind::kUnary, wire::FrameLimits{});
  const Bytes whole = concat(msg("r"), ok_trailer());
  feed(core, Bytes(whole.begin(), whole.end() - 1));
  core.on_fin();
  EXPECT_EQ(summary(drain(core)), (Seq{"M(r)", "END!stream:INTERNAL/none/0"}));
}

TEST_P(ClientCallCoreTest, AServerResetMapsEachStreamErrorCodeToItsStatus) {
  struct Case {
    StreamErrorCode code;
    std::string end;
  };
  const std::vector<Case> cases = {
      {StreamErrorCode::kNoError, "END!stream:INTERNAL/none/0"},
      {StreamErrorCode::kCancelled, "END!stream:CANCELLED/none/0"},
      {StreamErrorCode::kProtocolError, "END!stream:INTERNAL/none/0"},
      {StreamErrorCode::kDeadlineExceeded, "END!stream:DEADLINE_EXCEEDED/none/0"},
      {StreamErrorCode::kMessageTooLarge, "END!stream:RESOURCE_EXHAUSTED/none/0"},
      {StreamErrorCode::kRefused, "END!stream:UNAVAILABLE/none/0"},
      {StreamErrorCode::kInternal, "END!stream:INTERNAL/none/0"},
  };
  for (const Case& c : cases) {
    ClientCallCore core(CallKind::kServerStreaming, wire::FrameLimits{});
    feed(core, msg("before"));
    core.on_reset(static_cast<std::uint64_t>(c.code));
    const auto events = drain(core);
    EXPECT_EQ(summary(events), (Seq{"M(before)", c.end}))
        << "code " << static_cast<std::uint64_t>(c.code);
    ASSERT_FALSE(events.empty());
    EXPECT_FALSE(events.back().error->is_remote());
  }
}

TEST_P(ClientCallCoreTest, AServerResetWithAnUnknownCodeIsUnknown) {
  ClientCallCore core(CallKind::kUnary, wire::FrameLimits{});
  core.on_reset(0x1234);
  const auto events = drain(core);
  ASSERT_EQ(summary(events), (Seq{"END!stream:UNKNOWN/none/0"}));
  EXPECT_NE(events[0].error->message().find(std::to_string(0x1234)), std::string::npos);
}

TEST_P(ClientCallCoreTest, AHeaderFrameFromTheServerIsAProtocolError) {
  ClientCallCore core(CallKind::kUnary, wire::FrameLimits{});
  feed(core, start(header_for(CallKind::kUnary)));
  EXPECT_EQ(summary(drain(core)), (Seq{kProtocolEnd}));
}

TEST_P(ClientCallCoreTest, AMalformedTrailerIsAProtocolError) {
  ClientCallCore core(CallKind::kServerStreaming, wire::FrameLimits{});
  feed(core, frame(FrameType::kTrailer, Bytes{0x02, 0x02, 'h', 'i'}));  // no status code
  const auto events = drain(core);
  ASSERT_EQ(summary(events), (Seq{kProtocolEnd}));
  EXPECT_NE(events[0].error->message().find("missing status code"), std::string::npos);
}

TEST_P(ClientCallCoreTest, AnUnknownFrameTypeIsAProtocolError) {
  ClientCallCore core(CallKind::kServerStreaming, wire::FrameLimits{});
  feed(core, concat(msg("a"), Bytes{0x00}));
  EXPECT_EQ(summary(drain(core)), (Seq{"M(a)", kProtocolEnd}));
}

TEST_P(ClientCallCoreTest, AnOversizedResponseResetsTheStream) {
  ClientCallCore core(CallKind::kServerStreaming, kSmallLimits);
  feed(core, concat(msg("fits"), msg(std::string(17, 'x'))));
  const auto events = drain(core);
  ASSERT_EQ(summary(events), (Seq{"M(fits)", "END!stream:RESOURCE_EXHAUSTED/reset/4"}));
  EXPECT_EQ(events.back().reset_code, StreamErrorCode::kMessageTooLarge);
}

TEST_P(ClientCallCoreTest, AnOversizedTrailerResetsTheStream) {
  ClientCallCore core(CallKind::kServerStreaming, kSmallLimits);
  feed(core, status_trailer(StatusCode::kInternal, std::string(100, 'e')));
  EXPECT_EQ(summary(drain(core)), (Seq{"END!stream:RESOURCE_EXHAUSTED/reset/4"}));
}

TEST_P(ClientCallCoreTest, IgnoresInputAfterTheTrailer) {
  ClientCallCore core(CallKind::kServerStreaming, wire::FrameLimits{});
  feed(core, concat(msg("a"), ok_trailer(), msg("late"), Bytes{0xff}));
  core.on_fin();
  core.on_reset(1);
  feed(core, msg("later"));
  EXPECT_EQ(summary(drain(core)), (Seq{"M(a)", "END"}));
  EXPECT_FALSE(core.has_event());
}

TEST_P(ClientCallCoreTest, IgnoresInputAfterAReset) {
  ClientCallCore core(CallKind::kServerStreaming, wire::FrameLimits{});
  core.on_reset(5);
  feed(core, concat(msg("late"), ok_trailer()));
  core.on_fin();
  EXPECT_EQ(summary(drain(core)), (Seq{"END!stream:UNAVAILABLE/none/0"}));
}

// ==== outbound encoding ========================================================================

TEST(CallCoreEncoding, EncodeMessageIsOneMessageFrame) {
  EXPECT_EQ(encode_message(to_bytes("hi")), (Bytes{0x02, 0x02, 'h', 'i'}));
  EXPECT_EQ(encode_message(Bytes{}), (Bytes{0x02, 0x00}));
}

TEST(CallCoreEncoding, EncodeCallStartIsTheHeaderFrameThenTheFirstMessage) {
  const CallHeader header = header_for(CallKind::kUnary, "m");
  const Bytes header_frame = {0x01, 0x06, 0x01, 0x01, 'm', 0x02, 0x01, 0x00};
  EXPECT_EQ(encode_call_start(header, nullptr), header_frame);
  const Bytes first = to_bytes("req");
  EXPECT_EQ(encode_call_start(header, &first),
            concat(header_frame, Bytes{0x02, 0x03, 'r', 'e', 'q'}));
}

TEST(CallCoreEncoding, EncodeCallEndIsTheLastMessageThenTheTrailerFrame) {
  Trailer trailer;
  trailer.code = StatusCode::kAborted;
  const Bytes trailer_frame_bytes = {0x03, 0x03, 0x01, 0x01, 0x0a};
  EXPECT_EQ(encode_call_end(nullptr, trailer), trailer_frame_bytes);
  const Bytes last = to_bytes("z");
  EXPECT_EQ(encode_call_end(&last, trailer), concat(Bytes{0x02, 0x01, 'z'}, trailer_frame_bytes));
}

TEST(CallCoreEncoding, TrailerForCarriesTheErrorsCodeMessageAndDetails) {
  const Trailer trailer =
      trailer_for(RpcError::status(StatusCode::kNotFound, "gone", Bytes{0x01, 0x02}));
  EXPECT_EQ(trailer.code, StatusCode::kNotFound);
  EXPECT_EQ(trailer.message, "gone");
  EXPECT_EQ(trailer.details, (Bytes{0x01, 0x02}));
  EXPECT_TRUE(trailer.metadata.empty());
}

TEST(CallCoreEncoding, TrailerForNeverSendsOkForAnError) {
  const Trailer trailer = trailer_for(RpcError(ErrorKind::kStatus, StatusCode::kOk, "odd"));
  EXPECT_EQ(trailer.code, StatusCode::kUnknown);
  EXPECT_EQ(trailer.message, "odd");
}

TEST(CallCoreEncoding, ClientAndServerCoresAgreeOnAFullExchange) {
  // What the client writes, the server core decodes; what the server writes, the client core.
  CallHeader header = header_for(CallKind::kClientStreaming, "up/load");
  header.request_id = 42;
  const Bytes r1 = to_bytes("chunk1");
  ServerCallCore server(wire::FrameLimits{});
  server.on_data(concat(encode_call_start(header, &r1), encode_message(to_bytes("chunk2"))));
  server.on_fin();
  const auto server_events = drain(server);
  ASSERT_EQ(summary(server_events), (Seq{"H(up/load)", "M(chunk1)", "M(chunk2)", "END"}));
  EXPECT_EQ(server_events[0].header->request_id, 42u);

  ClientCallCore client(CallKind::kClientStreaming, wire::FrameLimits{});
  const Bytes response = to_bytes("stored");
  Trailer ok;
  ok.metadata = {{"k", "v"}};
  client.on_data(encode_call_end(&response, ok));
  const auto client_events = drain(client);
  ASSERT_EQ(summary(client_events), (Seq{"M(stored)", "END"}));
  EXPECT_EQ(client_events.back().trailer_metadata, (Metadata{{"k", "v"}}));
}

}  // namespace
}  // namespace rpcnet::rpc
