// Test/fuzz-only: a Client allocated against an in-memory Server, driven by an
// op stream. Shared by client_fuzz.cc and server_fuzz.cc (and by the one-off
// program that captured their seed corpora), so that captured messages carry
// transaction ids, nonces and MESSAGE-INTEGRITY valid for this exact setup.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <vector>

#include "src/base/check.h"
#include "src/turn/client.h"
#include "src/turn/server.h"

namespace peerlink::turn::fuzzing {

// Reads the fuzz input; past the end every read yields zeros.
class OpReader {
 public:
  OpReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool done() const { return pos_ >= size_; }
  uint8_t U8() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint16_t U16() { return static_cast<uint16_t>((U8() << 8) | U8()); }
  ByteView Bytes(size_t n) {
    n = std::min(n, size_ - std::min(pos_, size_));
    ByteView v(data_ + pos_, n);
    pos_ += n;
    return v;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

inline const SocketAddress kServer(IpAddress::V4(203, 0, 113, 1), 3478);
inline const SocketAddress kClient(IpAddress::V4(10, 0, 0, 2), 50000);
inline const SocketAddress kPeers[] = {
    SocketAddress(IpAddress::V4(198, 51, 100, 7), 6000),
    SocketAddress(IpAddress::V4(198, 51, 100, 7), 6001),
    SocketAddress(IpAddress::V4(198, 51, 100, 8), 7000),
    SocketAddress(IpAddress::Loopback(IpFamily::kV6), 8000),
};

struct World {
  explicit World(TransportProtocol transport)
      : server(ServerOpts(), srng, now), client(ClientOpts(transport), crng, now) {
    client.Allocate(now);
    Relay(false);
    (void)client.SendToPeer(now, kPeers[0], AsBytes("seed"));
    Relay(false);
    PL_CHECK(client.state() == State::kAllocated);
  }

  static ServerOptions ServerOpts() {
    ServerOptions o;
    o.realm = "fuzz";
    o.users = {{"alice", "pw"}};
    o.relay_ip = IpAddress::V4(203, 0, 113, 1);
    o.max_allocations = 8;
    o.max_permissions = 16;
    o.max_pending_outputs = 256;
    return o;
  }
  static Options ClientOpts(TransportProtocol transport) {
    Options o;
    o.server = kServer;
    o.transport = transport;
    o.username = "alice";
    o.password = "pw";
    o.max_queued_bytes = 8192;
    return o;
  }

  // Moves messages between the cores until both are quiet. With `drop`,
  // what the client sends this round is lost.
  void Relay(bool drop) {
    for (int guard = 0; guard < 10000; ++guard) {
      bool progress = false;
      for (;;) {
        Output o = client.PollOutput(now);
        if (auto* t = std::get_if<TransmitToServer>(&o)) {
          progress = true;
          Remember(from_client, t->data);
          if (!drop) server.HandleFromClient(now, kClient, t->data, client.options().transport);
        } else if (std::holds_alternative<ClientEvent>(o)) {
          progress = true;
        } else {
          client_deadline = std::get<Deadline>(o).at;
          break;
        }
      }
      for (;;) {
        ServerOutput o = server.PollOutput(now);
        if (auto* t = std::get_if<ToClient>(&o)) {
          progress = true;
          Remember(from_server, t->data);
          if (t->client == kClient) client.HandleServerMessage(now, t->data);
        } else if (auto* r = std::get_if<RelayOpened>(&o)) {
          progress = true;
          if (relayed.size() < 8) relayed.push_back(r->relayed);
        } else if (std::holds_alternative<Deadline>(o)) {
          server_deadline = std::get<Deadline>(o).at;
          break;
        } else {
          progress = true;
        }
      }
      PL_CHECK(client.IsConsistent());
      PL_CHECK(server.IsConsistent());
      if (!progress) return;
    }
    PL_CHECK(false && "relay did not settle");
  }

  // Runs every timer up to now + d, in order.
  void Advance(Duration d) {
    const Instant until = now + d;
    for (int guard = 0; guard < 100000; ++guard) {
      const Instant next = std::min(client_deadline, server_deadline);
      if (next > until) break;
      if (next > now) now = next;
      client.HandleTimeout(now);
      server.HandleTimeout(now);
      Relay(false);
    }
    now = until;
  }

  static void Remember(std::deque<std::vector<uint8_t>>& ring, const std::vector<uint8_t>& m) {
    if (ring.size() == 16) ring.pop_front();
    ring.push_back(m);
  }

  Instant now = Instant::FromNanos(int64_t{1} << 40);
  SeededRng crng{11};
  SeededRng srng{12};
  Server server;
  Client client;
  Instant client_deadline = Instant::Max();
  Instant server_deadline = Instant::Max();
  std::deque<std::vector<uint8_t>> from_client;
  std::deque<std::vector<uint8_t>> from_server;
  std::vector<SocketAddress> relayed;
};

}  // namespace peerlink::turn::fuzzing
