// The test matchers of tests/support/error_matchers.h: what they accept, and what a failure says.
#include "support/error_matchers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace rpcnet::testing {
namespace {

using ::testing::Not;

template <class Matcher, class Value>
std::string explain(const Matcher& matcher, const Value& value) {
  ::testing::StringMatchResultListener listener;
  ::testing::Matcher<const Value&>(matcher).MatchAndExplain(value, &listener);
  return listener.str();
}

TEST(ErrorIs, MatchesKindAndCodeTogether) {
  const RpcError error = RpcError::timeout("late");
  EXPECT_THAT(error, ErrorIs(ErrorKind::kCall, StatusCode::kDeadlineExceeded));
  EXPECT_THAT(error, Not(ErrorIs(ErrorKind::kStream, StatusCode::kDeadlineExceeded)));
  EXPECT_THAT(error, Not(ErrorIs(ErrorKind::kCall, StatusCode::kCancelled)));
}

TEST(StatusIs, MatchesTheCodeWhateverTheKind) {
  EXPECT_THAT(RpcError::timeout(), StatusIs(StatusCode::kDeadlineExceeded));
  EXPECT_THAT(RpcError::remote(StatusCode::kDeadlineExceeded, "slow"), StatusIs(StatusCode::kDeadlineExceeded));
  EXPECT_THAT(RpcError::timeout(), Not(StatusIs(StatusCode::kCancelled)));
}

TEST(ErrorIs, LooksInsideResultsAndOptionals) {
  const Result<int> failed = RpcError::config("bad");
  const Result<void> failed_void = RpcError::io("read");
  const std::optional<RpcError> held = RpcError::tls("untrusted");
  EXPECT_THAT(failed, ErrorIs(ErrorKind::kConfig, StatusCode::kInvalidArgument));
  EXPECT_THAT(failed_void, StatusIs(StatusCode::kUnavailable));
  EXPECT_THAT(held, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
  EXPECT_THAT(&*held, ErrorIs(ErrorKind::kTls, StatusCode::kUnavailable));
}

TEST(ErrorIs, NeverMatchesASuccess) {
  EXPECT_THAT(Result<int>(7), Not(StatusIs(StatusCode::kUnknown)));
  EXPECT_THAT(Result<void>(), Not(StatusIs(StatusCode::kUnknown)));
  EXPECT_THAT(std::optional<RpcError>(), Not(StatusIs(StatusCode::kUnknown)));
  EXPECT_THAT(static_cast<const RpcError*>(nullptr), Not(StatusIs(StatusCode::kUnknown)));
  EXPECT_EQ(explain(StatusIs(StatusCode::kUnknown), Result<int>(7)), "which holds no error");
}

TEST(ErrorIs, AFailurePrintsTheWholeError) {
  EXPECT_EQ(explain(StatusIs(StatusCode::kNotFound), RpcError::config("port 99999")),
            "which is config: port 99999 (INVALID_ARGUMENT)");
  EXPECT_EQ(::testing::DescribeMatcher<RpcError>(ErrorIs(ErrorKind::kConfig, StatusCode::kInvalidArgument)),
            "is an error of kind config with code INVALID_ARGUMENT");
  EXPECT_EQ(::testing::DescribeMatcher<RpcError>(StatusIs(StatusCode::kNotFound)), "is an error with code NOT_FOUND");
}

}  // namespace
}  // namespace rpcnet::testing
