// rpcnet/result.h — Result<T>: a value or an RpcError.
//
// rpcnet's fallible functions return Result<T> (marked [[nodiscard]]), never throw for expected
// failures. Result<void> carries only success or an error. This is a small stand-in for
// std::expected, which clang cannot use with libstdc++ 12.
//
// Misuse is a bug and fails loudly in debug builds (RPCNET_ASSERT, rpcnet/assert.h): value() or
// * on an error, error() on a success. In release builds value() on an error throws
// std::bad_variant_access and error() on a success returns an UNKNOWN error whose message says
// so — never undefined behaviour.
//
// The monadic helpers are std::expected's: and_then (chain a fallible step), transform (map the
// value), or_else (handle or replace the error). To pass a step's error up unchanged between
// statements, RPCNET_TRY(step) says it in one line.
//
// Example:
//   #include <charconv>
//
//   rpcnet::Result<int> parse(std::string_view s) {
//     int value = 0;
//     auto [end, error] = std::from_chars(s.data(), s.data() + s.size(), value);
//     if (error != std::errc() || end != s.data() + s.size()) {
//       return rpcnet::RpcError::status(rpcnet::StatusCode::kInvalidArgument, "not a number");
//     }
//     return value;
//   }
//   rpcnet::Result<int> twice(std::string_view s) {
//     auto n = parse(s);
//     if (!n) return n.error();          // propagate
//     int value = *n;                    // or n.value()
//     return 2 * value;
//   }
//   rpcnet::Result<std::string> doubled() {
//     return parse("21").transform([](int v) { return std::to_string(2 * v); });
//   }
//   rpcnet::Result<int> sum(std::string_view a, std::string_view b) {
//     RPCNET_TRY(parse(a));              // returns parse's error, if any; the value is dropped
//     return twice(b);
//   }
#pragma once

#include <functional>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "rpcnet/assert.h"
#include "rpcnet/error.h"

namespace rpcnet {

template <class T>
class Result;
template <>
class Result<void>;

namespace detail {
template <class R>
struct is_result : std::false_type {};
template <class U>
struct is_result<Result<U>> : std::true_type {};

// What error() returns on a success in release builds (debug builds assert instead).
inline const RpcError& error_of_a_success() {
  static const RpcError error(ErrorKind::kStatus, StatusCode::kUnknown, "error() called on a successful Result");
  return error;
}
}  // namespace detail

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

  // Precondition: ok() (asserted in debug builds; std::bad_variant_access in release).
  T& value() & {
    RPCNET_ASSERT(ok(), "value() called on an error Result: check ok() first");
    return std::get<0>(state_);
  }
  const T& value() const& {
    RPCNET_ASSERT(ok(), "value() called on an error Result: check ok() first");
    return std::get<0>(state_);
  }
  T&& value() && {
    RPCNET_ASSERT(ok(), "value() called on an error Result: check ok() first");
    return std::get<0>(std::move(state_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // Precondition: !ok() (asserted in debug builds; an UNKNOWN error saying so in release).
  const RpcError& error() const& {
    RPCNET_ASSERT(!ok(), "error() called on a successful Result: check ok() first");
    return ok() ? detail::error_of_a_success() : std::get<1>(state_);
  }
  RpcError error() && {
    RPCNET_ASSERT(!ok(), "error() called on a successful Result: check ok() first");
    return ok() ? detail::error_of_a_success() : std::get<1>(std::move(state_));
  }

  template <class U>
  T value_or(U&& fallback) const& {
    return ok() ? value() : static_cast<T>(std::forward<U>(fallback));
  }

  // f(value) -> Result<U>: runs on success; an error passes through untouched.
  template <class F>
  auto and_then(F&& f) const& {
    using R = std::remove_cvref_t<std::invoke_result_t<F, const T&>>;
    static_assert(detail::is_result<R>::value, "and_then: the function must return a Result");
    if (!ok()) return R(std::get<1>(state_));
    return std::invoke(std::forward<F>(f), std::get<0>(state_));
  }
  template <class F>
  auto and_then(F&& f) && {
    using R = std::remove_cvref_t<std::invoke_result_t<F, T&&>>;
    static_assert(detail::is_result<R>::value, "and_then: the function must return a Result");
    if (!ok()) return R(std::get<1>(std::move(state_)));
    return std::invoke(std::forward<F>(f), std::get<0>(std::move(state_)));
  }

  // f(value) -> U: Result<U> of the mapped value (U may be void); an error passes through.
  template <class F>
  auto transform(F&& f) const& {
    using U = std::remove_cv_t<std::invoke_result_t<F, const T&>>;
    if (!ok()) return Result<U>(std::get<1>(state_));
    if constexpr (std::is_void_v<U>) {
      std::invoke(std::forward<F>(f), std::get<0>(state_));
      return Result<U>();  // U is void here; dependent, so complete when instantiated
    } else {
      return Result<U>(std::invoke(std::forward<F>(f), std::get<0>(state_)));
    }
  }
  template <class F>
  auto transform(F&& f) && {
    using U = std::remove_cv_t<std::invoke_result_t<F, T&&>>;
    if (!ok()) return Result<U>(std::get<1>(std::move(state_)));
    if constexpr (std::is_void_v<U>) {
      std::invoke(std::forward<F>(f), std::get<0>(std::move(state_)));
      return Result<U>();  // U is void here; dependent, so complete when instantiated
    } else {
      return Result<U>(std::invoke(std::forward<F>(f), std::get<0>(std::move(state_))));
    }
  }

  // f(error) -> Result<T>: runs on an error (to recover or to replace it); a value passes through.
  template <class F>
  Result or_else(F&& f) const& {
    if (ok()) return *this;
    return std::invoke(std::forward<F>(f), std::get<1>(state_));
  }
  template <class F>
  Result or_else(F&& f) && {
    if (ok()) return std::move(*this);
    return std::invoke(std::forward<F>(f), std::get<1>(std::move(state_)));
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
  // Precondition: !ok() (asserted in debug builds; an UNKNOWN error saying so in release).
  const RpcError& error() const& {
    RPCNET_ASSERT(!ok(), "error() called on a successful Result: check ok() first");
    return ok() ? detail::error_of_a_success() : *error_;
  }
  RpcError error() && {
    RPCNET_ASSERT(!ok(), "error() called on a successful Result: check ok() first");
    return ok() ? detail::error_of_a_success() : std::move(*error_);
  }

  // f() -> Result<U>: runs on success; an error passes through untouched.
  template <class F>
  auto and_then(F&& f) const {
    using R = std::remove_cvref_t<std::invoke_result_t<F>>;
    static_assert(detail::is_result<R>::value, "and_then: the function must return a Result");
    if (!ok()) return R(*error_);
    return std::invoke(std::forward<F>(f));
  }
  // f() -> U: Result<U> of its value (U may be void); an error passes through.
  template <class F>
  auto transform(F&& f) const {
    using U = std::remove_cv_t<std::invoke_result_t<F>>;
    if (!ok()) return Result<U>(*error_);
    if constexpr (std::is_void_v<U>) {
      std::invoke(std::forward<F>(f));
      return Result<void>();
    } else {
      return Result<U>(std::invoke(std::forward<F>(f)));
    }
  }
  // f(error) -> Result<void>: runs on an error; a success passes through.
  template <class F>
  Result or_else(F&& f) const {
    if (ok()) return *this;
    return std::invoke(std::forward<F>(f), *error_);
  }

 private:
  std::optional<RpcError> error_;
};

// The success value of Result<void>, for readability: `co_return rpcnet::ok();`
inline Result<void> ok() { return {}; }

}  // namespace rpcnet

// RPCNET_TRY(expr): evaluates `expr`, a Result of any T; when it holds an error, returns that
// error from the enclosing function (which returns a Result). The value, if any, is dropped: to
// keep it, test the Result yourself or chain with and_then / transform. One statement; it needs
// the trailing semicolon. (In a coroutine, test the Result and co_return its error.)
#define RPCNET_TRY(...)                                                           \
  if (auto rpcnet_try_result_ = (__VA_ARGS__); !rpcnet_try_result_)               \
    return std::move(rpcnet_try_result_).error();                                 \
  else                                                                            \
    static_cast<void>(0)
