// One-off generator for the committed seed corpora of the two fuzz targets:
//   datachannel_seed_gen <fuzz/corpus/datachannel_dcep> <fuzz/corpus/datachannel_core>
// DCEP seeds are real encodings (every channel type, ACK) plus a few broken
// ones; core seeds are operation streams in core_fuzz.cc's format that walk
// the main procedures (open, data with every PPID, close, collisions, floods).
#include <cstdio>
#include <string>
#include <vector>

#include "src/datachannel/dcep.h"

using namespace peerlink::datachannel;

namespace {

using Bytes = std::vector<uint8_t>;

bool Write(const std::string& dir, const std::string& name, const Bytes& b) {
  const std::string path = dir + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  const bool ok = std::fwrite(b.data(), 1, b.size(), f) == b.size();
  return std::fclose(f) == 0 && ok;
}

Bytes OpenBytes(ChannelType type, uint32_t param, std::string_view label, std::string_view protocol) {
  DataChannelOpen open;
  open.channel_type = type;
  open.priority = 256;
  open.reliability_parameter = param;
  open.label = label;
  open.protocol = protocol;
  return open.Serialize();
}

// Builders for core_fuzz.cc operations.
struct Ops {
  Bytes b;
  explicit Ops(uint8_t setup) { b.push_back(setup); }
  Ops& U8(uint8_t v) {
    b.push_back(v);
    return *this;
  }
  Ops& U16(uint16_t v) { return U8(static_cast<uint8_t>(v >> 8)).U8(static_cast<uint8_t>(v)); }
  Ops& U32(uint32_t v) { return U16(static_cast<uint16_t>(v >> 16)).U16(static_cast<uint16_t>(v)); }
  Ops& Raw(const Bytes& v) {
    b.insert(b.end(), v.begin(), v.end());
    return *this;
  }
  Ops& Stream(uint8_t small) { return U8(small); }  // < 0x80: stream small % 24
  Ops& Open(uint8_t stream, uint8_t type_index, uint32_t param, uint8_t label_len) {
    return U8(1).Stream(stream).U8(type_index).U16(256).U32(param).U8(label_len).U8(2);
  }
  Ops& RawDcep(uint8_t stream, const Bytes& bytes) {
    return U8(0).Stream(stream).U8(static_cast<uint8_t>(bytes.size())).Raw(bytes);
  }
  // ppid_index >= 9 selects {50,51,52,53,54,56,57,55,0}[index % 9].
  Ops& Data(uint8_t stream, uint8_t ppid_index, const Bytes& payload) {
    return U8(2).Stream(stream).U8(ppid_index).U8(static_cast<uint8_t>(payload.size())).Raw(payload);
  }
  Ops& ResetByPeer(uint8_t stream) { return U8(3).U8(0).Stream(stream); }
  Ops& ResetDone(uint8_t stream) { return U8(4).U8(0).Stream(stream); }
  Ops& Buffered(uint8_t stream, uint16_t amount) { return U8(5).Stream(stream).U16(amount); }
  Ops& Create(uint8_t flags, uint8_t label_len) {
    U8(6).U8(flags);
    if (flags & 2) U16(3);    // max_retransmits
    if (flags & 4) U32(250);  // max_packet_lifetime, ms
    return U16(256).U8(3).U8(label_len);
  }
  Ops& CreateNegotiated(uint8_t id) { return U8(6).U8(1 | 8 | 16).Stream(id).U16(512).U8(0).U8(4); }
  Ops& Send(uint8_t channel, bool binary, const Bytes& payload) {
    return U8(7).U8(channel).U8(binary).U16(static_cast<uint16_t>(payload.size())).Raw(payload);
  }
  Ops& Close(uint8_t channel) { return U8(8).U8(channel); }
  Ops& Threshold(uint8_t channel, uint16_t t) { return U8(9).U8(channel).U16(t); }
  Ops& CompleteReset(bool peer_too) { return U8(11).U8(peer_too); }
  Ops& Connect() { return U8(12); }
  Ops& MaxMessageSize(uint16_t n) { return U8(13).U16(n); }
  Ops& SctpClosed() { return U8(14).U8(0x5a).U8(1); }
  Ops& DrainAll() { return U8(15); }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <dcep corpus dir> <core corpus dir>\n", argv[0]);
    return 2;
  }
  const std::string dcep = argv[1];
  const std::string core = argv[2];
  bool ok = true;

  // --- DCEP codec seeds ---
  const ChannelType types[] = {ChannelType::kReliable,
                               ChannelType::kReliableUnordered,
                               ChannelType::kPartialReliableRexmit,
                               ChannelType::kPartialReliableRexmitUnordered,
                               ChannelType::kPartialReliableTimed,
                               ChannelType::kPartialReliableTimedUnordered};
  for (ChannelType t : types) {
    char name[32];
    std::snprintf(name, sizeof(name), "open_type_%02x", static_cast<unsigned>(t));
    ok &= Write(dcep, name, OpenBytes(t, 3, "chat", "json"));
  }
  ok &= Write(dcep, "open_empty_label", OpenBytes(ChannelType::kReliable, 0, "", ""));
  ok &= Write(dcep, "open_long_label", OpenBytes(ChannelType::kReliable, 0, std::string(300, 'x'), "p"));
  ok &= Write(dcep, "ack", DataChannelAck{}.Serialize());
  Bytes truncated = OpenBytes(ChannelType::kReliable, 0, "label", "");
  truncated.pop_back();
  ok &= Write(dcep, "open_truncated", truncated);
  Bytes padded = OpenBytes(ChannelType::kReliable, 0, "lab", "");
  padded.push_back(0);
  ok &= Write(dcep, "open_padded", padded);
  Bytes bad_type = OpenBytes(ChannelType::kReliable, 0, "x", "");
  bad_type[1] = 0x7f;
  ok &= Write(dcep, "open_bad_channel_type", bad_type);
  ok &= Write(dcep, "unknown_message_type", Bytes{0x04, 0x00});

  // --- Core seeds (setup byte: bit 0 DTLS client, bit 1 connected) ---
  ok &= Write(core, "client_open_send_close",
              Ops(3)
                  .Create(1, 4)
                  .DrainAll()
                  .RawDcep(0, DataChannelAck{}.Serialize())
                  .Send(0, false, {'h', 'i'})
                  .Send(0, true, {})
                  .DrainAll()
                  .Buffered(0, 0)
                  .Close(0)
                  .DrainAll()
                  .CompleteReset(true)
                  .DrainAll()
                  .b);
  ok &= Write(core, "server_incoming_every_ppid",
              Ops(2)
                  .Open(0, 0, 0, 5)
                  .DrainAll()
                  .Data(0, 10, {'s'})   // 51
                  .Data(0, 12, {1, 2})  // 53
                  .Data(0, 14, {0})     // 56
                  .Data(0, 15, {0})     // 57
                  .Data(0, 13, {'a'})   // 54 partial
                  .Data(0, 10, {'b'})   // 51 completes it
                  .Data(0, 11, {1})     // 52 partial
                  .Data(0, 12, {2})     // 53 completes it
                  .Data(0, 16, {9})     // 55: unsupported
                  .DrainAll()
                  .ResetByPeer(0)
                  .DrainAll()
                  .CompleteReset(false)
                  .b);
  ok &= Write(core, "every_channel_type_incoming", [] {
    Ops o(3);
    for (uint8_t i = 0; i < 6; ++i)
      o.Open(static_cast<uint8_t>(2 * i + 1), i, 1000u * i, 3).DrainAll();
    return o.b;
  }());
  ok &= Write(core, "collisions",
              Ops(3)
                  .Create(1, 1)
                  .DrainAll()
                  .Open(0, 0, 0, 2)  // OPEN on our own stream
                  .Open(2, 0, 0, 2)  // odd/even rule broken
                  .RawDcep(5, {0x03, 0x00})
                  .DrainAll()
                  .CompleteReset(true)
                  .CompleteReset(true)
                  .Create(1, 1)
                  .DrainAll()
                  .b);
  ok &= Write(core, "open_flood", [] {
    Ops o(1 | 2);
    for (uint8_t s = 1; s < 48; s += 2)
      o.Open(s, 0, 0, 1);
    return o.DrainAll().b;
  }());
  ok &= Write(core, "negotiated_before_connect",
              Ops(0)
                  .CreateNegotiated(7)
                  .Create(0, 2)
                  .Connect()
                  .DrainAll()
                  .Data(7, 10, {'x'})
                  .Send(0, false, {'y'})
                  .Threshold(0, 1)
                  .Buffered(7, 100)
                  .Buffered(7, 0)
                  .MaxMessageSize(1)
                  .Send(0, true, {1, 2})
                  .DrainAll()
                  .b);
  ok &= Write(core, "sctp_closed",
              Ops(3).Create(1, 1).Create(2 | 1, 2).DrainAll().Send(0, false, {'z'}).SctpClosed().DrainAll().b);
  if (!ok) {
    std::fprintf(stderr, "writing seeds failed\n");
    return 1;
  }
  return 0;
}
