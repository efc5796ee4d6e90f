// Stateful fuzz target for turn::Server: a server holding one allocation made
// by a real turn::Client (permission and channel in place), then an op stream
// of fuzzed client traffic from three client addresses over UDP or TCP,
// mutations and replays of the genuine client's messages, peer traffic to
// relayed addresses and time. After every op IsConsistent() must hold and
// the output queue stays within max_pending_outputs.
//
// Op byte: low 3 bits select the op.
//   0 raw from a client: client index (bit 7: TCP), u16 length (mod 1500), bytes
//   1 mutated genuine client message: ring index, u16 position, xor byte
//   2 replay a genuine client message: ring index
//   3 advance time: u16 * 50 ms
//   4 peer -> relayed address: relayed index, peer index, u8 length
//   5 client connection closed: client index
//   6 drive the genuine client: send to a peer (u8 peer index)
//   7 drive the genuine client: CreatePermission (u8 peer index)
#include <cstddef>
#include <cstdint>
#include <vector>

#include "src/turn/turn_fuzz_world.h"

using namespace peerlink;
using namespace peerlink::turn;

namespace {
const SocketAddress kClients[] = {
    fuzzing::kClient, SocketAddress(IpAddress::V4(10, 0, 0, 3), 50001),
    SocketAddress(IpAddress::V6({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}), 4)};
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzzing::OpReader in(data, size);
  fuzzing::World w(TransportProtocol::kUdp);
  std::vector<uint8_t> buf;
  for (int ops = 0; ops < 256 && !in.done(); ++ops) {
    const uint8_t op = in.U8();
    switch (op & 7) {
      case 0: {
        const uint8_t c = in.U8();
        ByteView m = in.Bytes(in.U16() % 1500);
        w.server.HandleFromClient(w.now, kClients[c % 3], m,
                                  (c & 0x80) ? TransportProtocol::kTcp : TransportProtocol::kUdp);
        break;
      }
      case 1: {
        const uint8_t idx = in.U8();
        const uint16_t pos = in.U16();
        const uint8_t x = in.U8();
        buf = w.from_client[idx % w.from_client.size()];
        if (!buf.empty()) buf[pos % buf.size()] ^= x;
        w.server.HandleFromClient(w.now, fuzzing::kClient, buf);
        break;
      }
      case 2: {
        buf = w.from_client[in.U8() % w.from_client.size()];
        w.server.HandleFromClient(w.now, kClients[in.U8() % 3], buf);
        break;
      }
      case 3: w.Advance(Duration::Millis(int64_t{in.U16()} * 50)); break;
      case 4: {
        const uint8_t r = in.U8();
        const SocketAddress relayed =
            w.relayed.empty() || r >= w.relayed.size() ? SocketAddress(IpAddress::V4(203, 0, 113, 1), r) : w.relayed[r];
        const SocketAddress& peer = fuzzing::kPeers[in.U8() % 4];
        buf.assign(in.U8(), 0x33);
        w.server.HandleFromPeer(w.now, relayed, peer, buf);
        break;
      }
      case 5: {
        const uint8_t c = in.U8();
        w.server.HandleClientClosed(w.now, kClients[c % 3],
                                    (c & 0x80) ? TransportProtocol::kTcp : TransportProtocol::kUdp);
        break;
      }
      case 6: (void)w.client.SendToPeer(w.now, fuzzing::kPeers[in.U8() % 4], AsBytes("fuzz")); break;
      case 7: w.client.CreatePermission(w.now, fuzzing::kPeers[in.U8() % 4].ip()); break;
    }
    PL_CHECK(w.server.IsConsistent());
    w.Relay(false);
    PL_CHECK(w.server.allocation_count() <= w.server.options().max_allocations);
  }
  return 0;
}
