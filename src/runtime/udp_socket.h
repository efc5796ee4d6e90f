// A UDP socket for the runtime: bind with the options peerlink wants, a
// receive loop that drains the kernel queue into a reused buffer (one per io thread), and
// non-blocking sends.
//
// Threading: all methods and the receive handler run on the thread that runs
// the io_context passed to the constructor. Not thread-safe.
#pragma once

#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>
#include <vector>

#include "src/base/byte_io.h"
#include "src/base/socket_address.h"

namespace peerlink::runtime {

struct UdpSocketOptions {
  // Requested SO_RCVBUF / SO_SNDBUF in bytes; 0 leaves the kernel default.
  // Linux caps requests at net.core.{r,w}mem_max (and reports double the
  // granted value); with CAP_NET_ADMIN the request is forced past the cap
  // (SO_RCVBUFFORCE / SO_SNDBUFFORCE); see granted_receive_buffer().
  int receive_buffer = 4 * 1024 * 1024;
  int send_buffer = 4 * 1024 * 1024;
  // Largest datagram accepted; longer ones are truncated by the kernel and dropped here.
  size_t max_datagram = 65536;
  // Reads (recvmmsg message slots) per readiness wake-up before yielding to other handlers.
  int max_reads_per_wakeup = 64;
  // Reads per recvmmsg call (1: one recvmsg per read). Datagrams from several senders (a
  // UdpMux's peers) cannot be coalesced by GRO, so without it each costs a system call; see
  // bench/udp_recv_bench.cc for what it saves. The slots' buffers are shared per io thread.
  int recv_batch = 16;
  // UDP GRO (Linux >= 5.0): the kernel may hand over several same-size datagrams of one flow
  // in one read; they are split here, so the handler still sees one datagram per call.
  bool gro = true;
  // Destinations per send system call (QueueSend / FlushSends): up to this many GSO batches,
  // each to its own destination, leave in one sendmmsg (1: one sendmsg per batch). Pays where
  // one socket talks to many peers (a UdpMux); see bench/udp_send_bench.cc.
  int send_batch = 32;
};

struct UdpSocketStats {
  uint64_t datagrams_received = 0;
  uint64_t bytes_received = 0;
  uint64_t datagrams_sent = 0;
  uint64_t bytes_sent = 0;
  uint64_t send_would_block = 0;         // dropped: the send buffer was full
  uint64_t send_errors = 0;              // dropped: other errors (unreachable, no route, ...)
  uint64_t truncated = 0;                // received datagrams larger than max_datagram
  uint64_t gso_sends = 0;                // messages sent that carried several datagrams (UDP_SEGMENT)
  uint64_t send_calls = 0;               // send system calls (sendto, sendmsg, sendmmsg)
  uint64_t mmsg_sends = 0;               // sendmmsg calls that sent more than one message
  uint64_t multi_destination_sends = 0;  // ... of which to more than one destination
  uint64_t gro_reads = 0;                // reads that returned several coalesced datagrams
  uint64_t receive_calls = 0;            // recvmsg / recvmmsg calls that returned data
  uint64_t mmsg_reads = 0;               // recvmmsg calls that returned more than one read
};

class UdpSocket {
 public:
  // `local` is the bound address of this socket, `from` the sender; `data`
  // is valid only during the call (it points into the thread's reused buffer).
  using ReceiveHandler = std::function<void(const SocketAddress& local, const SocketAddress& from, ByteView data)>;

  explicit UdpSocket(boost::asio::io_context& io, UdpSocketOptions options = {});
  ~UdpSocket();
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;

  // Opens and binds to `addr` (port 0 = ephemeral). IPv6 sockets get
  // IPV6_V6ONLY so that an IPv6 wildcard bind never shadows IPv4. The socket
  // is non-blocking.
  [[nodiscard]] std::error_code Bind(const SocketAddress& addr);
  // Tries each port in [port_min, port_max] in order (a bounded scan).
  [[nodiscard]] std::error_code BindInRange(const IpAddress& ip, uint16_t port_min, uint16_t port_max);

  // Starts the receive loop; the handler runs for every datagram until Close(). `on_batch_end`,
  // if given, runs after the datagrams of one readiness wake-up were handed over (at least one),
  // so an owner can act once per batch (PeerConnection drains its core there).
  void StartReceiving(ReceiveHandler handler, std::function<void()> on_batch_end = nullptr);
  // Sends one datagram without blocking. Drops it (and counts) if the kernel
  // buffer is full or the send fails; UDP callers already expect loss.
  std::error_code SendTo(const SocketAddress& to, ByteView data);
  // Batched sending: consecutive queued datagrams to one destination form a batch that leaves
  // as one message with UDP_SEGMENT (GSO) when they have the same size (the last may be
  // shorter); a datagram for another destination, of a larger size, or beyond 64 datagrams /
  // 64,000 bytes starts the next batch. Up to `send_batch` batches (256,000 bytes in all) leave
  // together in one sendmmsg; more flushes first. Call FlushSends() when done queueing (the
  // PeerConnection runner does at the end of each drain, a UdpMux once per receive batch).
  // Order is kept per destination. If the kernel refuses GSO, this socket sends each datagram
  // as its own message from then on. Loss semantics are SendTo's: a full send buffer drops
  // (and counts) what could not be sent.
  void QueueSend(const SocketAddress& to, ByteView data);
  void FlushSends();
  bool has_queued_sends() const { return !batches_.empty(); }
  void Close();

  bool is_open() const;
  const SocketAddress& local_address() const { return local_; }
  // SO_RCVBUF / SO_SNDBUF as the kernel reports them after Bind().
  int granted_receive_buffer() const { return granted_rcvbuf_; }
  int granted_send_buffer() const { return granted_sndbuf_; }
  const UdpSocketStats& stats() const { return stats_; }

 private:
  void ArmWait();
  void ReadReady();
  // One read's datagrams (several if GRO coalesced them) to the handler. False: the handler
  // destroyed or closed the socket.
  bool Deliver(const std::weak_ptr<bool>& alive, msghdr& msg, size_t n, const uint8_t* data, bool* delivered);

  boost::asio::ip::udp::socket socket_;
  UdpSocketOptions options_;
  SocketAddress local_;
  int granted_rcvbuf_ = 0;
  int granted_sndbuf_ = 0;
  ReceiveHandler handler_;
  std::function<void()> on_batch_end_;
  // Queued sends: batches_ index into send_buf_, in queueing order.
  struct SendBatch {
    SocketAddress to;
    size_t offset = 0;    // into send_buf_
    size_t bytes = 0;     // all of the batch's datagrams
    size_t segment = 0;   // each datagram's size (the last may be shorter)
    size_t count = 0;     // datagrams
    bool closed = false;  // a shorter datagram ended it
  };
  // One batch as datagrams, one by one (SendTo's accounting).
  void SendOneByOne(const SendBatch& b);
  std::vector<uint8_t> send_buf_;
  std::vector<SendBatch> batches_;
  bool gso_ok_ = true;  // false once the kernel refused UDP_SEGMENT
  UdpSocketStats stats_;
  // Handlers hold a weak reference: a completion queued before the socket
  // was destroyed must not touch it.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace peerlink::runtime
