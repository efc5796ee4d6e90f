// Stateful fuzz target for the DTLS endpoint. Input:
//
//   byte 0: bit 0 = role (0 server, 1 client; a client has already sent its ClientHello)
//   then operations until the input ends:
//     0x00..0x7f  a datagram follows: u16 big-endian length, then that many bytes
//     0x80        HandleTimeout(now + 2 s)
//     0x81        Send(64 bytes)
//     0x82        Close
//     other       advance `now` by 10 ms
//
// fuzz/corpus/dtls_endpoint/ holds real flights captured by dtls_corpus_gen. Invariants:
// never crash, IsConsistent() after every call, every Transmit fits the MTU.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "src/base/check.h"
#include "src/dtls/endpoint.h"
#include "src/dtls/test_certificate.h"

using namespace peerlink;
using namespace peerlink::dtls;

namespace {

void Drain(Endpoint& ep, Instant now, size_t mtu) {
  for (int i = 0; i < 1000; ++i) {
    Output o = ep.PollOutput(now);
    if (const auto* t = std::get_if<Transmit>(&o)) {
      PL_CHECK(t->datagram.size() <= mtu);
    } else if (std::holds_alternative<Deadline>(o)) {
      return;
    }
  }
  PL_CHECK(false && "PollOutput never returned a Deadline");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Key generation is slow; one certificate pair for the whole run.
  static const std::shared_ptr<const Certificate> kLocal = TestCertificate(1);
  static const std::shared_ptr<const Certificate> kRemote = TestCertificate(2);
  if (size == 0) return 0;
  size_t pos = 0;
  Options opts;
  opts.role = (data[pos++] & 1) ? Role::kClient : Role::kServer;
  opts.expected_remote = {kRemote->GetFingerprint()};
  opts.initial_retransmit_timeout = Duration::Millis(1);
  SeededRng rng(3);
  Endpoint ep(opts, kLocal, rng);
  Instant now = Instant::FromNanos(1000000000);
  ep.Start(now);
  Drain(ep, now, opts.mtu);
  for (int ops = 0; pos < size && ops < 256; ++ops) {
    const uint8_t op = data[pos++];
    if (op < 0x80) {
      if (pos + 2 > size) break;
      size_t len = (size_t{data[pos]} << 8) | data[pos + 1];
      pos += 2;
      if (len > size - pos) len = size - pos;
      ep.HandleDatagram(now, ByteView(data + pos, len));
      pos += len;
    } else if (op == 0x80) {
      now += Duration::Seconds(2);
      ep.HandleTimeout(now);
    } else if (op == 0x81) {
      const std::vector<uint8_t> msg(64, 0x42);
      (void)ep.Send(now, msg);
    } else if (op == 0x82) {
      ep.Close(now);
    } else {
      now += Duration::Millis(10);
    }
    PL_CHECK(ep.IsConsistent());
    Drain(ep, now, opts.mtu);
  }
  return 0;
}
