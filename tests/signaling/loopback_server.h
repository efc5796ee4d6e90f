// A runtime::SignalingServer on 127.0.0.1 (port 0: ephemeral) with its own io_context thread, for
// tests of the clients that talk to it. Destroying it is abrupt, like a crash: sockets are
// dropped without a close handshake.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "src/runtime/signaling_server.h"

namespace peerlink::signaling::testing {

class LoopbackServer {
 public:
  explicit LoopbackServer(uint16_t port = 0, runtime::SignalingServerOptions o = {}) {
    o.core.max_conns_per_ip = 1000;
    server_ = std::make_unique<runtime::SignalingServer>(io_, std::move(o), nullptr);
    error_ = server_->Start(*SocketAddress::Parse("127.0.0.1:" + std::to_string(port)));
    port_ = server_->local_address().port();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~LoopbackServer() {
    io_.stop();
    thread_.join();
    server_.reset();
  }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/"; }

  boost::asio::io_context io_{1};
  std::unique_ptr<runtime::SignalingServer> server_;
  std::string error_;  // from Start(); empty when listening
  uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace peerlink::signaling::testing
