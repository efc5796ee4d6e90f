// Instant and Duration: distinct types with no implicit conversions.
// Cores never read a clock; the runtime (or the simulator) passes `now` in.
#pragma once

#include <compare>
#include <cstdint>
#include <iosfwd>
#include <limits>
#include <string>

namespace peerlink {

class Duration {
 public:
  constexpr Duration() = default;
  static constexpr Duration Nanos(int64_t n) { return Duration(n); }
  static constexpr Duration Micros(int64_t n) { return Duration(n * 1000); }
  static constexpr Duration Millis(int64_t n) { return Duration(n * 1000 * 1000); }
  static constexpr Duration Seconds(int64_t n) { return Duration(n * 1000 * 1000 * 1000); }
  static constexpr Duration Zero() { return Duration(0); }
  static constexpr Duration Infinite() { return Duration(std::numeric_limits<int64_t>::max()); }

  constexpr int64_t nanos() const { return ns_; }
  constexpr int64_t micros() const { return ns_ / 1000; }
  constexpr int64_t millis() const { return ns_ / 1000000; }
  constexpr double seconds_f() const { return static_cast<double>(ns_) / 1e9; }
  constexpr double millis_f() const { return static_cast<double>(ns_) / 1e6; }

  constexpr Duration operator+(Duration o) const { return Duration(ns_ + o.ns_); }
  constexpr Duration operator-(Duration o) const { return Duration(ns_ - o.ns_); }
  constexpr Duration operator*(int64_t k) const { return Duration(ns_ * k); }
  constexpr Duration operator/(int64_t k) const { return Duration(ns_ / k); }
  constexpr Duration& operator+=(Duration o) {
    ns_ += o.ns_;
    return *this;
  }
  constexpr Duration& operator-=(Duration o) {
    ns_ -= o.ns_;
    return *this;
  }
  constexpr auto operator<=>(const Duration&) const = default;

  std::string ToString() const;

 private:
  constexpr explicit Duration(int64_t ns) : ns_(ns) {}
  int64_t ns_ = 0;
};

// A point in time on a monotonic clock with an arbitrary epoch.
class Instant {
 public:
  constexpr Instant() = default;
  static constexpr Instant FromNanos(int64_t ns) { return Instant(ns); }
  static constexpr Instant Zero() { return Instant(0); }
  static constexpr Instant Max() { return Instant(std::numeric_limits<int64_t>::max()); }

  constexpr int64_t nanos() const { return ns_; }

  constexpr Instant operator+(Duration d) const { return Instant(ns_ + d.nanos()); }
  constexpr Instant operator-(Duration d) const { return Instant(ns_ - d.nanos()); }
  constexpr Duration operator-(Instant o) const { return Duration::Nanos(ns_ - o.ns_); }
  constexpr Instant& operator+=(Duration d) {
    ns_ += d.nanos();
    return *this;
  }
  constexpr auto operator<=>(const Instant&) const = default;

 private:
  constexpr explicit Instant(int64_t ns) : ns_(ns) {}
  int64_t ns_ = 0;
};

// For test failure messages and logs.
std::ostream& operator<<(std::ostream& os, Duration d);
std::ostream& operator<<(std::ostream& os, Instant t);

}  // namespace peerlink
