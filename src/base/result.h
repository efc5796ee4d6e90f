// Result<T, E>: a value or an error, the shape of C++23 std::expected.
// Codecs return Result<T, ParseError>; they never throw or abort on bad input.
#pragma once

#include <type_traits>
#include <utility>
#include <variant>

#include "src/base/check.h"

namespace peerlink {

template <typename E>
struct Unexpected {
  E error;
};
template <typename E>
Unexpected<std::decay_t<E>> MakeUnexpected(E&& e) {
  return {std::forward<E>(e)};
}

template <typename T, typename E>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
  template <typename E2>
  Result(Unexpected<E2> u) : v_(std::in_place_index<1>, E(std::move(u.error))) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    PL_CHECK(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    PL_CHECK(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    PL_CHECK(ok());
    return std::get<0>(std::move(v_));
  }
  const E& error() const {
    PL_CHECK(!ok());
    return std::get<1>(v_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, E> v_;
};

// Result<void, E>.
template <typename E>
class [[nodiscard]] Status {
 public:
  Status() = default;
  template <typename E2>
  Status(Unexpected<E2> u) : err_(E(std::move(u.error))), failed_(true) {}  // NOLINT
  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const E& error() const {
    PL_CHECK(failed_);
    return err_;
  }

 private:
  E err_{};
  bool failed_ = false;
};

}  // namespace peerlink
