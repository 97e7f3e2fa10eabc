// Result<T>: a value or an RpcError; Result<void>.
#include "rpcnet/result.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace rpcnet {
namespace {

Result<int> parse_digit(char c) {
  if (c < '0' || c > '9') return RpcError::serialization(std::string("not a digit: ") + c);
  return c - '0';
}

TEST(Result, HoldsAValue) {
  const Result<int> r = 42;
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(r.value(), 42);
  EXPECT_EQ(*r, 42);
}

TEST(Result, HoldsAnError) {
  const Result<int> r = RpcError::config("bad");
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.error().kind(), ErrorKind::kConfig);
  EXPECT_EQ(r.error().message(), "bad");
}

// Misuse is a programming error: loud in debug builds (the assertion names the precondition),
// defined in release builds (an exception, or an error that says what happened) — never UB.
#ifndef NDEBUG
TEST(ResultMisuseDeathTest, ValueOnAnErrorAbortsNamingThePrecondition) {
  const Result<int> r = RpcError::io("x");
  EXPECT_DEATH(static_cast<void>(r.value()), "value\\(\\) called on an error Result: check ok\\(\\) first");
  EXPECT_DEATH(static_cast<void>(*r), "value\\(\\) called on an error Result");
}

TEST(ResultMisuseDeathTest, ErrorOnASuccessAbortsNamingThePrecondition) {
  const Result<int> value = 1;
  EXPECT_DEATH(static_cast<void>(value.error()), "error\\(\\) called on a successful Result");
  const Result<void> success;
  EXPECT_DEATH(static_cast<void>(success.error()), "error\\(\\) called on a successful Result");
}
#else
TEST(ResultMisuse, ValueOnAnErrorThrowsBadVariantAccess) {
  const Result<int> r = RpcError::io("x");
  EXPECT_THROW(static_cast<void>(r.value()), std::bad_variant_access);
}

TEST(ResultMisuse, ErrorOnASuccessIsAnUnknownErrorThatSaysSo) {
  const Result<int> value = 1;
  EXPECT_EQ(value.error().code(), StatusCode::kUnknown);
  EXPECT_EQ(value.error().message(), "error() called on a successful Result");
  const Result<void> success;
  EXPECT_EQ(success.error().message(), "error() called on a successful Result");
  EXPECT_EQ(Result<void>().error().code(), StatusCode::kUnknown);
}
#endif

TEST(ResultMonadic, AndThenChainsFallibleStepsAndStopsAtTheFirstError) {
  const auto tens = [](int v) -> Result<int> { return v * 10; };
  EXPECT_EQ(*parse_digit('4').and_then(tens), 40);
  EXPECT_EQ(*parse_digit('4').and_then(tens).and_then([](int v) { return parse_digit(static_cast<char>('0' + v / 10)); }), 4);
  int calls = 0;
  const auto counted = [&](int v) -> Result<int> {
    ++calls;
    return v;
  };
  const auto failed = parse_digit('x').and_then(counted);
  EXPECT_EQ(calls, 0) << "the step after an error never runs";
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message(), "not a digit: x");
  const Result<void> done = parse_digit('2').and_then([](int) { return ok(); });
  EXPECT_TRUE(done);
}

TEST(ResultMonadic, TransformMapsTheValueAndPassesErrorsThrough) {
  const Result<std::string> text = parse_digit('7').transform([](int v) { return std::to_string(v * 2); });
  EXPECT_EQ(*text, "14");
  const Result<std::string> bad = parse_digit('?').transform([](int v) { return std::to_string(v); });
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind(), ErrorKind::kSerialization);
  int seen = 0;
  const Result<void> side_effect = parse_digit('5').transform([&](int v) { seen = v; });
  EXPECT_TRUE(side_effect);
  EXPECT_EQ(seen, 5);
  auto owned = Result<std::unique_ptr<int>>(std::make_unique<int>(3)).transform([](std::unique_ptr<int> p) { return *p + 1; });
  EXPECT_EQ(*owned, 4);
  const Result<int> from_void = ok().transform([] { return 9; });
  EXPECT_EQ(*from_void, 9);
  const Result<int> from_void_error = Result<void>(RpcError::io("down")).transform([] { return 9; });
  EXPECT_EQ(from_void_error.error().message(), "down");
}

TEST(ResultMonadic, OrElseRecoversOrReplacesTheError) {
  const Result<int> recovered = parse_digit('x').or_else([](const RpcError&) -> Result<int> { return 0; });
  EXPECT_EQ(*recovered, 0);
  const Result<int> replaced = parse_digit('x').or_else([](const RpcError& e) -> Result<int> {
    return RpcError::status(StatusCode::kInvalidArgument, "digit expected (" + e.message() + ")");
  });
  EXPECT_EQ(replaced.error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(replaced.error().message(), "digit expected (not a digit: x)");
  int calls = 0;
  const Result<int> untouched = parse_digit('3').or_else([&](const RpcError&) -> Result<int> {
    ++calls;
    return 0;
  });
  EXPECT_EQ(*untouched, 3);
  EXPECT_EQ(calls, 0);
  const Result<void> void_recovered = Result<void>(RpcError::io("x")).or_else([](const RpcError&) { return ok(); });
  EXPECT_TRUE(void_recovered);
}

TEST(Result, ReturnsValuesAndErrorsFromFunctions) {
  const auto good = parse_digit('7');
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 7);
  const auto bad = parse_digit('x');
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind(), ErrorKind::kSerialization);
  EXPECT_EQ(bad.error().message(), "not a digit: x");
}

TEST(Result, ValueOrReturnsTheValueOrTheFallback) {
  const Result<int> good = 3;
  const Result<int> bad = RpcError::io("x");
  EXPECT_EQ(good.value_or(9), 3);
  EXPECT_EQ(bad.value_or(9), 9);
  const Result<std::string> text = RpcError::io("x");
  EXPECT_EQ(text.value_or("fallback"), "fallback");
}

TEST(Result, ArrowAccessesMembers) {
  Result<std::string> r = std::string("hello");
  EXPECT_EQ(r->size(), 5u);
  r->append("!");
  EXPECT_EQ(*r, "hello!");
}

TEST(Result, ConvertsFromTypesConstructibleToT) {
  const Result<std::string> r = "literal";  // const char* -> std::string
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "literal");
}

TEST(Result, HoldsAMoveOnlyValue) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(5);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(**r, 5);
  std::unique_ptr<int> taken = std::move(r).value();
  ASSERT_NE(taken, nullptr);
  EXPECT_EQ(*taken, 5);
  static_assert(!std::is_copy_constructible_v<Result<std::unique_ptr<int>>>);
  static_assert(std::is_move_constructible_v<Result<std::unique_ptr<int>>>);
}

TEST(Result, MovesAMoveOnlyValueOutThroughDereference) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(6);
  std::unique_ptr<int> taken = *std::move(r);
  ASSERT_NE(taken, nullptr);
  EXPECT_EQ(*taken, 6);
}

TEST(Result, MovesTheErrorOut) {
  Result<std::unique_ptr<int>> r = RpcError::timeout("late");
  ASSERT_FALSE(r.ok());
  const RpcError error = std::move(r).error();
  EXPECT_EQ(error.code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(error.message(), "late");
}

TEST(ResultVoid, DefaultIsSuccess) {
  const Result<void> r;
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_TRUE(ok().ok());
}

TEST(ResultVoid, HoldsAnError) {
  const Result<void> r = RpcError::cancelled();
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.error().code(), StatusCode::kCancelled);
  Result<void> moved = RpcError::tls("handshake");
  const RpcError error = std::move(moved).error();
  EXPECT_EQ(error.message(), "handshake");
}

TEST(Result, ExposesItsValueType) {
  static_assert(std::is_same_v<Result<int>::value_type, int>);
  static_assert(std::is_same_v<Result<void>::value_type, void>);
  const Result<Result<int>::value_type> r = 1;
  EXPECT_EQ(*r, 1);
}

}  // namespace
}  // namespace rpcnet

namespace rpcnet {
namespace {

// Two steps joined by RPCNET_TRY: the first failure is returned as it was; `reached` proves the
// statements after a failed step never run.
Result<void> two_digits(char a, char b, int& reached) {
  RPCNET_TRY(parse_digit(a));
  reached = 1;
  RPCNET_TRY(parse_digit(b));
  reached = 2;
  return ok();
}

TEST(RpcnetTry, ReturnsTheFirstErrorUnchangedAndStopsThere) {
  int reached = 0;
  const Result<void> failed = two_digits('1', 'x', reached);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error(), parse_digit('x').error());
  EXPECT_EQ(reached, 1);
  reached = 0;
  EXPECT_FALSE(two_digits('y', '2', reached).ok());
  EXPECT_EQ(reached, 0);
}

TEST(RpcnetTry, FallsThroughOnSuccess) {
  int reached = 0;
  EXPECT_TRUE(two_digits('1', '2', reached).ok());
  EXPECT_EQ(reached, 2);
}

}  // namespace
}  // namespace rpcnet
