// ICE candidates (RFC 8445 section 5.1) and their SDP form (RFC 8839 section 5.1):
//   candidate:<foundation> <component> <transport> <priority> <address> <port>
//             typ <host|srflx|prflx|relay> [raddr <addr> rport <port>] *(<ext> <value>)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "src/base/parse_error.h"
#include "src/base/result.h"
#include "src/base/socket_address.h"

namespace peerlink::ice {

enum class CandidateType : uint8_t { kHost, kServerReflexive, kPeerReflexive, kRelayed };
std::string_view ToString(CandidateType t);  // "host", "srflx", "prflx", "relay"

// RFC 8445 section 5.1.2.2 recommended type preferences.
constexpr uint32_t TypePreference(CandidateType t) {
  switch (t) {
    case CandidateType::kHost: return 126;
    case CandidateType::kPeerReflexive: return 110;
    case CandidateType::kServerReflexive: return 100;
    case CandidateType::kRelayed: return 0;
  }
  return 0;
}

// RFC 8445 section 5.1.2.1.
constexpr uint32_t ComputePriority(uint32_t type_pref, uint32_t local_pref, uint32_t component) {
  return (type_pref << 24) | ((local_pref & 0xFFFF) << 8) | (256 - (component & 0xFF));
}

struct Candidate {
  std::string foundation;
  uint32_t component = 1;
  TransportProtocol protocol = TransportProtocol::kUdp;  // transport of the candidate itself
  uint32_t priority = 0;
  SocketAddress address;
  CandidateType type = CandidateType::kHost;
  std::optional<SocketAddress> related;  // raddr/rport
  // For local candidates: the address of the socket the candidate sends from
  // (equal to `address` for host candidates). Not part of the SDP form.
  SocketAddress base;

  // "candidate:..." (the a=candidate value, with the "candidate:" prefix).
  std::string ToSdp() const;
  // The a=candidate value for a peer that must not learn our local addresses (mDNS host
  // candidates, as browsers send them): a host candidate's address is `mdns_name`, and the
  // related address of other types is zeroed ("raddr 0.0.0.0 rport 0", "::" for IPv6).
  std::string ToSdpHidingAddresses(std::string_view mdns_name) const;
  // Accepts the value with or without "a=" and "candidate:" prefixes. Unknown
  // extension attributes are ignored. TCP candidates parse but are flagged by
  // protocol; mDNS (.local) hostnames are rejected with kUnsupported here.
  static Result<Candidate, ParseError> ParseSdp(std::string_view text);
  std::string ToString() const;
  bool operator==(const Candidate& o) const;
};

// Pair priority, RFC 8445 section 6.1.2.3 (g = controlling side's priority).
constexpr uint64_t PairPriority(uint32_t g, uint32_t d) {
  const uint64_t lo = g < d ? g : d;
  const uint64_t hi = g < d ? d : g;
  return (lo << 32) + 2 * hi + (g > d ? 1 : 0);
}

}  // namespace peerlink::ice
