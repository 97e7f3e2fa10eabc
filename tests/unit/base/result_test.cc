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

TEST(Result, ValueOnAnErrorThrowsBadVariantAccess) {
  const Result<int> r = RpcError::io("x");
  EXPECT_THROW(static_cast<void>(r.value()), std::bad_variant_access);
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
  EXPECT_EQ(error.kind(), ErrorKind::kTimeout);
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
  EXPECT_EQ(r.error().kind(), ErrorKind::kCancelled);
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
