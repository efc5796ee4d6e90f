// Stateful fuzzer: two associations complete a handshake, then the input is a
// stream of operations on B: packets from the "peer" (well-formed header with
// the right tag and a zero checksum, or raw bytes), API calls, time steps, and
// honest exchanges with A. After every operation the invariants and the
// memory caps must hold.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "src/base/check.h"
#include "src/sctp/packet.h"
#include "src/sctp/test_pair.h"

using namespace peerlink;
using namespace peerlink::sctp;

namespace {

// Inputs of odd length run with plain DATA (no I-DATA), even ones with
// I-DATA, so both reassembly paths are fuzzed without changing how the
// committed corpus is read; likewise lengths 2 and 3 modulo 4 run with the
// BBR congestion control, so forged SACKs reach its model too, and lengths 4-7 modulo 8 with a
// Careful Resume state (a jump after the first RTT sample), so they reach its phases. Lengths
// 8-15 modulo 16 run Rapid Start, and 16-31 modulo 32 run without RACK.
Options FuzzOptions(size_t input_size = 0) {
  Options o;
  o.enable_interleaving = input_size % 2 == 0;
  if ((input_size / 2) % 2 == 1) o.congestion_control = CongestionControl::kBbr;
  if ((input_size / 4) % 2 == 1) o.resume = Options::ResumeState{1 << 20, Duration::Millis(1)};
  o.rapid_start = (input_size / 8) % 2 == 1;
  o.rack = (input_size / 16) % 2 == 0;
  o.max_receive_buffer = 64 * 1024;
  o.max_message_size = 32 * 1024;
  o.max_send_buffer = 256 * 1024;
  o.per_stream_send_buffer = 128 * 1024;
  o.announced_streams = 16;
  return o;
}

using Reader = fuzzing::Input;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  testing::Pair p(FuzzOptions(size), 7);
  VerificationTag b_tag;
  p.set_filter([&](bool from_a, std::vector<uint8_t>& pkt) {
    if (from_a && pkt.size() >= 12 && pkt[12] != 1) {  // not INIT (tag 0)
      b_tag = VerificationTag(uint32_t(pkt[4]) << 24 | uint32_t(pkt[5]) << 16 | uint32_t(pkt[6]) << 8 | pkt[7]);
    }
    return false;
  });
  PL_CHECK(p.Connect());
  Reader r(data, size);
  int ops = 0;
  while (!r.empty() && ops++ < 200) {
    uint8_t op = r.U8();
    switch (op % 10) {
      case 0:
      case 1:
      case 2: {  // a packet from the peer, framed correctly, zero checksum (negotiated)
        size_t len = r.U16() % 1400;
        ByteView body = r.View(len);
        std::vector<uint8_t> pkt(12 + body.size());
        PacketBuilder b(pkt, 5000, 5000, b_tag);
        b.writer().Bytes(body);
        size_t n = b.Finish(true);
        pkt.resize(n);
        p.b().HandlePacket(p.now(), pkt);
        break;
      }
      case 3: {  // raw bytes
        size_t len = r.U16() % 1400;
        ByteView body = r.View(len);
        p.b().HandlePacket(p.now(), body);
        break;
      }
      case 4: {
        uint8_t flags = r.U8();
        size_t len = (r.U16() % (40 * 1024)) + 1;
        SendOptions o;
        o.unordered = flags & 1;
        if (flags & 2) o.max_retransmits = flags >> 4;
        if (flags & 4) o.lifetime = Duration::Millis(flags);
        // Flag 8: built in a pooled block (TakeMessageBuffer), as src/peer does.
        std::vector<uint8_t> payload = (flags & 8) ? p.b().TakeMessageBuffer(len) : std::vector<uint8_t>();
        payload.assign(len, flags);
        (void)p.b().Send(p.now(), StreamId(r.U8() % 20), Ppid(51), std::move(payload), o);
        break;
      }
      case 5: p.Advance(Duration::Millis(r.U16())); break;
      case 6: p.RunFor(Duration::Millis(r.U8() * 4)); break;
      case 7: {
        StreamId s[] = {StreamId(r.U8() % 20)};
        p.b().ResetStreams(p.now(), s);
        break;
      }
      case 8:
        if (r.U8() % 8 == 0) p.b().Shutdown(p.now());
        break;
      case 9:
        if (r.U8() % 16 == 0) p.b().Abort(p.now(), "fuzz");
        break;
    }
    if (op % 10 != 6) {
      p.b().HandleTimeout(p.now());
      p.Drain(p.side_b());
      p.side_b().outbox.clear();
      for (MessageReceived& m : p.side_b().messages)  // handed back, as src/peer does
        p.b().RecycleMessageBuffer(std::move(m.payload));
      p.side_b().messages.clear();
    }
    PL_CHECK(p.a().IsConsistent());
    PL_CHECK(p.b().IsConsistent());
    Metrics m = p.b().metrics();
    PL_CHECK(p.b().total_buffered_amount() <= FuzzOptions().max_send_buffer);
    PL_CHECK(m.local_rwnd <= FuzzOptions().max_receive_buffer);
    PL_CHECK(p.b().spare_message_bytes() <= MessageBufferPool::kMaxBytes);
  }
  return 0;
}
