#include "src/runtime/endpoint.h"

#include <boost/asio/io_context.hpp>
#include <charconv>

namespace peerlink::runtime {

asio::ip::address ToAsio(const IpAddress& ip) {
  if (ip.is_v4()) {
    asio::ip::address_v4::bytes_type b;
    std::copy_n(ip.bytes().begin(), 4, b.begin());
    return asio::ip::address_v4(b);
  }
  asio::ip::address_v6::bytes_type b;
  std::copy_n(ip.bytes().begin(), 16, b.begin());
  return asio::ip::address_v6(b);
}

asio::ip::udp::endpoint ToUdpEndpoint(const SocketAddress& addr) {
  return {ToAsio(addr.ip()), addr.port()};
}

asio::ip::tcp::endpoint ToTcpEndpoint(const SocketAddress& addr) {
  return {ToAsio(addr.ip()), addr.port()};
}

IpAddress FromAsio(const asio::ip::address& ip) {
  if (ip.is_v4()) return IpAddress::V4(ip.to_v4().to_uint());
  const asio::ip::address_v6 v6 = ip.to_v6();
  if (v6.is_v4_mapped()) return IpAddress::V4(asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_uint());
  std::array<uint8_t, 16> bytes;
  const auto b = v6.to_bytes();
  std::copy(b.begin(), b.end(), bytes.begin());
  return IpAddress::V6(bytes);
}

SocketAddress FromEndpoint(const asio::ip::udp::endpoint& ep) {
  return {FromAsio(ep.address()), ep.port()};
}

SocketAddress FromEndpoint(const asio::ip::tcp::endpoint& ep) {
  return {FromAsio(ep.address()), ep.port()};
}

std::optional<HostPort> SplitHostPort(std::string_view text) {
  HostPort out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
    out.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) return std::nullopt;  // bare IPv6 needs []
    out.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  if (out.host.empty() || port_text.empty()) return std::nullopt;
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535) {
    return std::nullopt;
  }
  out.port = static_cast<uint16_t>(port);
  return out;
}

std::optional<SocketAddress> Resolve(const std::string& host,
                                     uint16_t port,
                                     std::optional<IpFamily> family,
                                     std::string* error) {
  if (auto literal = IpAddress::Parse(host)) return SocketAddress(*literal, port);
  asio::io_context io;
  asio::ip::udp::resolver resolver(io);
  boost::system::error_code ec;
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec) {
    if (error) *error = "cannot resolve '" + host + "': " + ec.message();
    return std::nullopt;
  }
  std::optional<SocketAddress> first;
  for (const auto& entry : results) {
    SocketAddress addr = FromEndpoint(entry.endpoint());
    if (!family || addr.family() == *family) return addr;
    if (!first) first = addr;
  }
  if (first) return first;
  if (error) *error = "'" + host + "' has no address";
  return std::nullopt;
}

}  // namespace peerlink::runtime
