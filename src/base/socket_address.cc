#include "src/base/socket_address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace peerlink {

IpAddress IpAddress::V4(uint32_t h) {
  return V4(static_cast<uint8_t>(h >> 24), static_cast<uint8_t>(h >> 16), static_cast<uint8_t>(h >> 8),
            static_cast<uint8_t>(h));
}

IpAddress IpAddress::V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  IpAddress ip;
  ip.family_ = IpFamily::kV4;
  ip.bytes_[0] = a;
  ip.bytes_[1] = b;
  ip.bytes_[2] = c;
  ip.bytes_[3] = d;
  return ip;
}

IpAddress IpAddress::V6(const std::array<uint8_t, 16>& bytes) {
  IpAddress ip;
  ip.family_ = IpFamily::kV6;
  ip.bytes_ = bytes;
  return ip;
}

IpAddress IpAddress::Loopback(IpFamily f) {
  if (f == IpFamily::kV4) return V4(127, 0, 0, 1);
  std::array<uint8_t, 16> b{};
  b[15] = 1;
  return V6(b);
}

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  char buf[64];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  uint8_t raw[16];
  if (text.find(':') == std::string_view::npos) {
    if (inet_pton(AF_INET, buf, raw) != 1) return std::nullopt;
    return V4(raw[0], raw[1], raw[2], raw[3]);
  }
  if (inet_pton(AF_INET6, buf, raw) != 1) return std::nullopt;
  std::array<uint8_t, 16> b;
  std::memcpy(b.data(), raw, 16);
  return V6(b);
}

uint32_t IpAddress::v4_host_order() const {
  return (uint32_t{bytes_[0]} << 24) | (uint32_t{bytes_[1]} << 16) | (uint32_t{bytes_[2]} << 8) | bytes_[3];
}

bool IpAddress::IsLoopback() const {
  if (is_v4()) return bytes_[0] == 127;
  return *this == Loopback(IpFamily::kV6);
}

bool IpAddress::IsLinkLocal() const {
  if (is_v4()) return bytes_[0] == 169 && bytes_[1] == 254;
  return bytes_[0] == 0xfe && (bytes_[1] & 0xc0) == 0x80;
}

bool IpAddress::IsUnspecified() const {
  for (size_t i = 0; i < byte_len(); ++i)
    if (bytes_[i] != 0) return false;
  return true;
}

bool IpAddress::IsPrivate() const {
  if (is_v4()) {
    return bytes_[0] == 10 || (bytes_[0] == 172 && (bytes_[1] & 0xf0) == 16) || (bytes_[0] == 192 && bytes_[1] == 168);
  }
  return (bytes_[0] & 0xfe) == 0xfc;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof(buf));
  return buf;
}

std::optional<SocketAddress> SocketAddress::Parse(std::string_view text) {
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;
  }
  auto ip = IpAddress::Parse(host);
  if (!ip) return std::nullopt;
  unsigned p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || ptr != port.data() + port.size() || p > 65535) return std::nullopt;
  return SocketAddress(*ip, static_cast<uint16_t>(p));
}

std::string SocketAddress::ToString() const {
  if (ip_.is_v6()) return "[" + ip_.ToString() + "]:" + std::to_string(port_);
  return ip_.ToString() + ":" + std::to_string(port_);
}

std::string_view ToString(TransportProtocol p) {
  switch (p) {
    case TransportProtocol::kUdp: return "udp";
    case TransportProtocol::kTcp: return "tcp";
    case TransportProtocol::kTls: return "tls";
  }
  return "?";
}

}  // namespace peerlink

size_t std::hash<peerlink::IpAddress>::operator()(const peerlink::IpAddress& a) const {
  size_t h = static_cast<size_t>(a.family());
  for (uint8_t b : a.bytes())
    h = h * 131 + b;
  return h;
}

size_t std::hash<peerlink::SocketAddress>::operator()(const peerlink::SocketAddress& a) const {
  return std::hash<peerlink::IpAddress>()(a.ip()) * 65599 + a.port();
}
