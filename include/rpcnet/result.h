// rpcnet/result.h — Result<T>: a value or an RpcError.
//
// rpcnet's fallible functions return Result<T> (marked [[nodiscard]]), never throw for expected
// failures. Result<void> carries only success or an error. This is a small stand-in for
// std::expected, which clang cannot use with libstdc++ 12.
//
// Example:
//   rpcnet::Result<int> parse(std::string_view s);
//   auto n = parse("42");
//   if (!n) return n.error();          // propagate
//   int value = *n;                    // or n.value()
#pragma once

#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "rpcnet/error.h"

namespace rpcnet {

template <class T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::remove_cvref_t<T>, RpcError>, "Result<RpcError> is ambiguous");

 public:
  using value_type = T;

  // An UNKNOWN error. Exists so that containers and Asio's co_spawn (which default-constructs
  // its result on the exception path) can hold a Result.
  Result() : state_(std::in_place_index<1>, ErrorKind::kStatus, StatusCode::kUnknown, "empty result") {}
  Result(const T& value) : state_(std::in_place_index<0>, value) {}             // NOLINT
  Result(T&& value) : state_(std::in_place_index<0>, std::move(value)) {}       // NOLINT
  Result(RpcError error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT
  template <class U>
    requires(std::is_constructible_v<T, U &&> && !std::is_same_v<std::remove_cvref_t<U>, T> &&
             !std::is_same_v<std::remove_cvref_t<U>, RpcError> &&
             !std::is_same_v<std::remove_cvref_t<U>, Result>)
  Result(U&& value) : state_(std::in_place_index<0>, std::forward<U>(value)) {}  // NOLINT

  bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  // Precondition: ok(). Calling value() on an error is a programming bug (std::bad_variant_access).
  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // Precondition: !ok().
  const RpcError& error() const& { return std::get<1>(state_); }
  RpcError&& error() && { return std::get<1>(std::move(state_)); }

  template <class U>
  T value_or(U&& fallback) const& {
    return ok() ? value() : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  std::variant<T, RpcError> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  using value_type = void;

  Result() = default;
  Result(RpcError error) : error_(std::move(error)) {}  // NOLINT

  bool ok() const noexcept { return !error_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  const RpcError& error() const& { return *error_; }
  RpcError&& error() && { return std::move(*error_); }

 private:
  std::optional<RpcError> error_;
};

// The success value of Result<void>, for readability: `co_return rpcnet::ok();`
inline Result<void> ok() { return {}; }

}  // namespace rpcnet
