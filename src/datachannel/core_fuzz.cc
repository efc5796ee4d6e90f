// Stateful fuzz target for the data-channel Controller. The input is an
// operation stream applied to one Controller standing for one side of a
// connection: peer traffic (raw and well-formed DCEP, user data with any
// PPID, resets, buffered amounts), the peer layer's draining and reset
// completions, and application calls.
//
// Input format (see seed_gen.cc, which writes the seed corpus):
//   byte 0: bit 0 = DTLS client, bit 1 = connect at start
//   then ops: one opcode byte, then that op's operands (missing bytes read 0).
//
// Invariants: IsConsistent() after every op; channel count within
// max_channels; every SctpSend polled is for a stream with a channel, and
// DCEP sends are ordered and reliable; bounded output per op.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "src/base/check.h"
#include "src/datachannel/controller.h"

using namespace peerlink;
using namespace peerlink::datachannel;

namespace {

using fuzzing::Input;

constexpr size_t kMaxChannels = 16;

// Streams mostly from a small range so ops collide.
StreamId PickStream(Input& in) {
  const uint8_t b = in.U8();
  if (b & 0x80) return StreamId(in.U16());
  return StreamId(b % 24);
}

Ppid PickPpid(Input& in) {
  static constexpr uint32_t kPpids[] = {50, 51, 52, 53, 54, 56, 57, 55, 0};
  const uint8_t b = in.U8();
  if (b >= 9) return static_cast<Ppid>(kPpids[b % 9]);
  return static_cast<Ppid>(in.U32());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in{data, size};
  Config config;
  config.max_channels = kMaxChannels;
  config.max_label_length = 64;
  config.max_protocol_length = 64;
  config.max_buffered_amount = 4096;
  config.max_reassembled_message_size = 512;
  config.max_total_reassembly = 1024;
  Controller c(config);
  const uint8_t setup = in.U8();
  c.SetDtlsRole(setup & 1);
  if (setup & 2) c.HandleSctpConnected(Instant::Zero());
  Instant now = Instant::FromNanos(1'000'000);
  std::vector<ChannelId> known;  // every handle ever returned or announced
  std::deque<StreamId> resets_polled;

  auto drain = [&](size_t max) {
    for (size_t i = 0; i < max; ++i) {
      Output out = c.PollOutput(now);
      if (std::holds_alternative<Deadline>(out)) return;
      if (auto* s = std::get_if<SctpSend>(&out)) {
        PL_CHECK(c.FindByStream(s->stream).has_value());
        if (s->ppid == Ppid::kDcep) PL_CHECK(!s->unordered && !s->max_retransmits && !s->lifetime);
      } else if (auto* r = std::get_if<SctpReset>(&out)) {
        PL_CHECK(!r->streams.empty());
        for (StreamId s : r->streams)
          if (resets_polled.size() < 256) resets_polled.push_back(s);
      } else if (auto* e = std::get_if<Event>(&out)) {
        if (auto* ic = std::get_if<IncomingChannel>(e)) {
          PL_CHECK(ic->label.size() <= config.max_label_length);
          if (known.size() < 4096) known.push_back(ic->id);
        }
      }
    }
  };
  auto pick_channel = [&]() {
    const uint8_t b = in.U8();
    if (known.empty() || b == 0xff) return ChannelId(b);
    return known[b % known.size()];
  };

  for (int op = 0; op < 256 && !in.empty(); ++op) {
    const uint8_t opcode = in.U8() % 16;
    switch (opcode) {
      case 0: {  // raw DCEP bytes
        const StreamId s = PickStream(in);
        c.HandleMessage(now, s, Ppid::kDcep, in.Bytes(in.U8()));
        break;
      }
      case 1: {  // a well-formed OPEN
        const StreamId s = PickStream(in);
        static constexpr uint8_t kTypes[] = {0x00, 0x01, 0x02, 0x80, 0x81, 0x82};
        DataChannelOpen open;
        open.channel_type = static_cast<ChannelType>(kTypes[in.U8() % 6]);
        open.priority = in.U16();
        open.reliability_parameter = in.U32();
        const std::string label(in.U8() % 80, 'l');
        const std::string protocol(in.U8() % 8, 'p');
        open.label = label;
        open.protocol = protocol;
        c.HandleMessage(now, s, Ppid::kDcep, open.Serialize());
        break;
      }
      case 2: {  // user data with some PPID
        const StreamId s = PickStream(in);
        const Ppid ppid = PickPpid(in);
        c.HandleMessage(now, s, ppid, in.Bytes(in.U8()));
        break;
      }
      case 3:
      case 4: {  // 3: peer resets, 4: our resets done, for arbitrary streams
        const bool by_peer = opcode == 3;
        std::vector<StreamId> streams(1 + in.U8() % 3);
        for (StreamId& s : streams)
          s = PickStream(in);
        if (by_peer)
          c.HandleStreamsResetByPeer(now, streams);
        else
          c.HandleStreamsResetDone(now, streams);
        break;
      }
      case 5: c.HandleBufferedAmount(now, PickStream(in), in.U16()); break;
      case 6: {  // CreateChannel with arbitrary options
        ChannelOptions o;
        const uint8_t f = in.U8();
        o.ordered = f & 1;
        if (f & 2) o.max_retransmits = in.U16();
        if (f & 4) o.max_packet_lifetime = Duration::Millis(static_cast<int32_t>(in.U32()));
        o.negotiated = f & 8;
        if (f & 16) o.id = PickStream(in).value();
        o.priority = PriorityFromWire(in.U16());
        o.protocol.assign(in.U8() % 70, 'p');
        const std::string label(in.U8() % 70, 'l');
        auto r = c.CreateChannel(now, label, o);
        if (r.ok() && known.size() < 4096) known.push_back(*r);
        break;
      }
      case 7: {  // Send
        const ChannelId id = pick_channel();
        const bool binary = in.U8() & 1;
        const std::vector<uint8_t> payload = in.Bytes(in.U16() % 2048);
        const SendStatus st = c.Send(now, id, payload, binary);
        if (st == SendStatus::kOk) PL_CHECK(c.ready_state(id) == ReadyState::kOpen);
        break;
      }
      case 8: c.Close(now, pick_channel()); break;
      case 9: (void)c.SetBufferedAmountLowThreshold(pick_channel(), in.U16()); break;
      case 10: drain(in.U8() % 8); break;
      case 11: {  // the peer layer completes the oldest reset it handed to SCTP
        if (resets_polled.empty()) break;
        const StreamId s[] = {resets_polled.front()};
        resets_polled.pop_front();
        if (in.U8() & 1) c.HandleStreamsResetByPeer(now, s);
        c.HandleStreamsResetDone(now, s);
        break;
      }
      case 12: c.HandleSctpConnected(now); break;
      case 13: c.SetMaxMessageSize(in.U16()); break;
      case 14:
        if (in.U8() == 0x5a) c.HandleSctpClosed(now, in.U8() & 1 ? "fuzz" : "");
        break;
      case 15: drain(1024); break;
    }
    PL_CHECK(c.IsConsistent());
    PL_CHECK(c.channel_count() <= kMaxChannels);
    now += Duration::Millis(1);
  }
  // Everything queued comes out, and only a bounded amount of it.
  size_t outputs = 0;
  while (!std::holds_alternative<Deadline>(c.PollOutput(now)))
    PL_CHECK(++outputs < 100000);
  PL_CHECK(c.IsConsistent());
  return 0;
}
