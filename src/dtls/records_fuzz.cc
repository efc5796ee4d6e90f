// Fuzz target for the connected data path: two client/server pairs are handshaken once per
// process, one with Options::direct_records (our record layer) and one without (OpenSSL's),
// then each input is a list of datagrams for the server, played on both pairs.
//
//   0x00..0x7f  a raw datagram follows: u16 big-endian length, then that many bytes
//   0x80..0xbf  the client sends a record of (op & 0x3f) * 18 + 1 bytes; the next two bytes give
//               a position and a value XORed into the sealed datagram there (0: untouched)
//   0xc0..0xff  the client sends (op & 3) + 2 records; they are packed into one datagram,
//               which is cut after the next byte * 8 bytes (0: whole)
//
// Invariants: never crash; IsConsistent() after every call; nothing an attacker can send
// without the keys (a mutated or cut record, any raw bytes) ends or fails the connection, and
// every message the server delivers is one the client sent, unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <set>
#include <vector>

#include "src/base/check.h"
#include "src/dtls/endpoint.h"
#include "src/dtls/test_certificate.h"

using namespace peerlink;
using namespace peerlink::dtls;

namespace {

struct Pair {
  explicit Pair(bool direct_records) : direct(direct_records) {}
  bool direct;
  SeededRng rng{5};
  std::shared_ptr<const Certificate> client_cert = TestCertificate(1);
  std::shared_ptr<const Certificate> server_cert = TestCertificate(2);
  std::unique_ptr<Endpoint> client;
  std::unique_ptr<Endpoint> server;
  Instant now = Instant::FromNanos(1000000000);

  // Datagrams out of `ep`; events are dropped except application data, kept in `data`.
  std::vector<std::vector<uint8_t>> Drain(Endpoint& ep, std::vector<std::vector<uint8_t>>* data = nullptr) {
    std::vector<std::vector<uint8_t>> out;
    for (int i = 0; i < 10000; ++i) {
      Output o = ep.PollOutput(now);
      if (auto* t = std::get_if<Transmit>(&o)) {
        PL_CHECK(t->datagram.size() <= 1200);
        out.push_back(std::move(t->datagram));
      } else if (auto* e = std::get_if<Event>(&o)) {
        if (auto* d = std::get_if<ApplicationData>(e); d != nullptr && data != nullptr) data->push_back(d->data);
        if (auto* f = std::get_if<Failed>(e)) std::fprintf(stderr, "endpoint failed: %s\n", f->reason.c_str());
        if (auto* c = std::get_if<Closed>(e)) std::fprintf(stderr, "endpoint closed: %s\n", c->reason.c_str());
      } else {
        return out;
      }
    }
    PL_CHECK(false && "PollOutput never returned a Deadline");
    return out;
  }

  void Connect() {
    Options c;
    c.role = Role::kClient;
    c.expected_remote = {server_cert->GetFingerprint()};
    Options s;
    s.role = Role::kServer;
    s.expected_remote = {client_cert->GetFingerprint()};
    s.idle_buffer_release = Duration::Infinite();
    c.idle_buffer_release = Duration::Infinite();
    c.direct_records = s.direct_records = direct;
    client = std::make_unique<Endpoint>(c, client_cert, rng);
    server = std::make_unique<Endpoint>(s, server_cert, rng);
    client->Start(now);
    for (int round = 0; round < 20; ++round) {
      for (auto& d : Drain(*client))
        server->HandleDatagram(now, d);
      for (auto& d : Drain(*server))
        client->HandleDatagram(now, d);
    }
    PL_CHECK(client->state() == State::kConnected && server->state() == State::kConnected);
    // One record from the client switches the server to sealing its own records too.
    PL_CHECK(client->Send(now, std::vector<uint8_t>(10, 1)) == SendResult::kOk);
    for (auto& d : Drain(*client))
      server->HandleDatagram(now, d);
    (void)Drain(*server);
  }
};

Pair& ConnectedPair(bool direct) {
  static Pair* pairs[2] = {nullptr, nullptr};
  Pair*& pair = pairs[direct ? 1 : 0];
  if (pair == nullptr) {
    pair = new Pair(direct);
    pair->Connect();
  }
  return *pair;
}

void Run(Pair& p, const uint8_t* data, size_t size) {
  std::set<std::vector<uint8_t>> sent;
  std::vector<std::vector<uint8_t>> delivered;
  size_t pos = 0;
  auto byte = [&]() -> uint8_t { return pos < size ? data[pos++] : 0; };
  for (int op_count = 0; pos < size && op_count < 64; ++op_count) {
    const uint8_t op = byte();
    std::vector<uint8_t> datagram;
    if (op < 0x80) {
      const size_t len = (size_t{byte()} << 8) | byte();
      const size_t n = std::min(len, size - pos);
      datagram.assign(data + pos, data + pos + n);
      pos += n;
    } else {
      const int records = op < 0xc0 ? 1 : (op & 3) + 2;
      for (int r = 0; r < records; ++r) {
        std::vector<uint8_t> msg((op < 0xc0 ? (op & 0x3f) * 18 : 40 * (r + 1)) + 1, static_cast<uint8_t>(op_count));
        msg[0] = static_cast<uint8_t>(r);
        PL_CHECK(p.client->Send(p.now, msg) == SendResult::kOk);
        sent.insert(msg);
        for (auto& d : p.Drain(*p.client))
          datagram.insert(datagram.end(), d.begin(), d.end());
      }
      const uint8_t a = byte();
      const uint8_t b = byte();
      if (op < 0xc0) {
        if (b != 0 && !datagram.empty()) datagram[a % datagram.size()] ^= b;
      } else if (a != 0) {
        datagram.resize(std::min(datagram.size(), size_t{a} * 8));
      }
    }
    p.server->HandleDatagram(p.now, datagram);
    PL_CHECK(p.server->IsConsistent());
    for (auto& d : p.Drain(*p.server, &delivered))
      p.client->HandleDatagram(p.now, d);  // whatever the server answers (nothing expected)
    (void)p.Drain(*p.client);
    PL_CHECK(p.server->state() == State::kConnected);
    PL_CHECK(p.client->state() == State::kConnected);
  }
  for (const auto& d : delivered)
    PL_CHECK(sent.count(d) == 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Run(ConnectedPair(true), data, size);
  Run(ConnectedPair(false), data, size);
  return 0;
}
