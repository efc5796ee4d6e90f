// A STUN Binding server core (RFC 8489 section 6.3), sans-I/O and stateless:
// a request datagram in, at most one response datagram out. Used by
// `peerlink stun` and by the network simulator.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "src/base/byte_io.h"
#include "src/base/socket_address.h"

namespace peerlink::stun {

struct BindingServerStats {
  uint64_t requests = 0;
  uint64_t responses = 0;
  uint64_t errors_sent = 0;  // 400 / 420 responses
  uint64_t dropped = 0;      // not STUN, malformed, bad fingerprint, not a request
};

class BindingServer {
 public:
  explicit BindingServer(std::string software = "peerlink") : software_(std::move(software)) {}

  // Handles one datagram from `from`; returns the response to send back, if any.
  std::optional<std::vector<uint8_t>> HandleDatagram(const SocketAddress& from, ByteView datagram);
  const BindingServerStats& stats() const { return stats_; }

 private:
  std::string software_;
  BindingServerStats stats_;
};

}  // namespace peerlink::stun
