// IP address + port as a plain value (no sockets here; conversion to
// sockaddr lives in src/runtime/).
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace peerlink {

enum class IpFamily : uint8_t { kV4 = 4, kV6 = 6 };

class IpAddress {
 public:
  IpAddress() = default;  // 0.0.0.0
  static IpAddress V4(uint32_t host_order);
  static IpAddress V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d);
  static IpAddress V6(const std::array<uint8_t, 16>& bytes);
  static IpAddress Loopback(IpFamily f);
  // Parses dotted IPv4 or textual IPv6 (no brackets, no zone).
  static std::optional<IpAddress> Parse(std::string_view text);

  IpFamily family() const { return family_; }
  bool is_v4() const { return family_ == IpFamily::kV4; }
  bool is_v6() const { return family_ == IpFamily::kV6; }
  // Network-order bytes; 4 significant bytes for IPv4.
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  size_t byte_len() const { return is_v4() ? 4 : 16; }
  uint32_t v4_host_order() const;

  bool IsLoopback() const;
  bool IsLinkLocal() const;
  bool IsUnspecified() const;
  bool IsPrivate() const;  // RFC 1918 / RFC 4193

  std::string ToString() const;
  auto operator<=>(const IpAddress&) const = default;

 private:
  IpFamily family_ = IpFamily::kV4;
  std::array<uint8_t, 16> bytes_{};
};

class SocketAddress {
 public:
  SocketAddress() = default;
  SocketAddress(IpAddress ip, uint16_t port) : ip_(ip), port_(port) {}
  // "1.2.3.4:5", "[::1]:5".
  static std::optional<SocketAddress> Parse(std::string_view text);

  const IpAddress& ip() const { return ip_; }
  uint16_t port() const { return port_; }
  IpFamily family() const { return ip_.family(); }
  void set_port(uint16_t p) { port_ = p; }

  std::string ToString() const;
  auto operator<=>(const SocketAddress&) const = default;

 private:
  IpAddress ip_;
  uint16_t port_ = 0;
};

enum class TransportProtocol : uint8_t { kUdp, kTcp, kTls };
std::string_view ToString(TransportProtocol p);

}  // namespace peerlink

template <>
struct std::hash<peerlink::IpAddress> {
  size_t operator()(const peerlink::IpAddress& a) const;
};
template <>
struct std::hash<peerlink::SocketAddress> {
  size_t operator()(const peerlink::SocketAddress& a) const;
};
