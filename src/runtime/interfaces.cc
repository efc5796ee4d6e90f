#include "src/runtime/interfaces.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace peerlink::runtime {

std::vector<InterfaceAddress> EnumerateInterfaces(const InterfaceFilter& filter) {
  std::vector<InterfaceAddress> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (const ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
    if (it->ifa_addr == nullptr || (it->ifa_flags & IFF_UP) == 0) continue;
    IpAddress ip;
    if (it->ifa_addr->sa_family == AF_INET) {
      if (!filter.ipv4) continue;
      sockaddr_in sin;
      std::memcpy(&sin, it->ifa_addr, sizeof(sin));
      ip = IpAddress::V4(ntohl(sin.sin_addr.s_addr));
    } else if (it->ifa_addr->sa_family == AF_INET6) {
      if (!filter.ipv6) continue;
      sockaddr_in6 sin6;
      std::memcpy(&sin6, it->ifa_addr, sizeof(sin6));
      std::array<uint8_t, 16> bytes;
      std::memcpy(bytes.data(), &sin6.sin6_addr, 16);
      ip = IpAddress::V6(bytes);
    } else {
      continue;
    }
    const bool loopback = ip.IsLoopback() || (it->ifa_flags & IFF_LOOPBACK) != 0;
    if (filter.loopback_only && !loopback) continue;
    if (loopback && !filter.include_loopback && !filter.loopback_only) continue;
    if (ip.is_v6() && ip.IsLinkLocal() && !filter.include_link_local) continue;
    const bool seen = std::any_of(out.begin(), out.end(), [&](const InterfaceAddress& a) { return a.address == ip; });
    if (!seen) out.push_back({it->ifa_name ? it->ifa_name : "", ip});
  }
  freeifaddrs(list);
  return out;
}

}  // namespace peerlink::runtime
