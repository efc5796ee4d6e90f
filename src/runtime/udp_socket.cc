#include "src/runtime/udp_socket.h"

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/socket_base.hpp>
#include <cerrno>
#include <cstring>

#include "src/runtime/endpoint.h"

namespace peerlink::runtime {

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

namespace {
constexpr size_t kMaxGsoSegments = 64;      // the kernel's UDP_MAX_SEGMENTS on older kernels
constexpr size_t kMaxGsoBytes = 64000;      // below the 65,507-byte IPv4 UDP payload limit
constexpr int kMaxRecvBatch = 64;           // recvmmsg slots per call (UdpSocketOptions::recv_batch)
constexpr int kMaxSendBatch = 64;           // sendmmsg messages per call (UdpSocketOptions::send_batch)
constexpr size_t kMaxQueuedBytes = 256000;  // queued by QueueSend before it flushes

// The receive buffer, one per io thread rather than one per socket: a server holding many idle
// connections would otherwise keep 64 KiB of it per socket. Sharing is safe because a read
// hands its datagrams to the handler synchronously and nothing reads another socket of the
// same thread from inside a handler (reads only start from the io_context's wait completions).
// Not value-initialized: with recvmmsg it spans 16 slots of a GRO read each (~1 MiB), and only
// the pages the kernel writes into become resident; only bytes the kernel wrote are read.
uint8_t* ReceiveBuffer(size_t size) {
  thread_local std::unique_ptr<uint8_t[]> buffer;
  thread_local size_t capacity = 0;
  if (capacity < size) {
    buffer.reset(new uint8_t[size]);
    capacity = size;
  }
  return buffer.get();
}

std::error_code ToStd(const boost::system::error_code& ec) {
  return ec ? std::error_code(ec.value(), std::system_category()) : std::error_code();
}
}  // namespace

UdpSocket::UdpSocket(boost::asio::io_context& io, UdpSocketOptions options) : socket_(io), options_(options) {}

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
  if (options_.gro) {
    // Best effort: without it every datagram is one read.
    const int one = 1;
    (void)::setsockopt(socket_.native_handle(), SOL_UDP, UDP_GRO, &one, sizeof one);
  }
  local_ = FromEndpoint(socket_.local_endpoint(ec));
  boost::asio::socket_base::receive_buffer_size rcv;
  boost::asio::socket_base::send_buffer_size snd;
  socket_.get_option(rcv, ec);
  socket_.get_option(snd, ec);
  // Linux caps SO_RCVBUF / SO_SNDBUF at net.core.{r,w}mem_max (4 MiB on this project's machines,
  // 208 KiB on many) and reports twice what it granted. With CAP_NET_ADMIN the *FORCE options
  // grant the request past the cap; without it they fail with EPERM and the capped size stays.
  // (A 4 MiB receive buffer behind the bench's delay line dropped bursts of a 300+ MB/s flow.)
  const int fd = socket_.native_handle();
  if (options_.receive_buffer > 0 && rcv.value() / 2 < options_.receive_buffer) {
    const int want = options_.receive_buffer;
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) == 0) socket_.get_option(rcv, ec);
  }
  if (options_.send_buffer > 0 && snd.value() / 2 < options_.send_buffer) {
    const int want = options_.send_buffer;
    if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof want) == 0) socket_.get_option(snd, ec);
  }
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

void UdpSocket::StartReceiving(ReceiveHandler handler, std::function<void()> on_batch_end) {
  handler_ = std::move(handler);
  on_batch_end_ = std::move(on_batch_end);
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
  const int fd = socket_.native_handle();
  bool delivered = false;
  const size_t slot = options_.max_datagram + 1;
  const size_t batch = static_cast<size_t>(std::clamp(options_.recv_batch, 1, kMaxRecvBatch));
  uint8_t* const buffer = ReceiveBuffer(slot * batch);
  sockaddr_storage from[kMaxRecvBatch];
  alignas(cmsghdr) char control[kMaxRecvBatch][CMSG_SPACE(sizeof(int)) * 2];
  iovec iov[kMaxRecvBatch];
  mmsghdr msgs[kMaxRecvBatch];
  int reads = 0;
  for (int call = 0; call < options_.max_reads_per_wakeup && reads < options_.max_reads_per_wakeup && socket_.is_open();
       ++call) {
    const size_t want = std::min(batch, static_cast<size_t>(options_.max_reads_per_wakeup - reads));
    for (size_t k = 0; k < want; ++k) {
      iov[k] = iovec{buffer + k * slot, slot};
      msghdr& m = msgs[k].msg_hdr;
      m = msghdr{};
      m.msg_name = &from[k];
      m.msg_namelen = sizeof from[k];
      m.msg_iov = &iov[k];
      m.msg_iovlen = 1;
      m.msg_control = control[k];
      m.msg_controllen = sizeof control[k];
      msgs[k].msg_len = 0;
    }
    int got;
    if (want == 1) {
      const ssize_t n = ::recvmsg(fd, &msgs[0].msg_hdr, 0);
      got = n < 0 ? -1 : 1;
      if (n >= 0) msgs[0].msg_len = static_cast<unsigned>(n);
    } else {
      got = ::recvmmsg(fd, msgs, static_cast<unsigned>(want), MSG_DONTWAIT, nullptr);
    }
    if (got < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      // ICMP errors (ECONNREFUSED after a send to a closed port) surface here on
      // Linux; they say nothing about this socket's health. Keep reading.
      if (errno == ECONNREFUSED || errno == ECONNRESET) continue;
      break;
    }
    if (got == 0) break;
    ++stats_.receive_calls;
    if (got > 1) ++stats_.mmsg_reads;
    reads += got;
    for (int k = 0; k < got; ++k) {
      if (!Deliver(alive, msgs[k].msg_hdr, msgs[k].msg_len, buffer + k * slot, &delivered)) {
        if (alive.expired()) return;  // the handler destroyed us
        break;                        // closed
      }
    }
    if (static_cast<size_t>(got) < want) break;  // the queue is empty
  }
  if (delivered && on_batch_end_) {
    on_batch_end_();
    if (alive.expired()) return;
  }
  ArmWait();
}

bool UdpSocket::Deliver(const std::weak_ptr<bool>& alive, msghdr& msg, size_t n, const uint8_t* data, bool* delivered) {
  size_t segment = 0;  // GRO: the size of each coalesced datagram (the last may be shorter)
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int size = 0;
      std::memcpy(&size, CMSG_DATA(c), sizeof size);
      if (size > 0) segment = static_cast<size_t>(size);
    }
  }
  if ((msg.msg_flags & MSG_TRUNC) || (segment == 0 && n > options_.max_datagram)) {
    ++stats_.truncated;
    return true;
  }
  boost::asio::ip::udp::endpoint from_ep;
  if (msg.msg_namelen > from_ep.capacity()) return true;
  std::memcpy(from_ep.data(), msg.msg_name, msg.msg_namelen);
  from_ep.resize(msg.msg_namelen);
  const SocketAddress from = FromEndpoint(from_ep);
  if (segment == 0 || segment >= n) segment = n;
  if (segment < n) ++stats_.gro_reads;
  for (size_t at = 0; at < n; at += segment) {
    const size_t len = std::min(segment, n - at);
    if (len > options_.max_datagram) {
      ++stats_.truncated;
      continue;
    }
    ++stats_.datagrams_received;
    stats_.bytes_received += len;
    *delivered = true;
    if (handler_) handler_(local_, from, ByteView(data + at, len));
    if (alive.expired() || !socket_.is_open()) return false;
  }
  return true;
}

std::error_code UdpSocket::SendTo(const SocketAddress& to, ByteView data) {
  if (!socket_.is_open()) return std::make_error_code(std::errc::bad_file_descriptor);
  boost::system::error_code ec;
  ++stats_.send_calls;
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

void UdpSocket::QueueSend(const SocketAddress& to, ByteView data) {
  if (data.empty() || data.size() > kMaxGsoBytes) {
    FlushSends();
    (void)SendTo(to, data);
    return;
  }
  if (!batches_.empty()) {
    SendBatch& last = batches_.back();
    if (gso_ok_ && !last.closed && last.to == to && data.size() <= last.segment && last.count < kMaxGsoSegments &&
        last.bytes + data.size() <= kMaxGsoBytes) {
      send_buf_.insert(send_buf_.end(), data.begin(), data.end());
      last.bytes += data.size();
      ++last.count;
      if (data.size() < last.segment) last.closed = true;
      return;
    }
  }
  const size_t max_batches = static_cast<size_t>(std::clamp(options_.send_batch, 1, kMaxSendBatch));
  if (batches_.size() >= max_batches || send_buf_.size() + data.size() > kMaxQueuedBytes) FlushSends();
  SendBatch b;
  b.to = to;
  b.offset = send_buf_.size();
  b.bytes = data.size();
  b.segment = data.size();
  b.count = 1;
  batches_.push_back(b);
  send_buf_.insert(send_buf_.end(), data.begin(), data.end());
}

void UdpSocket::SendOneByOne(const SendBatch& b) {
  for (size_t at = 0; at < b.bytes; at += b.segment) {
    const size_t len = std::min(b.segment, b.bytes - at);
    (void)SendTo(b.to, ByteView(send_buf_.data() + b.offset + at, len));
  }
}

void UdpSocket::FlushSends() {
  if (batches_.empty()) return;
  const size_t n = batches_.size();
  if (!socket_.is_open() || (n == 1 && batches_[0].count == 1)) {
    for (const SendBatch& b : batches_)
      SendOneByOne(b);  // SendTo refuses on a closed socket
    batches_.clear();
    send_buf_.clear();
    return;
  }
  boost::asio::ip::udp::endpoint eps[kMaxSendBatch];
  iovec iov[kMaxSendBatch];
  alignas(cmsghdr) char control[kMaxSendBatch][CMSG_SPACE(sizeof(uint16_t))];
  mmsghdr msgs[kMaxSendBatch];
  for (size_t k = 0; k < n; ++k) {
    const SendBatch& b = batches_[k];
    eps[k] = ToUdpEndpoint(b.to);
    iov[k] = iovec{send_buf_.data() + b.offset, b.bytes};
    msghdr& m = msgs[k].msg_hdr;
    m = msghdr{};
    m.msg_name = eps[k].data();
    m.msg_namelen = static_cast<socklen_t>(eps[k].size());
    m.msg_iov = &iov[k];
    m.msg_iovlen = 1;
    msgs[k].msg_len = 0;
    if (b.count > 1) {
      std::memset(control[k], 0, sizeof control[k]);
      m.msg_control = control[k];
      m.msg_controllen = sizeof control[k];
      cmsghdr* c = CMSG_FIRSTHDR(&m);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      const uint16_t segment = static_cast<uint16_t>(b.segment);
      std::memcpy(CMSG_DATA(c), &segment, sizeof segment);
    }
  }
  const int fd = socket_.native_handle();
  // Each call sends messages [at, n) until one fails; sendmmsg reports that failure only when
  // it is the first, so after a partial send the next call starts at the failed message.
  size_t at = 0;
  for (int guard = 0; at < n && guard < 2 * kMaxSendBatch; ++guard) {
    const int sent = ::sendmmsg(fd, msgs + at, static_cast<unsigned>(n - at), 0);
    ++stats_.send_calls;
    if (sent > 0) {
      if (sent > 1) ++stats_.mmsg_sends;
      bool several = false;
      for (size_t k = at; k < at + static_cast<size_t>(sent); ++k) {
        stats_.datagrams_sent += batches_[k].count;
        stats_.bytes_sent += batches_[k].bytes;
        if (batches_[k].count > 1) ++stats_.gso_sends;
        several = several || !(batches_[k].to == batches_[at].to);
      }
      if (several) ++stats_.multi_destination_sends;
      at += static_cast<size_t>(sent);
      continue;
    }
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      // The send buffer is full: what is left is dropped, as SendTo would drop it.
      for (size_t k = at; k < n; ++k)
        stats_.send_would_block += batches_[k].count;
      break;
    }
    const SendBatch& b = batches_[at];
    if (b.count > 1) {
      // No GSO here (EIO: no checksum offload on the route's device; EINVAL/EOPNOTSUPP: an old
      // kernel), or a segment the route cannot carry: this batch goes one by one, and the
      // socket stops batching by size when the kernel lacks the feature.
      if (err == EIO || err == EINVAL || err == EOPNOTSUPP || err == ENOPROTOOPT) gso_ok_ = false;
      SendOneByOne(b);
    } else {
      ++stats_.send_errors;  // unreachable, no route, ...: this destination only
    }
    ++at;
  }
  batches_.clear();
  send_buf_.clear();
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
