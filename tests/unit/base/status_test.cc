// Status codes (gRPC canonical numbering, pinned) and RpcError's kinds, codes and formatting.
#include "rpcnet/status.h"

#include <gtest/gtest.h>

#include <iterator>
#include <sstream>
#include <string>

#include "rpcnet/error.h"

namespace rpcnet {
namespace {

std::uint32_t v(StatusCode code) { return static_cast<std::uint32_t>(code); }

TEST(StatusCode, NumericValuesArePinnedToTheGrpcCanonicalCodes) {
  EXPECT_EQ(v(StatusCode::kOk), 0u);
  EXPECT_EQ(v(StatusCode::kCancelled), 1u);
  EXPECT_EQ(v(StatusCode::kUnknown), 2u);
  EXPECT_EQ(v(StatusCode::kInvalidArgument), 3u);
  EXPECT_EQ(v(StatusCode::kDeadlineExceeded), 4u);
  EXPECT_EQ(v(StatusCode::kNotFound), 5u);
  EXPECT_EQ(v(StatusCode::kAlreadyExists), 6u);
  EXPECT_EQ(v(StatusCode::kPermissionDenied), 7u);
  EXPECT_EQ(v(StatusCode::kResourceExhausted), 8u);
  EXPECT_EQ(v(StatusCode::kFailedPrecondition), 9u);
  EXPECT_EQ(v(StatusCode::kAborted), 10u);
  EXPECT_EQ(v(StatusCode::kOutOfRange), 11u);
  EXPECT_EQ(v(StatusCode::kUnimplemented), 12u);
  EXPECT_EQ(v(StatusCode::kInternal), 13u);
  EXPECT_EQ(v(StatusCode::kUnavailable), 14u);
  EXPECT_EQ(v(StatusCode::kDataLoss), 15u);
  EXPECT_EQ(v(StatusCode::kUnauthenticated), 16u);
  EXPECT_EQ(kMaxStatusCode, 16u);
}

TEST(StatusCodeName, NamesEveryCodeAsGrpcDoes) {
  const char* const expected[] = {
      "OK",
      "CANCELLED",
      "UNKNOWN",
      "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED",
      "NOT_FOUND",
      "ALREADY_EXISTS",
      "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION",
      "ABORTED",
      "OUT_OF_RANGE",
      "UNIMPLEMENTED",
      "INTERNAL",
      "UNAVAILABLE",
      "DATA_LOSS",
      "UNAUTHENTICATED",
  };
  static_assert(std::size(expected) == kMaxStatusCode + 1);
  for (std::uint32_t code = 0; code <= kMaxStatusCode; ++code) {
    EXPECT_EQ(status_code_name(static_cast<StatusCode>(code)), expected[code]) << code;
  }
}

TEST(StatusCodeName, NamesAValueOutsideTheEnumUnknown) {
  EXPECT_EQ(status_code_name(static_cast<StatusCode>(17)), "UNKNOWN");
  EXPECT_EQ(status_code_name(static_cast<StatusCode>(0xffffffffu)), "UNKNOWN");
}

TEST(StatusCodeFromWire, MapsEveryDefinedValueToItself) {
  for (std::uint64_t value = 0; value <= kMaxStatusCode; ++value) {
    EXPECT_EQ(v(status_code_from_wire(value)), value);
  }
}

TEST(StatusCodeFromWire, MapsEveryUndefinedValueToUnknown) {
  EXPECT_EQ(status_code_from_wire(17), StatusCode::kUnknown);
  EXPECT_EQ(status_code_from_wire(1000), StatusCode::kUnknown);
  // Values that would alias a defined code if truncated to 32 bits.
  EXPECT_EQ(status_code_from_wire((std::uint64_t{1} << 32) + 5), StatusCode::kUnknown);
  EXPECT_EQ(status_code_from_wire(~std::uint64_t{0}), StatusCode::kUnknown);
}

// ---- RpcError --------------------------------------------------------------------------------

TEST(ErrorKindName, NamesEveryKind) {
  EXPECT_EQ(error_kind_name(ErrorKind::kConnection), "connection");
  EXPECT_EQ(error_kind_name(ErrorKind::kStream), "stream");
  EXPECT_EQ(error_kind_name(ErrorKind::kTls), "tls");
  EXPECT_EQ(error_kind_name(ErrorKind::kConfig), "config");
  EXPECT_EQ(error_kind_name(ErrorKind::kIo), "io");
  EXPECT_EQ(error_kind_name(ErrorKind::kSerialization), "serialization");
  EXPECT_EQ(error_kind_name(ErrorKind::kCall), "call");
  EXPECT_EQ(error_kind_name(ErrorKind::kStatus), "status");
}

void expect_local(const RpcError& error, ErrorKind kind, StatusCode code,
                  const std::string& message) {
  EXPECT_EQ(error.kind(), kind);
  EXPECT_EQ(error.code(), code);
  EXPECT_EQ(error.message(), message);
  EXPECT_FALSE(error.is_remote());
  EXPECT_TRUE(error.details().empty());
}

TEST(RpcError, FactoriesGiveTheDocumentedKindAndCode) {
  expect_local(RpcError::connection("c"), ErrorKind::kConnection, StatusCode::kUnavailable, "c");
  expect_local(RpcError::stream("s"), ErrorKind::kStream, StatusCode::kInternal, "s");
  expect_local(RpcError::stream("s", StatusCode::kCancelled), ErrorKind::kStream,
               StatusCode::kCancelled, "s");
  expect_local(RpcError::tls("t"), ErrorKind::kTls, StatusCode::kUnavailable, "t");
  expect_local(RpcError::config("cfg"), ErrorKind::kConfig, StatusCode::kInvalidArgument, "cfg");
  expect_local(RpcError::io("i"), ErrorKind::kIo, StatusCode::kUnavailable, "i");
  expect_local(RpcError::serialization("z"), ErrorKind::kSerialization,
               StatusCode::kInvalidArgument, "z");
  expect_local(RpcError::timeout(), ErrorKind::kCall, StatusCode::kDeadlineExceeded,
               "deadline exceeded");
  expect_local(RpcError::timeout("late"), ErrorKind::kCall, StatusCode::kDeadlineExceeded,
               "late");
  expect_local(RpcError::cancelled(), ErrorKind::kCall, StatusCode::kCancelled, "cancelled");
  expect_local(RpcError::cancelled("stop"), ErrorKind::kCall, StatusCode::kCancelled, "stop");
  expect_local(RpcError::status(StatusCode::kNotFound, "nf"), ErrorKind::kStatus,
               StatusCode::kNotFound, "nf");
}

TEST(RpcError, StatusCarriesDetailsButIsLocal) {
  const RpcError error = RpcError::status(StatusCode::kAborted, "conflict", Bytes{1, 2, 3});
  EXPECT_EQ(error.kind(), ErrorKind::kStatus);
  EXPECT_EQ(error.details(), (Bytes{1, 2, 3}));
  EXPECT_FALSE(error.is_remote());
}

TEST(RpcError, RemoteIsMarkedRemoteAndKeepsCodeMessageAndDetails) {
  const RpcError error = RpcError::remote(StatusCode::kPermissionDenied, "nope", Bytes{9});
  EXPECT_TRUE(error.is_remote());
  EXPECT_EQ(error.kind(), ErrorKind::kStatus);
  EXPECT_EQ(error.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(error.message(), "nope");
  EXPECT_EQ(error.details(), (Bytes{9}));
}

// The rule of error.h: the code says what happened wherever it was noticed; the kind only says
// where. A deadline and a cancellation each have one code, and no kind is reserved for them.
TEST(RpcError, ADeadlineHasOneCodeWhereverItIsNoticed) {
  const RpcError here = RpcError::timeout();
  const RpcError reset = RpcError::stream("reset", StatusCode::kDeadlineExceeded);
  const RpcError remote = RpcError::remote(StatusCode::kDeadlineExceeded, "slow");
  EXPECT_EQ(here.code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(reset.code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(remote.code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(here.kind(), ErrorKind::kCall);
  EXPECT_EQ(reset.kind(), ErrorKind::kStream);
  EXPECT_EQ(remote.kind(), ErrorKind::kStatus);
  EXPECT_TRUE(remote.is_remote());
}

TEST(RpcError, ACancellationHasOneCodeWhereverItIsNoticed) {
  EXPECT_EQ(RpcError::cancelled().code(), StatusCode::kCancelled);
  EXPECT_EQ(RpcError::stream("stopped", StatusCode::kCancelled).code(), StatusCode::kCancelled);
  EXPECT_EQ(RpcError::remote(StatusCode::kCancelled, "gave up").code(), StatusCode::kCancelled);
  EXPECT_EQ(RpcError::remote(StatusCode::kCancelled, "gave up").kind(), ErrorKind::kStatus);
}

TEST(RpcError, NoFactoryMakesAnOkError) {
  for (const RpcError& error :
       {RpcError::connection("c"), RpcError::stream("s"), RpcError::tls("t"), RpcError::config("f"),
        RpcError::io("i"), RpcError::serialization("z"), RpcError::timeout(), RpcError::cancelled()}) {
    EXPECT_NE(error.code(), StatusCode::kOk) << error;
  }
}

TEST(RpcError, ToStringIsKindMessageAndCode) {
  EXPECT_EQ(RpcError::config("bad port").to_string(), "config: bad port (INVALID_ARGUMENT)");
  EXPECT_EQ(RpcError::timeout().to_string(), "call: deadline exceeded (DEADLINE_EXCEEDED)");
}

TEST(RpcError, ToStringMarksErrorsFromThePeer) {
  EXPECT_EQ(RpcError::remote(StatusCode::kNotFound, "no such user").to_string(),
            "status: no such user (NOT_FOUND, from peer)");
}

TEST(RpcError, StreamsAsItsToString) {
  std::ostringstream out;
  out << RpcError::io("read failed");
  EXPECT_EQ(out.str(), "io: read failed (UNAVAILABLE)");
}

TEST(RpcError, EqualityComparesEveryField) {
  EXPECT_EQ(RpcError::status(StatusCode::kNotFound, "x"),
            RpcError::status(StatusCode::kNotFound, "x"));
  EXPECT_NE(RpcError::status(StatusCode::kNotFound, "x"),
            RpcError::remote(StatusCode::kNotFound, "x"));
  EXPECT_NE(RpcError::status(StatusCode::kNotFound, "x"),
            RpcError::status(StatusCode::kNotFound, "y"));
  EXPECT_NE(RpcError::status(StatusCode::kNotFound, "x", Bytes{1}),
            RpcError::status(StatusCode::kNotFound, "x"));
}

}  // namespace
}  // namespace rpcnet
