// Stateful fuzz target for peer::Connection. Each input starts from a completed in-memory
// connection (ICE + DTLS + SCTP up, one DCEP channel open; src/peer/test_pair.h), then
// applies an operation stream to side A: datagrams of every RFC 7983 class from the peer's
// address or a stranger, tampering with the next real datagram on the wire, and API calls
// (create/send/close channels, ICE restart, remote parameters, candidates, Close), with
// virtual time advancing between them.
//
// Input: byte 0 picks the DTLS roles and seeds, then a sequence of ops, one opcode byte then its operands (missing
// bytes read as 0). Checked: IsConsistent() after every drain (in Pair::Drain), no crash, and bounded memory: messages
// are not kept, the wire and each side's event log are capped, and libFuzzer's RSS limit catches unbounded growth
// inside the core.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "src/base/check.h"
#include "src/peer/test_pair.h"

using namespace peerlink;
using namespace peerlink::peer;

namespace {

using fuzzing::Input;

// First byte ranges of RFC 7983 section 7.
uint8_t ClassByte(uint8_t cls, uint8_t r) {
  switch (cls % 6) {
    case 0: return r % 4;          // STUN
    case 1: return 16 + r % 4;     // ZRTP
    case 2: return 20 + r % 44;    // DTLS
    case 3: return 64 + r % 16;    // TURN ChannelData
    case 4: return 128 + r % 64;   // RTP/RTCP
    default: return 192 + r % 64;  // nothing
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  // Byte 0: bit 0 = A (ICE controlling) is the DTLS client.
  const bool a_client = size > 0 && (data[0] & 1);
  testing::Pair pair(testing::Pair::DefaultOptions(0), testing::Pair::DefaultOptions(1), a_client,
                     size > 0 ? data[0] >> 1 : 0);
  pair.side_a().keep_messages = false;
  pair.side_b().keep_messages = false;
  auto first = pair.a().CreateDataChannel(pair.now(), "fuzz");
  PL_CHECK(first.ok());
  PL_CHECK(pair.Connect());
  PL_CHECK(pair.RunUntil([&] { return !pair.side_b().incoming.empty(); }, Duration::Seconds(5)));

  std::vector<datachannel::ChannelId> channels = {*first};
  int tamper_next = -1;  // byte index to flip in the next datagram on the wire
  pair.set_filter([&](bool, std::vector<uint8_t>& d) {
    if (tamper_next >= 0 && !d.empty()) {
      d[static_cast<size_t>(tamper_next) % d.size()] ^= 0x5a;
      tamper_next = -1;
    }
    return pair.in_flight() > 10000;  // bounded wire
  });
  const SocketAddress peer_addr = pair.side_b().address;
  const SocketAddress stranger = *SocketAddress::Parse("192.0.2.9:4000");
  Connection& a = pair.a();
  std::vector<datachannel::ChannelId> b_channels = {pair.side_b().incoming[0].id};

  Input in{data, size};
  in.U8();
  for (int ops = 0; !in.empty() && ops < 200; ++ops) {
    const uint8_t op = in.U8();
    switch (op % 14) {
      case 0: {  // a datagram of some RFC 7983 class
        const uint8_t cls = in.U8();
        const uint8_t len = in.U8();
        std::vector<uint8_t> d = in.Bytes(len);
        if (d.empty()) d.push_back(0);
        d[0] = ClassByte(cls, d[0]);
        a.HandleDatagram(pair.now(), pair.side_a().address, (cls & 0x80) ? stranger : peer_addr, d);
        pair.Drain(true);
        break;
      }
      case 1: tamper_next = in.U8(); break;
      case 2: {
        datachannel::ChannelOptions o;
        const uint8_t f = in.U8();
        o.ordered = f & 1;
        if (f & 2) o.max_retransmits = in.U8();
        if (f & 4) o.max_packet_lifetime = Duration::Millis(in.U8());
        if (f & 8) {
          o.negotiated = true;
          o.id = in.U16();
        }
        o.protocol = std::string(in.U8() % 8, 'p');
        auto r = a.CreateDataChannel(pair.now(), std::string(in.U8() % 16, 'l'), o);
        if (r.ok() && channels.size() < 64) channels.push_back(*r);
        pair.Drain(true);
        break;
      }
      case 3: {
        const size_t which = in.U8();
        size_t len = in.U16();
        if (in.U8() & 1) len *= 8;  // up to ~512 KiB: past the remote's limit
        const std::vector<uint8_t> msg(len, static_cast<uint8_t>(which));
        if (!channels.empty()) (void)a.Send(pair.now(), channels[which % channels.size()], msg, which & 1);
        pair.Drain(true);
        break;
      }
      case 4:
        if (!channels.empty()) a.CloseChannel(pair.now(), channels[in.U8() % channels.size()]);
        pair.Drain(true);
        break;
      case 5: pair.Step(); break;
      case 6: pair.RunUntil([] { return false; }, Duration::Millis(in.U16() % 5000)); break;
      case 7:
        a.RestartIce(pair.now());
        pair.Drain(true);
        break;
      case 8: {
        RemoteParams r = pair.ParamsFor(true);
        const uint8_t f = in.U8();
        if (f & 1) r.ice.ufrag = "u" + std::to_string(in.U8());
        if (f & 2) r.dtls_role = dtls::Role::kClient;
        if (f & 4) r.max_message_size = in.U16();
        if (f & 8) r.fingerprints.clear();
        (void)a.SetRemoteParameters(pair.now(), r);
        pair.Drain(true);
        break;
      }
      case 9: {
        ice::Candidate c;
        c.foundation = "f";
        c.priority = in.U16();
        c.address = SocketAddress(IpAddress::V4(10, 0, in.U8(), in.U8()), in.U16());
        c.type = static_cast<ice::CandidateType>(in.U8() % 4);
        (void)a.AddRemoteCandidate(pair.now(), c);
        pair.Drain(true);
        break;
      }
      case 10:
        a.Close(pair.now());
        pair.Drain(true);
        break;
      case 11: (void)a.GetStats(); break;
      case 12: {  // the peer sends (real SCTP-over-DTLS traffic into A), or closes a channel
        const uint8_t f = in.U8();
        const size_t len = in.U16();
        auto& bch = b_channels[f % b_channels.size()];
        if (f & 0x80) {
          pair.b().CloseChannel(pair.now(), bch);
        } else {
          (void)pair.b().Send(pair.now(), bch, std::vector<uint8_t>(len, f), f & 1);
        }
        pair.Drain(false);
        break;
      }
      case 13: {  // the peer opens a channel, or closes the connection
        const uint8_t f = in.U8();
        if (f == 0xff) {
          pair.b().Close(pair.now());
        } else {
          datachannel::ChannelOptions o;
          o.ordered = f & 1;
          if (f & 2) o.max_retransmits = f >> 4;
          auto r = pair.b().CreateDataChannel(pair.now(), "b", o);
          if (r.ok() && b_channels.size() < 64) b_channels.push_back(*r);
        }
        pair.Drain(false);
        break;
      }
    }
    PL_CHECK(a.IsConsistent());
  }
  pair.RunUntil([] { return false; }, Duration::Seconds(2));
  return 0;
}
