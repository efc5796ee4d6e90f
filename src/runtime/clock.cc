#include "src/runtime/clock.h"

namespace peerlink::runtime {

Instant Now() {
  return FromTimePoint(std::chrono::steady_clock::now());
}

SteadyTimePoint ToTimePoint(Instant at) {
  return SteadyTimePoint(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::nanoseconds(at.nanos())));
}

Instant FromTimePoint(SteadyTimePoint tp) {
  return Instant::FromNanos(std::chrono::duration_cast<std::chrono::nanoseconds>(tp.time_since_epoch()).count());
}

int64_t UnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace peerlink::runtime
