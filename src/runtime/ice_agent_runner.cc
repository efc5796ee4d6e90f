#include "src/runtime/ice_agent_runner.h"

#include <boost/asio/post.hpp>

#include "src/runtime/clock.h"
#include "src/runtime/interfaces.h"

namespace peerlink::runtime {

namespace asio = boost::asio;

IceAgentRunner::IceAgentRunner(asio::io_context& io, IceAgentRunnerOptions options, Rng& rng)
    : io_(io),
      options_(std::move(options)),
      agent_(std::make_unique<ice::Agent>(options_.agent, rng, Now())),
      timer_(io, [this] {
        agent_->HandleTimeout(Now());
        Drain();
      }) {}

IceAgentRunner::~IceAgentRunner() = default;

bool IceAgentRunner::Start(std::string* error) {
  std::vector<IpAddress> addresses = options_.bind_addresses;
  if (addresses.empty()) {
    InterfaceFilter filter;
    filter.ipv4 = options_.ipv4;
    filter.ipv6 = options_.ipv6;
    filter.include_loopback = options_.include_loopback;
    filter.include_link_local = options_.include_link_local;
    filter.loopback_only = options_.loopback_only;
    for (const auto& itf : EnumerateInterfaces(filter))
      addresses.push_back(itf.address);
    if (options_.loopback_only && addresses.empty()) {
      // getifaddrs found nothing (unusual containers): fall back to the literals.
      if (options_.ipv4) addresses.push_back(IpAddress::Loopback(IpFamily::kV4));
      if (options_.ipv6) addresses.push_back(IpAddress::Loopback(IpFamily::kV6));
    }
  }
  std::string failures;
  for (const IpAddress& ip : addresses) {
    auto socket = std::make_unique<UdpSocket>(io_, options_.socket);
    if (auto ec = socket->BindInRange(ip, options_.port_min, options_.port_max)) {
      Log(options_.log, "ice: cannot bind " + ip.ToString() + ": " + ec.message() + " (skipped)");
      failures += (failures.empty() ? "" : "; ") + ip.ToString() + ": " + ec.message();
      continue;
    }
    const SocketAddress bound = socket->local_address();
    Log(options_.log, "ice: host socket " + bound.ToString() + " (rcvbuf " +
                          std::to_string(socket->granted_receive_buffer()) + ", sndbuf " +
                          std::to_string(socket->granted_send_buffer()) + ")");
    socket->StartReceiving([this](const SocketAddress& local, const SocketAddress& from, ByteView data) {
      OnDatagram(local, from, data);
    });
    sockets_.emplace(bound, std::move(socket));
  }
  if (sockets_.empty()) {
    if (error) {
      *error = addresses.empty() ? "no usable local address (check --loopback / --bind)"
                                 : "could not bind any local address: " + failures;
    }
    return false;
  }
  const Instant now = Now();
  for (const auto& [bound, socket] : sockets_)
    agent_->AddLocalAddress(now, bound);
  agent_->StartGathering(now);
  Drain();
  return true;
}

void IceAgentRunner::Post(Command command) {
  std::weak_ptr<bool> alive = alive_;
  asio::post(io_, [this, alive, command = std::move(command)] {
    if (alive.expired()) return;
    command(*agent_, Now());
    Drain();
  });
}

void IceAgentRunner::Run(const Command& command) {
  command(*agent_, Now());
  Drain();
}

ice::SendResult IceAgentRunner::SendData(ByteView data) {
  const ice::SendResult result = agent_->SendData(Now(), data);
  Drain();
  return result;
}

void IceAgentRunner::Close() {
  agent_->Close(Now());
  Drain();
}

std::vector<SocketAddress> IceAgentRunner::local_addresses() const {
  std::vector<SocketAddress> out;
  for (const auto& [bound, socket] : sockets_)
    out.push_back(bound);
  return out;
}

void IceAgentRunner::OnDatagram(const SocketAddress& local, const SocketAddress& from, ByteView data) {
  const ice::Received r = agent_->HandleDatagram(Now(), local, from, data);
  std::weak_ptr<bool> alive = alive_;
  if (r == ice::Received::kApplicationData && on_data_) {
    on_data_(data);
    if (alive.expired()) return;
  }
  Drain();
}

void IceAgentRunner::SendStream(const ice::Transmit& tx) {
  const StreamKey key(tx.source, tx.destination);
  auto it = streams_.find(key);
  if (it == streams_.end()) {
    std::shared_ptr<asio::ssl::context> context;
    TlsClientConfig tls = options_.tls;
    if (tx.transport == TransportProtocol::kTls) {
      if (!tls_context_) {
        std::string error;
        tls_context_ = MakeTlsClientContext(options_.tls, &error);
        if (!tls_context_) {
          agent_->HandleStreamError(Now(), tx.source, tx.destination, error);
          return;  // the caller's drain loop picks up what the agent emits
        }
      }
      context = tls_context_;
      if (auto name = options_.tls_server_names.find(tx.destination); name != options_.tls_server_names.end()) {
        tls.server_name = name->second;
      }
    }
    StreamConnection::Callbacks callbacks;
    std::weak_ptr<bool> alive = alive_;
    callbacks.on_frame = [this, key](ByteView frame) {
      agent_->HandleStreamFrame(Now(), key.first, key.second, frame);
      Drain();
    };
    callbacks.on_error = [this, key](const std::string& reason) {
      // The connection object is inside its own callback: retire it after the
      // callback returns, then tell the agent.
      if (auto dead = streams_.find(key); dead != streams_.end()) {
        Bury(std::move(dead->second));
        streams_.erase(dead);
      }
      agent_->HandleStreamError(Now(), key.first, key.second, reason);
      Drain();
    };
    auto conn = std::make_unique<StreamConnection>(io_, tx.transport, std::move(context), std::move(tls),
                                                   std::move(callbacks), options_.log);
    StreamConnection* raw = conn.get();
    it = streams_.emplace(key, std::move(conn)).first;
    raw->Connect(tx.destination, tx.source.ip());
    // Connect() can fail synchronously (and has then called on_error, which erased the entry).
    it = streams_.find(key);
    if (it == streams_.end()) return;
  }
  it->second->Write(tx.data);
}

void IceAgentRunner::Bury(std::unique_ptr<StreamConnection> conn) {
  graveyard_.push_back(std::move(conn));
  std::weak_ptr<bool> alive = alive_;
  asio::post(io_, [this, alive] {
    if (!alive.expired()) graveyard_.clear();
  });
}

void IceAgentRunner::Drain() {
  if (draining_) {
    drain_again_ = true;
    return;
  }
  draining_ = true;
  std::weak_ptr<bool> alive = alive_;
  Instant deadline = Instant::Max();
  for (int pass = 0; pass < 1000; ++pass) {
    drain_again_ = false;
    const Instant now = Now();
    for (;;) {
      ice::Output out = agent_->PollOutput(now);
      if (auto* tx = std::get_if<ice::Transmit>(&out)) {
        if (tx->transport == TransportProtocol::kUdp) {
          auto sock = sockets_.find(tx->source);
          if (sock == sockets_.end()) {
            if (unknown_source_drops_++ == 0) {
              Log(options_.log, "ice: transmit from unknown source " + tx->source.ToString() + " dropped");
            }
          } else {
            (void)sock->second->SendTo(tx->destination, tx->data);
          }
        } else {
          SendStream(*tx);
        }
      } else if (auto* ev = std::get_if<ice::AgentEvent>(&out)) {
        if (auto* app = std::get_if<ice::ApplicationDataEvent>(ev)) {
          if (on_data_) on_data_(app->data);
        } else if (on_event_) {
          on_event_(*ev);
        }
        if (alive.expired()) return;
      } else {
        deadline = std::get<ice::Deadline>(out).at;
        break;
      }
    }
    if (!drain_again_) break;
  }
  draining_ = false;
  timer_.Arm(deadline);
}

}  // namespace peerlink::runtime
