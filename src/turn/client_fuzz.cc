// Stateful fuzz target for turn::Client: a client allocated against an
// in-memory turn::Server (permission and channel to one peer in place), then
// an op stream (see below). Fuzzed bytes reach the client as server messages,
// raw or as mutations of genuine ones. After every op both cores must pass
// IsConsistent(), which also asserts the queue and event-memory bounds.
//
// Op byte: low 3 bits select the op, bit 7 drops the client's transmits.
//   0 raw server message: u16 length (mod 1500), bytes
//   1 mutated server message: ring index, u16 position, xor byte
//   2 send to peer: peer index, u16 length (mod 1200)
//   3 advance time: u16 * 50 ms, running every timer in order
//   4 peer -> relay -> client: peer index, u8 length
//   5 CreatePermission: peer index
//   6 replay a captured server message verbatim: ring index
//   7 lifecycle: Close, transport error or nothing
#include <cstddef>
#include <cstdint>
#include <vector>

#include "src/turn/turn_fuzz_world.h"

using namespace peerlink;
using namespace peerlink::turn;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzzing::OpReader in(data, size);
  const auto transport = (in.U8() & 1) ? TransportProtocol::kTcp : TransportProtocol::kUdp;
  fuzzing::World w(transport);
  std::vector<uint8_t> buf;
  for (int ops = 0; ops < 256 && !in.done(); ++ops) {
    const uint8_t op = in.U8();
    const bool drop = op & 0x80;
    switch (op & 7) {
      case 0: {
        ByteView m = in.Bytes(in.U16() % 1500);
        w.client.HandleServerMessage(w.now, m);
        break;
      }
      case 1: {
        const uint8_t idx = in.U8();
        const uint16_t pos = in.U16();
        const uint8_t x = in.U8();
        if (w.from_server.empty()) break;
        buf = w.from_server[idx % w.from_server.size()];
        if (!buf.empty()) buf[pos % buf.size()] ^= x;
        w.client.HandleServerMessage(w.now, buf);
        break;
      }
      case 2: {
        const SocketAddress& peer = fuzzing::kPeers[in.U8() % 4];
        buf.assign(in.U16() % 1200, 0x5A);
        (void)w.client.SendToPeer(w.now, peer, buf);
        break;
      }
      case 3: w.Advance(Duration::Millis(int64_t{in.U16()} * 50)); break;
      case 4: {
        const SocketAddress& peer = fuzzing::kPeers[in.U8() % 4];
        buf.assign(in.U8(), 0xA5);
        if (auto r = w.client.relayed_address()) w.server.HandleFromPeer(w.now, *r, peer, buf);
        break;
      }
      case 5: w.client.CreatePermission(w.now, fuzzing::kPeers[in.U8() % 4].ip()); break;
      case 6: {
        const uint8_t idx = in.U8();
        if (w.from_server.empty()) break;
        buf = w.from_server[idx % w.from_server.size()];
        w.client.HandleServerMessage(w.now, buf);
        break;
      }
      case 7: {
        const uint8_t what = in.U8();
        if (what == 1) w.client.Close(w.now);
        if (what == 2) w.client.HandleTransportError(w.now, "fuzz");
        break;
      }
    }
    w.Relay(drop);
    PL_CHECK(w.client.IsConsistent());
    // Nothing is left undrained after Relay, so the transmit queue is empty.
    auto out = w.client.PollOutput(w.now);
    PL_CHECK(std::holds_alternative<Deadline>(out));
  }
  return 0;
}
