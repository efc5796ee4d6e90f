// Local interface addresses, for choosing where ICE binds its host sockets.
#pragma once

#include <string>
#include <vector>

#include "src/base/socket_address.h"

namespace peerlink::runtime {

struct InterfaceAddress {
  std::string interface;  // e.g. "eth0"
  IpAddress address;
};

struct InterfaceFilter {
  bool ipv4 = true;
  bool ipv6 = true;
  // Loopback (127.0.0.0/8, ::1) is skipped unless asked for: a loopback host
  // candidate is useless to a remote peer and leaks nothing useful.
  bool include_loopback = false;
  // IPv6 link-local (fe80::/10) is skipped unless asked for: such an address
  // is only reachable on one link and needs a scope id that the candidate
  // syntax cannot carry, so it rarely produces a working pair.
  bool include_link_local = false;
  // Only loopback addresses (for tests and the ice-demo); implies include_loopback.
  bool loopback_only = false;
};

// Addresses of interfaces that are up (IFF_UP), via getifaddrs(3). The order
// is the kernel's, with duplicates removed. Returns an empty list (and never
// throws) if getifaddrs fails.
std::vector<InterfaceAddress> EnumerateInterfaces(const InterfaceFilter& filter = {});

}  // namespace peerlink::runtime
