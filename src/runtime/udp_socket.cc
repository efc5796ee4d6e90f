#include "src/runtime/udp_socket.h"

#include <sys/socket.h>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/socket_base.hpp>

#include "src/runtime/endpoint.h"

namespace peerlink::runtime {

namespace {
std::error_code ToStd(const boost::system::error_code& ec) {
  return ec ? std::error_code(ec.value(), std::system_category()) : std::error_code();
}
}  // namespace

UdpSocket::UdpSocket(boost::asio::io_context& io, UdpSocketOptions options)
    : socket_(io), options_(options), buffer_(options.max_datagram + 1) {}

UdpSocket::~UdpSocket() {
  Close();
}

std::error_code UdpSocket::Bind(const SocketAddress& addr) {
  Close();
  boost::system::error_code ec;
  const auto ep = ToUdpEndpoint(addr);
  socket_.open(ep.protocol(), ec);
  if (ec) return ToStd(ec);
  if (addr.ip().is_v6()) socket_.set_option(boost::asio::ip::v6_only(true), ec);
  if (!ec && options_.receive_buffer > 0) {
    socket_.set_option(boost::asio::socket_base::receive_buffer_size(options_.receive_buffer), ec);
  }
  if (!ec && options_.send_buffer > 0) {
    socket_.set_option(boost::asio::socket_base::send_buffer_size(options_.send_buffer), ec);
  }
  if (!ec) socket_.non_blocking(true, ec);
  if (!ec) socket_.bind(ep, ec);
  if (ec) {
    boost::system::error_code ignored;
    socket_.close(ignored);
    return ToStd(ec);
  }
  local_ = FromEndpoint(socket_.local_endpoint(ec));
  boost::asio::socket_base::receive_buffer_size rcv;
  boost::asio::socket_base::send_buffer_size snd;
  socket_.get_option(rcv, ec);
  socket_.get_option(snd, ec);
  granted_rcvbuf_ = rcv.value();
  granted_sndbuf_ = snd.value();
  return {};
}

std::error_code UdpSocket::BindInRange(const IpAddress& ip, uint16_t port_min, uint16_t port_max) {
  if (port_min == 0 && port_max == 0) return Bind(SocketAddress(ip, 0));
  std::error_code last = std::make_error_code(std::errc::invalid_argument);
  for (uint32_t port = port_min; port <= port_max; ++port) {
    last = Bind(SocketAddress(ip, static_cast<uint16_t>(port)));
    if (!last) return last;
    if (last != std::errc::address_in_use) return last;
  }
  return last;
}

void UdpSocket::StartReceiving(ReceiveHandler handler) {
  handler_ = std::move(handler);
  ArmWait();
}

void UdpSocket::ArmWait() {
  if (!socket_.is_open()) return;
  std::weak_ptr<bool> alive = alive_;
  socket_.async_wait(boost::asio::socket_base::wait_read, [this, alive](const boost::system::error_code& ec) {
    if (alive.expired() || ec == boost::asio::error::operation_aborted) return;
    if (ec) return;  // the socket failed; nothing more will arrive
    ReadReady();
  });
}

void UdpSocket::ReadReady() {
  std::weak_ptr<bool> alive = alive_;
  for (int i = 0; i < options_.max_reads_per_wakeup && socket_.is_open(); ++i) {
    boost::asio::ip::udp::endpoint from;
    boost::system::error_code ec;
    const size_t n = socket_.receive_from(boost::asio::buffer(buffer_), from, 0, ec);
    if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) break;
    if (ec) {
      // ICMP errors (ECONNREFUSED after a send to a closed port) surface here on
      // Linux; they say nothing about this socket's health. Keep reading.
      if (ec == boost::asio::error::connection_refused || ec == boost::asio::error::connection_reset) continue;
      break;
    }
    if (n > options_.max_datagram) {
      ++stats_.truncated;
      continue;
    }
    ++stats_.datagrams_received;
    stats_.bytes_received += n;
    if (handler_) handler_(local_, FromEndpoint(from), ByteView(buffer_.data(), n));
    if (alive.expired()) return;  // the handler destroyed us
  }
  ArmWait();
}

std::error_code UdpSocket::SendTo(const SocketAddress& to, ByteView data) {
  if (!socket_.is_open()) return std::make_error_code(std::errc::bad_file_descriptor);
  boost::system::error_code ec;
  socket_.send_to(boost::asio::buffer(data.data(), data.size()), ToUdpEndpoint(to), 0, ec);
  if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
    ++stats_.send_would_block;
    return ToStd(ec);
  }
  if (ec) {
    ++stats_.send_errors;
    return ToStd(ec);
  }
  ++stats_.datagrams_sent;
  stats_.bytes_sent += data.size();
  return {};
}

void UdpSocket::Close() {
  if (!socket_.is_open()) return;
  boost::system::error_code ignored;
  socket_.close(ignored);
}

bool UdpSocket::is_open() const {
  return socket_.is_open();
}

}  // namespace peerlink::runtime
