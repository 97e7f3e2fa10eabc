// ErrorIs(kind, code) / StatusIs(code): the one way tests assert how something failed.
//
// Both match an RpcError, or a Result<T> / Result<void>, std::optional<RpcError> or pointer
// holding one; a success, an empty optional or a null pointer never matches (no dereference, so
// asserting on an error that is missing fails instead of crashing). StatusIs checks only code() — what
// callers branch on (rpcnet/error.h); ErrorIs also checks kind(), where the error was noticed. A
// mismatch prints the whole error ("kind: message (CODE)"), so a failure says what happened
// instead of two bare enum values.
//
// Example:
//   EXPECT_THAT(co_await client.call("nope", {}), StatusIs(StatusCode::kNotFound));
//   EXPECT_THAT(RpcServer::bind(bad_config), ErrorIs(ErrorKind::kConfig, StatusCode::kInvalidArgument));
#pragma once

#include <gmock/gmock.h>

#include <optional>
#include <ostream>

#include "rpcnet/error.h"
#include "rpcnet/result.h"
#include "rpcnet/status.h"

namespace rpcnet {

// So gtest prints a Result as what it holds rather than as raw bytes.
template <class T>
void PrintTo(const Result<T>& result, std::ostream* out) {
  if (result.ok()) {
    *out << "a successful Result";
  } else {
    *out << "a Result holding " << result.error();
  }
}

}  // namespace rpcnet

namespace rpcnet::testing {

namespace detail {

inline const RpcError* error_in(const RpcError& error) { return &error; }
inline const RpcError* error_in(const std::optional<RpcError>& error) { return error ? &*error : nullptr; }
inline const RpcError* error_in(const RpcError* error) { return error; }
template <class T>
const RpcError* error_in(const Result<T>& result) {
  return result.ok() ? nullptr : &result.error();
}

class ErrorMatcher {
 public:
  ErrorMatcher(std::optional<ErrorKind> kind, StatusCode code) : kind_(kind), code_(code) {}

  template <class Value>
  bool MatchAndExplain(const Value& value, ::testing::MatchResultListener* listener) const {
    const RpcError* error = error_in(value);
    if (error == nullptr) {
      *listener << "which holds no error";
      return false;
    }
    *listener << "which is " << error->to_string();
    return (!kind_ || error->kind() == *kind_) && error->code() == code_;
  }

  void DescribeTo(std::ostream* out) const {
    *out << "is an error";
    if (kind_) *out << " of kind " << error_kind_name(*kind_);
    *out << " with code " << status_code_name(code_);
  }
  void DescribeNegationTo(std::ostream* out) const {
    *out << "is not ";
    DescribeTo(out);
  }

 private:
  std::optional<ErrorKind> kind_;
  StatusCode code_;
};

}  // namespace detail

inline ::testing::PolymorphicMatcher<detail::ErrorMatcher> ErrorIs(ErrorKind kind, StatusCode code) {
  return ::testing::MakePolymorphicMatcher(detail::ErrorMatcher(kind, code));
}

inline ::testing::PolymorphicMatcher<detail::ErrorMatcher> StatusIs(StatusCode code) {
  return ::testing::MakePolymorphicMatcher(detail::ErrorMatcher(std::nullopt, code));
}

}  // namespace rpcnet::testing
