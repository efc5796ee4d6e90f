#include "src/ice/candidate.h"

#include <charconv>
#include <vector>

namespace peerlink::ice {

std::string_view ToString(CandidateType t) {
  switch (t) {
    case CandidateType::kHost: return "host";
    case CandidateType::kServerReflexive: return "srflx";
    case CandidateType::kPeerReflexive: return "prflx";
    case CandidateType::kRelayed: return "relay";
  }
  return "?";
}

std::string Candidate::ToSdp() const {
  std::string s = "candidate:" + foundation + " " + std::to_string(component) + " " +
                  (protocol == TransportProtocol::kUdp ? "udp" : "tcp") + " " + std::to_string(priority) + " " +
                  address.ip().ToString() + " " + std::to_string(address.port()) + " typ " +
                  std::string(ice::ToString(type));
  if (related) s += " raddr " + related->ip().ToString() + " rport " + std::to_string(related->port());
  if (protocol != TransportProtocol::kUdp) s += " tcptype passive";
  return s;
}

std::string Candidate::ToSdpHidingAddresses(std::string_view mdns_name) const {
  std::string s = "candidate:" + foundation + " " + std::to_string(component) + " " +
                  (protocol == TransportProtocol::kUdp ? "udp" : "tcp") + " " + std::to_string(priority) + " " +
                  (type == CandidateType::kHost ? std::string(mdns_name) : address.ip().ToString()) + " " +
                  std::to_string(address.port()) + " typ " + std::string(ice::ToString(type));
  if (related) s += std::string(" raddr ") + (related->family() == IpFamily::kV4 ? "0.0.0.0" : "::") + " rport 0";
  if (protocol != TransportProtocol::kUdp) s += " tcptype passive";
  return s;
}

std::string Candidate::ToString() const {
  return std::string(ice::ToString(type)) + " " + address.ToString() +
         (type != CandidateType::kHost && type != CandidateType::kPeerReflexive ? " (base " + base.ToString() + ")"
                                                                                : "");
}

bool Candidate::operator==(const Candidate& o) const {
  return foundation == o.foundation && component == o.component && protocol == o.protocol && priority == o.priority &&
         address == o.address && type == o.type && related == o.related;
}

namespace {
bool ParseU32(std::string_view s, uint32_t& out) {
  if (s.empty() || s.size() > 10) return false;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > 0xFFFFFFFFull) return false;
  out = static_cast<uint32_t>(v);
  return true;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

ParseError Bad(const char* what) {
  return ParseError{ParseErrorCode::kBadValue, what};
}
}  // namespace

Result<Candidate, ParseError> Candidate::ParseSdp(std::string_view text) {
  if (text.starts_with("a=")) text.remove_prefix(2);
  if (text.starts_with("candidate:")) text.remove_prefix(10);
  while (!text.empty() && (text.back() == '\r' || text.back() == '\n' || text.back() == ' '))
    text.remove_suffix(1);
  // Split on single spaces; at most 64 tokens.
  std::vector<std::string_view> tok;
  size_t pos = 0;
  while (pos < text.size() && tok.size() < 64) {
    size_t end = text.find(' ', pos);
    if (end == std::string_view::npos) end = text.size();
    if (end > pos) tok.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  if (tok.size() < 8) return MakeUnexpected(ParseError{ParseErrorCode::kTruncated, "candidate: too few fields"});
  Candidate c;
  // RFC 8839: foundation is 1*32 ice-char.
  if (tok[0].size() > 32) return MakeUnexpected(Bad("candidate foundation too long"));
  c.foundation = std::string(tok[0]);
  if (!ParseU32(tok[1], c.component) || c.component == 0 || c.component > 256)
    return MakeUnexpected(Bad("candidate component"));
  if (EqualsIgnoreCase(tok[2], "udp"))
    c.protocol = TransportProtocol::kUdp;
  else if (EqualsIgnoreCase(tok[2], "tcp"))
    c.protocol = TransportProtocol::kTcp;
  else
    return MakeUnexpected(ParseError{ParseErrorCode::kUnsupported, "candidate transport"});
  if (!ParseU32(tok[3], c.priority) || c.priority == 0) return MakeUnexpected(Bad("candidate priority"));
  if (tok[4].ends_with(".local"))
    return MakeUnexpected(ParseError{ParseErrorCode::kUnsupported, "mDNS candidate (.local) needs resolution"});
  auto ip = IpAddress::Parse(tok[4]);
  if (!ip) return MakeUnexpected(Bad("candidate address"));
  uint32_t port = 0;
  if (!ParseU32(tok[5], port) || port > 65535) return MakeUnexpected(Bad("candidate port"));
  c.address = SocketAddress(*ip, static_cast<uint16_t>(port));
  if (tok[6] != "typ") return MakeUnexpected(Bad("candidate: expected 'typ'"));
  if (tok[7] == "host")
    c.type = CandidateType::kHost;
  else if (tok[7] == "srflx")
    c.type = CandidateType::kServerReflexive;
  else if (tok[7] == "prflx")
    c.type = CandidateType::kPeerReflexive;
  else if (tok[7] == "relay")
    c.type = CandidateType::kRelayed;
  else
    return MakeUnexpected(Bad("candidate type"));
  std::optional<IpAddress> raddr;
  std::optional<uint32_t> rport;
  for (size_t i = 8; i + 1 < tok.size(); i += 2) {
    if (tok[i] == "raddr") {
      raddr = IpAddress::Parse(tok[i + 1]);
    } else if (tok[i] == "rport") {
      uint32_t p = 0;
      if (ParseU32(tok[i + 1], p) && p <= 65535) rport = p;
    }
  }
  if (raddr && rport) c.related = SocketAddress(*raddr, static_cast<uint16_t>(*rport));
  c.base = c.address;
  return c;
}

}  // namespace peerlink::ice
