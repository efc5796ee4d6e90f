// TURN server URIs (RFC 7065):
//   turn:host[:port][?transport=udp|tcp]   default port 3478, default transport UDP
//   turns:host[:port][?transport=tcp]      default port 5349, TLS over TCP
// IPv6 hosts are bracketed ("turn:[::1]:3478").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "src/base/socket_address.h"

namespace peerlink::runtime {

struct TurnUrl {
  std::string host;  // without brackets
  uint16_t port = 3478;
  TransportProtocol transport = TransportProtocol::kUdp;
  bool secure = false;  // turns:
};

// Returns nullopt and sets *error on a malformed URI or an unsupported
// combination (turns: with transport=udp would be DTLS, not supported).
std::optional<TurnUrl> ParseTurnUrl(std::string_view text, std::string* error);

}  // namespace peerlink::runtime
