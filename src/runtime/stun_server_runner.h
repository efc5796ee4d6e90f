// Runs a stun::BindingServer core on UDP sockets (one per listen address).
//
// Threading: runs on the thread that runs `io`; construct, Listen() and read
// stats on that thread (or before the io_context runs).
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "src/runtime/log.h"
#include "src/runtime/udp_socket.h"
#include "src/stun/binding_server.h"

namespace peerlink::runtime {

class StunServerRunner {
 public:
  StunServerRunner(boost::asio::io_context& io, std::string software = "peerlink", LogFn log = {});

  // Binds one more UDP socket (port 0 = ephemeral) and starts answering on it.
  [[nodiscard]] std::error_code Listen(const SocketAddress& addr);
  std::vector<SocketAddress> local_addresses() const;
  const stun::BindingServerStats& stats() const { return server_.stats(); }
  void Close();

 private:
  boost::asio::io_context& io_;
  stun::BindingServer server_;
  LogFn log_;
  std::vector<std::unique_ptr<UdpSocket>> sockets_;
};

}  // namespace peerlink::runtime
