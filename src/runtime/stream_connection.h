// A TCP or TLS connection to a TURN server, carrying STUN messages and
// ChannelData frames (RFC 8656 section 3.1). Splits the received byte stream
// with stun::StreamFramer; writes are queued and sent in order.
//
// TLS policy: TLS 1.2 or newer; the server certificate is verified against
// `ca_file` (or the system trust store when empty) and must match
// `server_name` (a DNS name, checked against the SAN, or an IP literal,
// checked against IP SANs). `server_name` is also sent as SNI unless it is an
// IP literal (RFC 6066 section 3 forbids IP literals in SNI).
// `insecure_skip_verify` disables verification entirely: it exists for tests
// against a self-signed certificate and must never be used in production.
//
// Threading: everything runs on the io_context's thread; not thread-safe.
// Callbacks may destroy the connection.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "src/base/byte_io.h"
#include "src/base/socket_address.h"
#include "src/runtime/log.h"
#include "src/stun/framing.h"

namespace peerlink::runtime {

struct TlsClientConfig {
  std::string server_name;            // SNI and verification name; empty = verify the server's IP address
  std::string ca_file;                // PEM bundle; empty = system default trust store
  bool insecure_skip_verify = false;  // TEST ONLY: accept any certificate
};

// Builds a client TLS context for `config`. Returns nullptr and sets *error
// if the CA file cannot be loaded.
std::shared_ptr<boost::asio::ssl::context> MakeTlsClientContext(const TlsClientConfig& config, std::string* error);

class StreamConnection {
 public:
  struct Callbacks {
    std::function<void()> on_connected;                       // after TCP connect (+ TLS handshake)
    std::function<void(ByteView frame)> on_frame;             // one STUN message or ChannelData frame
    std::function<void(const std::string& reason)> on_error;  // once; the connection is then dead
  };

  // `transport` is kTcp or kTls. `tls_context` is required for kTls.
  StreamConnection(boost::asio::io_context& io,
                   TransportProtocol transport,
                   std::shared_ptr<boost::asio::ssl::context> tls_context,
                   TlsClientConfig tls,
                   Callbacks callbacks,
                   LogFn log = {});
  ~StreamConnection();
  StreamConnection(const StreamConnection&) = delete;
  StreamConnection& operator=(const StreamConnection&) = delete;

  // Connects to `server`, binding the local end to `local_ip` (port 0) when given.
  void Connect(const SocketAddress& server, std::optional<IpAddress> local_ip);
  // Queues one frame (written as-is; the cores pad ChannelData for streams).
  // Frames beyond max_queued_bytes are dropped whole, never split.
  void Write(std::vector<uint8_t> frame);
  void Close();

  bool connected() const { return connected_; }
  bool failed() const { return failed_; }
  const SocketAddress& local_address() const { return local_; }
  const SocketAddress& server() const { return server_; }
  uint64_t dropped_frames() const { return dropped_frames_; }

  static constexpr size_t kMaxQueuedBytes = 1024 * 1024;

 private:
  using TcpSocket = boost::asio::ip::tcp::socket;
  using TlsStream = boost::asio::ssl::stream<TcpSocket>;
  TcpSocket& Lowest();
  void OnTcpConnected();
  void OnReady();
  void ReadMore();
  void WriteNext();
  void Fail(const std::string& reason);

  TransportProtocol transport_;
  std::shared_ptr<boost::asio::ssl::context> tls_context_;
  TlsClientConfig tls_;
  Callbacks callbacks_;
  LogFn log_;
  std::unique_ptr<TcpSocket> tcp_;
  std::unique_ptr<TlsStream> tls_stream_;
  SocketAddress server_;
  SocketAddress local_;
  stun::StreamFramer framer_;
  std::vector<uint8_t> read_buffer_;
  std::deque<std::vector<uint8_t>> queue_;
  size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool connected_ = false;
  bool failed_ = false;
  uint64_t dropped_frames_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace peerlink::runtime
