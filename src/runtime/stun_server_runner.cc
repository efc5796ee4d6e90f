#include "src/runtime/stun_server_runner.h"

namespace peerlink::runtime {

StunServerRunner::StunServerRunner(boost::asio::io_context& io, std::string software, LogFn log)
    : io_(io), server_(std::move(software)), log_(std::move(log)) {}

std::error_code StunServerRunner::Listen(const SocketAddress& addr) {
  // A STUN server sees one small request per client; the default buffers are ample.
  UdpSocketOptions options;
  options.receive_buffer = 1024 * 1024;
  options.send_buffer = 1024 * 1024;
  auto socket = std::make_unique<UdpSocket>(io_, options);
  if (auto ec = socket->Bind(addr)) return ec;
  UdpSocket* raw = socket.get();
  raw->StartReceiving([this, raw](const SocketAddress&, const SocketAddress& from, ByteView data) {
    if (auto response = server_.HandleDatagram(from, data)) {
      if (auto ec = raw->SendTo(from, *response)) {
        Log(log_, "stun: cannot answer " + from.ToString() + ": " + ec.message());
      }
    }
  });
  sockets_.push_back(std::move(socket));
  return {};
}

std::vector<SocketAddress> StunServerRunner::local_addresses() const {
  std::vector<SocketAddress> out;
  for (const auto& s : sockets_)
    out.push_back(s->local_address());
  return out;
}

void StunServerRunner::Close() {
  for (auto& s : sockets_)
    s->Close();
}

}  // namespace peerlink::runtime
