// Test-only: a Client and a Server passing messages in memory under virtual
// time, with hooks to drop messages in either direction. TCP/TLS runs go
// through stun::StreamFramer on both sides, as a runtime would.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

#include "src/stun/framing.h"
#include "src/stun/message.h"
#include "src/turn/client.h"
#include "src/turn/server.h"

namespace peerlink::turn::testing {

inline const SocketAddress kServerAddr(IpAddress::V4(203, 0, 113, 1), 3478);
inline const SocketAddress kClientAddr(IpAddress::V4(10, 0, 0, 2), 50000);
inline const SocketAddress kPeerA(IpAddress::V4(198, 51, 100, 7), 6000);
inline const SocketAddress kPeerB(IpAddress::V4(198, 51, 100, 8), 7000);
inline const IpAddress kRelayIp = IpAddress::V4(203, 0, 113, 1);

inline Options ClientOpts(TransportProtocol transport = TransportProtocol::kUdp) {
  Options o;
  o.server = kServerAddr;
  o.transport = transport;
  o.username = "alice";
  o.password = "wonderland";
  return o;
}

inline ServerOptions ServerOpts() {
  ServerOptions o;
  o.realm = "peerlink.test";
  o.users = {{"alice", "wonderland"}, {"bob", "builder"}};
  o.relay_ip = kRelayIp;
  // Long enough that timing tests count only their own requests; the
  // stale-nonce tests shorten it.
  o.nonce_lifetime = Duration::Seconds(86400);
  return o;
}

struct Sent {
  Instant at;
  std::vector<uint8_t> bytes;
};

inline std::optional<stun::Method> MethodOf(const std::vector<uint8_t>& b, stun::StunClass cls) {
  auto m = stun::StunMessage::Parse(b);
  if (!m || m->cls() != cls) return std::nullopt;
  return m->method();
}

class Net {
 public:
  explicit Net(Options copts = ClientOpts(), ServerOptions sopts = ServerOpts(), uint64_t seed = 1)
      : crng_(seed), srng_(seed + 1000), server(std::move(sopts), srng_, now), client(copts, crng_, now) {}

  void Pump() {
    for (int guard = 0; guard < 1000000; ++guard) {
      bool progress = false;
      for (;;) {
        Output o = client.PollOutput(now);
        if (auto* t = std::get_if<TransmitToServer>(&o)) {
          progress = true;
          to_server.push_back(Sent{now, t->data});
          const size_t i = to_server.size() - 1;
          if (drop_to_server && drop_to_server(i, t->data)) continue;
          DeliverToServer(t->data);
        } else if (auto* e = std::get_if<ClientEvent>(&o)) {
          progress = true;
          events.emplace_back(now, std::move(*e));
        } else {
          client_deadline = std::get<Deadline>(o).at;
          break;
        }
      }
      EXPECT_TRUE(client.IsConsistent());
      for (;;) {
        ServerOutput o = server.PollOutput(now);
        if (auto* t = std::get_if<ToClient>(&o)) {
          progress = true;
          to_client.push_back(Sent{now, t->data});
          const size_t i = to_client.size() - 1;
          if (drop_to_client && drop_to_client(i, t->data)) continue;
          DeliverToClient(t->data);
        } else if (auto* p = std::get_if<ToPeer>(&o)) {
          progress = true;
          to_peer.push_back(std::move(*p));
        } else if (auto* r = std::get_if<RelayOpened>(&o)) {
          progress = true;
          opened.push_back(r->relayed);
        } else if (auto* c = std::get_if<RelayClosed>(&o)) {
          progress = true;
          closed.push_back(c->relayed);
        } else {
          server_deadline = std::get<Deadline>(o).at;
          break;
        }
      }
      EXPECT_TRUE(server.IsConsistent());
      if (!progress) return;
    }
    ADD_FAILURE() << "Pump did not settle";
  }

  // Runs timers in order up to `t`.
  void RunUntil(Instant t) {
    Pump();
    for (int guard = 0; guard < 1000000; ++guard) {
      const Instant next = std::min(client_deadline, server_deadline);
      if (next > t) break;
      if (next > now) now = next;
      client.HandleTimeout(now);
      server.HandleTimeout(now);
      Pump();
    }
    now = t;
  }
  void Advance(Duration d) { RunUntil(now + d); }

  void AllocateOk() {
    client.Allocate(now);
    Pump();
    ASSERT_EQ(client.state(), State::kAllocated);
  }

  // Sends from a peer to the client's relayed address.
  void FromPeer(const SocketAddress& peer, ByteView data) {
    server.HandleFromPeer(now, *client.relayed_address(), peer, data);
    Pump();
  }

  template <typename E>
  std::vector<E> Events() const {
    std::vector<E> out;
    for (const auto& [at, e] : events)
      if (const E* x = std::get_if<E>(&e)) out.push_back(*x);
    return out;
  }
  template <typename E>
  std::optional<Instant> FirstEventTime() const {
    for (const auto& [at, e] : events)
      if (std::holds_alternative<E>(e)) return at;
    return std::nullopt;
  }
  // Times at which the client sent requests of `m` (retransmissions included).
  std::vector<Instant> RequestTimes(stun::Method m) const {
    std::vector<Instant> out;
    for (const auto& s : to_server)
      if (MethodOf(s.bytes, stun::StunClass::kRequest) == m) out.push_back(s.at);
    return out;
  }

  Instant now = Instant::FromNanos(int64_t{1000} * 1000 * 1000 * 1000);  // arbitrary epoch

 private:
  SeededRng crng_;
  SeededRng srng_;

 public:
  Server server;
  Client client;
  std::function<bool(size_t, const std::vector<uint8_t>&)> drop_to_server;
  std::function<bool(size_t, const std::vector<uint8_t>&)> drop_to_client;
  std::vector<Sent> to_server;
  std::vector<Sent> to_client;
  std::vector<ToPeer> to_peer;
  std::vector<SocketAddress> opened;
  std::vector<SocketAddress> closed;
  std::vector<std::pair<Instant, ClientEvent>> events;
  Instant client_deadline = Instant::Max();
  Instant server_deadline = Instant::Max();

 private:
  bool stream() const { return client.options().transport != TransportProtocol::kUdp; }
  void DeliverToServer(const std::vector<uint8_t>& bytes) {
    if (!stream()) return server.HandleFromClient(now, kClientAddr, bytes);
    ASSERT_TRUE(c2s_.Append(bytes));
    while (auto f = c2s_.Next()) {
      std::vector<uint8_t> frame(f->begin(), f->end());
      server.HandleFromClient(now, kClientAddr, frame, client.options().transport);
    }
  }
  void DeliverToClient(const std::vector<uint8_t>& bytes) {
    if (!stream()) return client.HandleServerMessage(now, bytes);
    ASSERT_TRUE(s2c_.Append(bytes));
    while (auto f = s2c_.Next()) {
      std::vector<uint8_t> frame(f->begin(), f->end());
      client.HandleServerMessage(now, frame);
    }
  }
  stun::StreamFramer c2s_;
  stun::StreamFramer s2c_;
};

}  // namespace peerlink::turn::testing
