#include "src/base/time.h"

#include <cstdio>
#include <ostream>

namespace peerlink {

std::string Duration::ToString() const {
  char buf[48];
  if (ns_ == std::numeric_limits<int64_t>::max()) return "inf";
  if (ns_ % 1000000 == 0)
    std::snprintf(buf, sizeof(buf), "%lldms", static_cast<long long>(ns_ / 1000000));
  else
    std::snprintf(buf, sizeof(buf), "%.3fms", millis_f());
  return buf;
}

std::ostream& operator<<(std::ostream& os, Duration d) {
  return os << d.ToString();
}
std::ostream& operator<<(std::ostream& os, Instant t) {
  return os << "t+" << Duration::Nanos(t.nanos()).ToString();
}

}  // namespace peerlink
