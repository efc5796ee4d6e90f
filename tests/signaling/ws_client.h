// A small Beast WebSocket client for the signaling tests and bench: its own
// io_context, every wait bounded by a timeout, received messages queued.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>

namespace peerlink::signaling::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

template <class Stream>
class BasicWsClient {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;
  using Ms = std::chrono::milliseconds;

  explicit BasicWsClient(asio::ssl::context* tls = nullptr) {
    if constexpr (kTls) {
      ws_.emplace(io_, *tls);
    } else {
      (void)tls;
      ws_.emplace(io_);
    }
  }

  // Connects to 127.0.0.1:port and upgrades at `target`, offering `protocol` if non-empty.
  bool Connect(uint16_t port,
               const std::string& target = "/",
               const std::string& protocol = "",
               Ms timeout = Ms(3000)) {
    auto op = std::make_shared<Op>();
    auto& lowest = beast::get_lowest_layer(*ws_);
    lowest.expires_after(timeout);
    lowest.async_connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                         [this, port, target, protocol, op](beast::error_code ec) {
                           if (ec) return op->Complete(ec);
                           Handshake(port, target, protocol, op);
                         });
    RunUntil(*op, timeout + Ms(500));
    error_ = op->result;
    if (!op->done || op->result) return false;
    beast::get_lowest_layer(*ws_).expires_never();
    ReadLoop();
    return true;
  }

  // False if the write failed or did not complete within `timeout`. A write still in flight then
  // completes later into its own Op (never into this frame's locals).
  bool Send(const std::string& text, Ms timeout = Ms(3000)) {
    ws_->text(true);
    return Write(std::make_shared<const std::string>(text), timeout);
  }
  bool SendBinary(const std::string& bytes, Ms timeout = Ms(3000)) {
    ws_->binary(true);
    return Write(std::make_shared<const std::string>(bytes), timeout);
  }

  // The next message, or nullopt after `timeout` or when the connection ended.
  std::optional<std::string> Read(Ms timeout = Ms(3000)) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (inbox_.empty() && !ended_ && std::chrono::steady_clock::now() < until) {
      io_.restart();
      io_.run_one_until(until);
    }
    if (inbox_.empty()) return std::nullopt;
    std::string m = std::move(inbox_.front());
    inbox_.pop_front();
    return m;
  }
  // Waits for the connection to end (server close or error); true if it did.
  bool WaitClosed(Ms timeout = Ms(3000)) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (!ended_ && std::chrono::steady_clock::now() < until) {
      io_.restart();
      io_.run_one_until(until);
      inbox_.clear();
    }
    return ended_;
  }
  void Poll() {
    io_.restart();
    io_.poll();
  }

  bool ended() const { return ended_; }
  // The close frame the server sent (code 0 if none).
  uint16_t close_code() const { return static_cast<uint16_t>(ws_->reason().code); }
  std::string close_reason() const { return std::string(ws_->reason().reason.c_str()); }
  const beast::error_code& error() const { return error_; }
  std::string selected_protocol() const { return selected_protocol_; }

 private:
  // The state of one operation, shared with its completion handler: a handler that completes
  // after the caller stopped waiting writes here, not into a dead stack frame.
  struct Op {
    bool done = false;
    beast::error_code result;
    void Complete(beast::error_code ec) {
      result = ec;
      done = true;
    }
  };

  bool Write(std::shared_ptr<const std::string> bytes, Ms timeout) {
    auto op = std::make_shared<Op>();
    ws_->async_write(asio::buffer(*bytes), [op, bytes](beast::error_code ec, size_t) { op->Complete(ec); });
    RunUntil(*op, timeout);
    return op->done && !op->result;
  }

  void Handshake(uint16_t port, const std::string& target, const std::string& protocol, std::shared_ptr<Op> op) {
    if (!protocol.empty()) {
      ws_->set_option(websocket::stream_base::decorator(
          [protocol](websocket::request_type& req) { req.set(beast::http::field::sec_websocket_protocol, protocol); }));
    }
    auto ws_handshake = [this, port, target, op] {
      ws_->async_handshake(res_, "127.0.0.1:" + std::to_string(port), target, [this, op](beast::error_code ec) {
        if (!ec) {
          auto it = res_.find(beast::http::field::sec_websocket_protocol);
          if (it != res_.end()) selected_protocol_ = std::string(it->value());
        }
        op->Complete(ec);
      });
    };
    if constexpr (kTls) {
      ws_->next_layer().async_handshake(asio::ssl::stream_base::client, [ws_handshake, op](beast::error_code ec) {
        if (ec) return op->Complete(ec);
        ws_handshake();
      });
    } else {
      ws_handshake();
    }
  }
  void ReadLoop() {
    ws_->async_read(buf_, [this](beast::error_code ec, size_t) {
      if (ec) {
        ended_ = true;
        error_ = ec;
        return;
      }
      inbox_.push_back(beast::buffers_to_string(buf_.data()));
      buf_.consume(buf_.size());
      ReadLoop();
    });
  }
  void RunUntil(const Op& op, Ms timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (!op.done && std::chrono::steady_clock::now() < until) {
      io_.restart();
      io_.run_one_until(until);
    }
  }

  asio::io_context io_;
  std::optional<websocket::stream<Stream>> ws_;
  websocket::response_type res_;
  beast::flat_buffer buf_;
  std::deque<std::string> inbox_;
  bool ended_ = false;
  beast::error_code error_;
  std::string selected_protocol_;
};

using WsClient = BasicWsClient<beast::tcp_stream>;
using WssClient = BasicWsClient<beast::ssl_stream<beast::tcp_stream>>;

}  // namespace peerlink::signaling::testing
