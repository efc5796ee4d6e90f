// Shared output shapes and constants of the mDNS cores (RFC 6762).
#pragma once

#include <cstdint>
#include <vector>

#include "src/base/socket_address.h"
#include "src/base/time.h"

namespace peerlink::mdns {

inline constexpr uint16_t kMdnsPort = 5353;
// RFC 6762 section 3: the IPv4 and IPv6 link-local multicast groups.
inline IpAddress MdnsGroupV4() {
  return IpAddress::V4(224, 0, 0, 251);
}
inline IpAddress MdnsGroupV6() {
  return IpAddress::V6({0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfb});
}
inline SocketAddress MdnsGroup(IpFamily family) {
  return SocketAddress(family == IpFamily::kV4 ? MdnsGroupV4() : MdnsGroupV6(), kMdnsPort);
}

// One datagram to send from the mDNS socket of `destination`'s family.
struct Transmit {
  SocketAddress destination;
  std::vector<uint8_t> data;
};

struct Deadline {
  Instant at;  // Instant::Max() when nothing is scheduled
};

}  // namespace peerlink::mdns
