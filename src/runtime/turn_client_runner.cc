#include "src/runtime/turn_client_runner.h"

#include <boost/asio/post.hpp>

#include "src/runtime/clock.h"

namespace peerlink::runtime {

namespace asio = boost::asio;

TurnClientRunner::TurnClientRunner(asio::io_context& io, TurnClientRunnerOptions options, Rng& rng)
    : io_(io),
      options_(std::move(options)),
      client_(std::make_unique<turn::Client>(options_.client, rng, Now())),
      timer_(io, [this] {
        client_->HandleTimeout(Now());
        Drain();
      }) {}

TurnClientRunner::~TurnClientRunner() = default;

void TurnClientRunner::Start() {
  const SocketAddress& server = options_.client.server;
  const IpAddress local_ip = options_.local_ip
                                 ? *options_.local_ip
                                 : (server.ip().is_v4() ? IpAddress() : IpAddress::V6(std::array<uint8_t, 16>{}));
  if (options_.client.transport == TransportProtocol::kUdp) {
    udp_ = std::make_unique<UdpSocket>(io_);
    if (auto ec = udp_->Bind(SocketAddress(local_ip, 0))) {
      OnTransportError("cannot bind UDP socket: " + ec.message());
      return;
    }
    udp_->StartReceiving([this](const SocketAddress&, const SocketAddress& from, ByteView data) {
      // Only the server talks to this socket; anything else is noise.
      if (from == options_.client.server) OnServerBytes(data);
    });
    client_->Allocate(Now());
    Drain();
    return;
  }
  std::shared_ptr<asio::ssl::context> tls_context;
  if (options_.client.transport == TransportProtocol::kTls) {
    std::string error;
    tls_context = MakeTlsClientContext(options_.tls, &error);
    if (!tls_context) {
      OnTransportError(error);
      return;
    }
  }
  StreamConnection::Callbacks callbacks;
  callbacks.on_frame = [this](ByteView frame) { OnServerBytes(frame); };
  callbacks.on_error = [this](const std::string& reason) { OnTransportError(reason); };
  stream_ = std::make_unique<StreamConnection>(io_, options_.client.transport, std::move(tls_context), options_.tls,
                                               std::move(callbacks), options_.log);
  // The Allocate request is queued in the stream and written once connected;
  // the core's retransmission timer (stream transports: one long timeout)
  // bounds a connect that never completes.
  stream_->Connect(server, options_.local_ip);
  if (stream_->failed()) return;
  client_->Allocate(Now());
  Drain();
}

void TurnClientRunner::CreatePermission(const IpAddress& peer) {
  client_->CreatePermission(Now(), peer);
  Drain();
}

turn::SendStatus TurnClientRunner::SendToPeer(const SocketAddress& peer, ByteView data) {
  const turn::SendStatus status = client_->SendToPeer(Now(), peer, data);
  Drain();
  return status;
}

void TurnClientRunner::Close() {
  client_->Close(Now());
  Drain();
}

void TurnClientRunner::Post(std::function<void(TurnClientRunner&)> fn) {
  std::weak_ptr<bool> alive = alive_;
  asio::post(io_, [this, alive, fn = std::move(fn)] {
    if (alive.expired()) return;
    fn(*this);
    Drain();
  });
}

SocketAddress TurnClientRunner::local_address() const {
  if (udp_) return udp_->local_address();
  if (stream_) return stream_->local_address();
  return {};
}

void TurnClientRunner::OnServerBytes(ByteView data) {
  client_->HandleServerMessage(Now(), data);
  Drain();
}

void TurnClientRunner::OnTransportError(const std::string& reason) {
  Log(options_.log, "turn " + options_.client.server.ToString() + ": " + reason);
  client_->HandleTransportError(Now(), reason);
  Drain();
}

void TurnClientRunner::Drain() {
  // Event handlers may call back into the runner (SendToPeer from on_event);
  // the nested call only marks the drain as needed and the outer loop runs it.
  if (draining_) {
    drain_again_ = true;
    return;
  }
  draining_ = true;
  std::weak_ptr<bool> alive = alive_;
  Instant deadline = Instant::Max();
  // Each pass drains to a Deadline; bounded so that a core bug cannot spin forever.
  for (int pass = 0; pass < 1000; ++pass) {
    drain_again_ = false;
    const Instant now = Now();
    for (;;) {
      turn::Output out = client_->PollOutput(now);
      if (auto* tx = std::get_if<turn::TransmitToServer>(&out)) {
        if (udp_) {
          (void)udp_->SendTo(options_.client.server, tx->data);
        } else if (stream_) {
          stream_->Write(std::move(tx->data));
        }
      } else if (auto* ev = std::get_if<turn::ClientEvent>(&out)) {
        if (on_event_) on_event_(*ev);
        if (alive.expired()) return;  // the handler destroyed the runner
      } else {
        deadline = std::get<turn::Deadline>(out).at;
        break;
      }
    }
    if (!drain_again_) break;
  }
  draining_ = false;
  timer_.Arm(deadline);
}

}  // namespace peerlink::runtime
