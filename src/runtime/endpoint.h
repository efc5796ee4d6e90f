// Conversions between peerlink::SocketAddress (a plain value used by the
// cores) and Boost.Asio endpoints, plus host name resolution for the CLI.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "src/base/socket_address.h"

namespace peerlink::runtime {

namespace asio = boost::asio;

asio::ip::address ToAsio(const IpAddress& ip);
asio::ip::udp::endpoint ToUdpEndpoint(const SocketAddress& addr);
asio::ip::tcp::endpoint ToTcpEndpoint(const SocketAddress& addr);

// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) become plain IPv4 so that one
// peer has one SocketAddress whatever socket it was seen on. Scope ids are
// dropped (link-local addresses are only used when explicitly requested and
// the interface is then implied by the bound socket).
IpAddress FromAsio(const asio::ip::address& ip);
SocketAddress FromEndpoint(const asio::ip::udp::endpoint& ep);
SocketAddress FromEndpoint(const asio::ip::tcp::endpoint& ep);

// Splits "host:port", "[v6]:port" or "v4:port". Returns nullopt on bad syntax
// or a port outside 1..65535. The host is returned without brackets.
struct HostPort {
  std::string host;
  uint16_t port = 0;
};
std::optional<HostPort> SplitHostPort(std::string_view text);

// Resolves `host` (a literal or a DNS name) synchronously, blocking the
// caller: for start-up configuration only, never on an io_context thread
// that serves traffic. Prefers `family` when given, else the first address
// returned. On failure returns nullopt and sets *error.
std::optional<SocketAddress> Resolve(const std::string& host,
                                     uint16_t port,
                                     std::optional<IpFamily> family,
                                     std::string* error);

}  // namespace peerlink::runtime
