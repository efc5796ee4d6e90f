// Strong types for wire identifiers, and serial-number arithmetic (RFC 1982)
// for wrapping counters.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <type_traits>

namespace peerlink {

template <typename Tag, typename T>
class StrongId {
 public:
  using ValueType = T;
  constexpr StrongId() = default;
  constexpr explicit StrongId(T v) : v_(v) {}
  constexpr T value() const { return v_; }
  constexpr auto operator<=>(const StrongId&) const = default;

 private:
  T v_{};
};

// RFC 1982 comparisons for an unsigned wrapping counter.
template <typename T>
constexpr bool SerialLess(T a, T b) {
  static_assert(std::is_unsigned_v<T>);
  using S = std::make_signed_t<T>;
  return a != b && static_cast<S>(static_cast<T>(a - b)) < 0;
}

}  // namespace peerlink

template <typename Tag, typename T>
struct std::hash<peerlink::StrongId<Tag, T>> {
  size_t operator()(const peerlink::StrongId<Tag, T>& id) const { return std::hash<T>()(id.value()); }
};
