#include "src/runtime/stream_connection.h"

#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/write.hpp>

#include "src/runtime/endpoint.h"

namespace peerlink::runtime {

namespace asio = boost::asio;

std::shared_ptr<asio::ssl::context> MakeTlsClientContext(const TlsClientConfig& config, std::string* error) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  boost::system::error_code ec;
  if (config.insecure_skip_verify) {
    ctx->set_verify_mode(asio::ssl::verify_none, ec);
    return ctx;
  }
  ctx->set_verify_mode(asio::ssl::verify_peer, ec);
  if (!config.ca_file.empty()) {
    ctx->load_verify_file(config.ca_file, ec);
  } else {
    ctx->set_default_verify_paths(ec);
  }
  if (ec) {
    if (error)
      *error = "cannot load CA certificates" + (config.ca_file.empty() ? "" : " from " + config.ca_file) + ": " +
               ec.message();
    return nullptr;
  }
  return ctx;
}

StreamConnection::StreamConnection(asio::io_context& io,
                                   TransportProtocol transport,
                                   std::shared_ptr<asio::ssl::context> tls_context,
                                   TlsClientConfig tls,
                                   Callbacks callbacks,
                                   LogFn log)
    : transport_(transport),
      tls_context_(std::move(tls_context)),
      tls_(std::move(tls)),
      callbacks_(std::move(callbacks)),
      log_(std::move(log)),
      read_buffer_(16384) {
  if (transport_ == TransportProtocol::kTls && tls_context_) {
    tls_stream_ = std::make_unique<TlsStream>(io, *tls_context_);
  } else {
    tcp_ = std::make_unique<TcpSocket>(io);
  }
}

StreamConnection::~StreamConnection() {
  Close();
}

StreamConnection::TcpSocket& StreamConnection::Lowest() {
  return tls_stream_ ? tls_stream_->next_layer() : *tcp_;
}

void StreamConnection::Connect(const SocketAddress& server, std::optional<IpAddress> local_ip) {
  server_ = server;
  if (transport_ == TransportProtocol::kTls && !tls_stream_) {
    Fail("TLS requested without a TLS context");
    return;
  }
  if (transport_ == TransportProtocol::kUdp) {
    Fail("StreamConnection needs TCP or TLS");
    return;
  }
  TcpSocket& sock = Lowest();
  const auto ep = ToTcpEndpoint(server);
  boost::system::error_code ec;
  sock.open(ep.protocol(), ec);
  if (!ec) sock.set_option(asio::ip::tcp::no_delay(true), ec);
  if (!ec && local_ip) sock.bind(asio::ip::tcp::endpoint(ToAsio(*local_ip), 0), ec);
  if (ec) {
    Fail("cannot open TCP socket to " + server.ToString() + ": " + ec.message());
    return;
  }
  std::weak_ptr<bool> alive = alive_;
  sock.async_connect(ep, [this, alive](const boost::system::error_code& ec) {
    if (alive.expired() || ec == asio::error::operation_aborted) return;
    if (ec) {
      Fail("TCP connect to " + server_.ToString() + " failed: " + ec.message());
      return;
    }
    OnTcpConnected();
  });
}

void StreamConnection::OnTcpConnected() {
  boost::system::error_code ec;
  local_ = FromEndpoint(Lowest().local_endpoint(ec));
  if (!tls_stream_) {
    OnReady();
    return;
  }
  const std::string name = tls_.server_name.empty() ? server_.ip().ToString() : tls_.server_name;
  SSL* ssl = tls_stream_->native_handle();
  if (!IpAddress::Parse(name)) SSL_set_tlsext_host_name(ssl, name.c_str());
  if (!tls_.insecure_skip_verify) tls_stream_->set_verify_callback(asio::ssl::host_name_verification(name), ec);
  std::weak_ptr<bool> alive = alive_;
  tls_stream_->async_handshake(asio::ssl::stream_base::client, [this, alive](const boost::system::error_code& ec) {
    if (alive.expired() || ec == asio::error::operation_aborted) return;
    if (ec) {
      std::string detail = ec.message();
      const long verify = SSL_get_verify_result(tls_stream_->native_handle());
      if (verify != X509_V_OK) detail += std::string(" (certificate: ") + X509_verify_cert_error_string(verify) + ")";
      Fail("TLS handshake with " + server_.ToString() + " failed: " + detail);
      return;
    }
    OnReady();
  });
}

void StreamConnection::OnReady() {
  connected_ = true;
  Log(log_, std::string(ToString(transport_)) + " connection " + local_.ToString() + " -> " + server_.ToString() +
                " established");
  std::weak_ptr<bool> alive = alive_;
  if (callbacks_.on_connected) callbacks_.on_connected();
  if (alive.expired() || failed_) return;
  ReadMore();
  WriteNext();
}

void StreamConnection::ReadMore() {
  std::weak_ptr<bool> alive = alive_;
  auto on_read = [this, alive](const boost::system::error_code& ec, size_t n) {
    if (alive.expired() || ec == asio::error::operation_aborted || failed_) return;
    if (ec) {
      Fail(ec == asio::error::eof ? "server closed the connection" : "read failed: " + ec.message());
      return;
    }
    if (!framer_.Append(ByteView(read_buffer_.data(), n))) {
      Fail("unframeable bytes from the server (neither STUN nor ChannelData)");
      return;
    }
    while (auto frame = framer_.Next()) {
      if (callbacks_.on_frame) callbacks_.on_frame(*frame);
      if (alive.expired() || failed_) return;
    }
    ReadMore();
  };
  if (tls_stream_) {
    tls_stream_->async_read_some(asio::buffer(read_buffer_), on_read);
  } else {
    tcp_->async_read_some(asio::buffer(read_buffer_), on_read);
  }
}

void StreamConnection::Write(std::vector<uint8_t> frame) {
  if (failed_) return;
  if (queued_bytes_ + frame.size() > kMaxQueuedBytes) {
    ++dropped_frames_;
    return;
  }
  queued_bytes_ += frame.size();
  queue_.push_back(std::move(frame));
  if (connected_) WriteNext();
}

void StreamConnection::WriteNext() {
  if (writing_ || queue_.empty() || failed_) return;
  writing_ = true;
  std::weak_ptr<bool> alive = alive_;
  auto on_written = [this, alive](const boost::system::error_code& ec, size_t) {
    if (alive.expired() || ec == asio::error::operation_aborted) return;
    writing_ = false;
    if (ec) {
      Fail("write failed: " + ec.message());
      return;
    }
    queued_bytes_ -= queue_.front().size();
    queue_.pop_front();
    WriteNext();
  };
  auto buf = asio::buffer(queue_.front());
  if (tls_stream_) {
    asio::async_write(*tls_stream_, buf, on_written);
  } else {
    asio::async_write(*tcp_, buf, on_written);
  }
}

void StreamConnection::Fail(const std::string& reason) {
  if (failed_) return;
  failed_ = true;
  connected_ = false;
  Log(log_, "stream to " + server_.ToString() + ": " + reason);
  boost::system::error_code ignored;
  Lowest().close(ignored);
  if (callbacks_.on_error) callbacks_.on_error(reason);
}

void StreamConnection::Close() {
  connected_ = false;
  boost::system::error_code ignored;
  // No TLS close_notify: the TURN layer has already deallocated, and waiting
  // for the peer's close_notify would tie shutdown to the server's behaviour.
  if (Lowest().is_open()) Lowest().close(ignored);
}

}  // namespace peerlink::runtime
