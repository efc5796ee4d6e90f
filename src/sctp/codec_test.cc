// Packet-level codec tests: CRC32c vectors, every chunk and parameter type
// round-tripped, plus truncated, padded and oversized inputs.
#include <gtest/gtest.h>

#include <vector>

#include "src/sctp/assoc/cookie.h"
#include "src/sctp/control_chunks.h"
#include "src/sctp/crc32c.h"
#include "src/sctp/data_chunks.h"
#include "src/sctp/packet.h"
#include "src/sctp/parameters.h"

namespace peerlink::sctp {
namespace {

// RFC 3720 appendix B.4 (iSCSI) CRC32c vectors, plus the common check value.
struct CrcVector {
  std::vector<uint8_t> data;
  uint32_t crc;
};
std::vector<CrcVector> Vectors() {
  std::vector<CrcVector> v;
  v.push_back({std::vector<uint8_t>(32, 0x00), 0x8A9136AA});
  v.push_back({std::vector<uint8_t>(32, 0xFF), 0x62A8AB43});
  std::vector<uint8_t> inc(32), dec(32);
  for (int i = 0; i < 32; ++i) {
    inc[i] = static_cast<uint8_t>(i);
    dec[i] = static_cast<uint8_t>(31 - i);
  }
  v.push_back({inc, 0x46DD794E});
  v.push_back({dec, 0x113FDB5C});
  std::string check = "123456789";
  v.push_back({std::vector<uint8_t>(check.begin(), check.end()), 0xE3069283});
  v.push_back({{}, 0x00000000});
  return v;
}

TEST(Crc32c, Rfc3720VectorsSoftware) {
  for (const auto& v : Vectors())
    EXPECT_EQ(Crc32cSoftware(v.data), v.crc);
}

TEST(Crc32c, Rfc3720VectorsHardware) {
  if (!Crc32cHardwareAvailable()) GTEST_SKIP() << "no SSE4.2 on this CPU";
  for (const auto& v : Vectors())
    EXPECT_EQ(Crc32cHardware(v.data), v.crc);
}

TEST(Crc32c, ImplementationsAgreeOnAllLengthsAndIncrementally) {
  // Up to 2000 bytes: the hardware path works in 384-byte three-lane rounds.
  std::vector<uint8_t> data(2000);
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<uint8_t>(i * 37 + 11 + (i >> 8) * 5);
  for (size_t n = 0; n <= data.size(); ++n) {
    ByteView b(data.data(), n);
    uint32_t sw = Crc32cSoftware(b);
    EXPECT_EQ(Crc32c(b), sw) << n;
    size_t half = n / 3;
    EXPECT_EQ(Crc32cFinish(Crc32cExtend(Crc32cExtend(kCrc32cInit, b.first(half)), b.subspan(half))), sw) << n;
  }
}

// Builds a one-chunk packet with a correct checksum.
template <typename Fn>
std::vector<uint8_t> Packet(Fn write_chunks, bool zero_checksum = false) {
  std::vector<uint8_t> buf(2000);
  PacketBuilder b(buf, 5000, 5000, VerificationTag(0x11223344));
  write_chunks(b.writer());
  size_t n = b.Finish(zero_checksum);
  buf.resize(n);
  return buf;
}

ChunkView OnlyChunk(const std::vector<uint8_t>& p) {
  auto v = PacketView::Parse(p, false);
  EXPECT_TRUE(v.ok());
  return v->first_chunk();
}

TEST(Packet, ChecksumStoredLittleEndianAndVerified) {
  auto p = Packet([](ByteWriter& w) { EmptyChunk{ChunkType::kCookieAck}.SerializeTo(w); });
  ASSERT_EQ(p.size(), 16u);
  std::vector<uint8_t> zeroed = p;
  zeroed[8] = zeroed[9] = zeroed[10] = zeroed[11] = 0;
  uint32_t crc = Crc32c(zeroed);
  EXPECT_EQ(p[8], crc & 0xFF);
  EXPECT_EQ(p[11], crc >> 24);
  EXPECT_TRUE(PacketView::Parse(p, false).ok());
  p[15] ^= 1;  // flip a bit in the chunk
  auto bad = PacketView::Parse(p, false);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ParseErrorCode::kBadChecksum);
}

TEST(Packet, ZeroChecksumAcceptedOnlyWhenAllowed) {
  auto p = Packet([](ByteWriter& w) { EmptyChunk{ChunkType::kCookieAck}.SerializeTo(w); }, true);
  EXPECT_EQ(p[8] | p[9] | p[10] | p[11], 0);
  EXPECT_TRUE(PacketView::Parse(p, true).ok());
  EXPECT_FALSE(PacketView::Parse(p, false).ok());
}

TEST(Packet, FramingErrors) {
  auto p = Packet([](ByteWriter& w) { ShutdownChunk{Tsn(7)}.SerializeTo(w); });
  // Truncated: below header + one chunk header, and a chunk cut short.
  EXPECT_FALSE(PacketView::Parse(ByteView(p.data(), 15), false, false).ok());
  EXPECT_FALSE(PacketView::Parse(ByteView(p.data(), p.size() - 1), false, false).ok());
  // Chunk length below 4.
  auto q = p;
  q[14] = 0;
  q[15] = 3;
  EXPECT_EQ(PacketView::Parse(q, false, false).error().code, ParseErrorCode::kBadLength);
  // Chunk length longer than the packet.
  q = p;
  q[15] = 200;
  EXPECT_EQ(PacketView::Parse(q, false, false).error().code, ParseErrorCode::kTruncated);
  // Several chunks are all visited, padding skipped.
  auto multi = Packet([](ByteWriter& w) {
    uint8_t payload[3] = {1, 2, 3};
    DataChunk d;
    d.tsn = Tsn(1);
    d.beginning = d.ending = true;
    d.payload = payload;
    d.SerializeTo(w);  // 19 bytes + 1 padding
    EmptyChunk{ChunkType::kCookieAck}.SerializeTo(w);
  });
  auto v = PacketView::Parse(multi, false);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->chunk_count(), 2u);
  auto it = v->chunks();
  ChunkView c;
  ASSERT_TRUE(it.Next(&c));
  EXPECT_EQ(c.value.size(), 15u);
  ASSERT_TRUE(it.Next(&c));
  EXPECT_EQ(c.type, static_cast<uint8_t>(ChunkType::kCookieAck));
  EXPECT_FALSE(it.Next(&c));
  EXPECT_NE(v->ToString().find("COOKIE-ACK"), std::string::npos);
}

TEST(DataChunk, RoundTripAndErrors) {
  uint8_t payload[5] = {1, 2, 3, 4, 5};
  DataChunk d;
  d.tsn = Tsn(0xFFFFFFFF);
  d.stream_id = StreamId(7);
  d.ssn = Ssn(65535);
  d.ppid = Ppid(51);
  d.unordered = true;
  d.beginning = true;
  d.immediate_ack = true;
  d.payload = payload;
  auto p = Packet([&](ByteWriter& w) { d.SerializeTo(w); });
  EXPECT_EQ(p.size(), 12u + 16 + 8);  // padded to 4
  auto back = DataChunk::Parse(OnlyChunk(p));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->tsn, d.tsn);
  EXPECT_EQ(back->stream_id, d.stream_id);
  EXPECT_EQ(back->ssn, d.ssn);
  EXPECT_EQ(back->ppid, d.ppid);
  EXPECT_TRUE(back->unordered && back->beginning && !back->ending && back->immediate_ack);
  EXPECT_EQ(std::vector<uint8_t>(back->payload.begin(), back->payload.end()),
            std::vector<uint8_t>(payload, payload + 5));
  EXPECT_NE(back->ToString().find("tsn=4294967295"), std::string::npos);
  // No user data, and truncated header.
  ChunkView empty{0, 3, ByteView(p.data() + 16, 12)};
  EXPECT_EQ(DataChunk::Parse(empty).error().code, ParseErrorCode::kBadLength);
  ChunkView shorter{0, 3, ByteView(p.data() + 16, 11)};
  EXPECT_EQ(DataChunk::Parse(shorter).error().code, ParseErrorCode::kTruncated);
}

TEST(IDataChunk, RoundTripPpidOrFsn) {
  uint8_t payload[4] = {9, 9, 9, 9};
  for (bool first : {true, false}) {
    IDataChunk d;
    d.tsn = Tsn(10);
    d.stream_id = StreamId(3);
    d.mid = Mid(0x01020304);
    d.beginning = first;
    d.ending = !first;
    d.ppid = Ppid(first ? 53 : 0);
    d.fsn = first ? 0 : 17;
    d.payload = payload;
    auto p = Packet([&](ByteWriter& w) { d.SerializeTo(w); });
    auto back = IDataChunk::Parse(OnlyChunk(p));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->mid, d.mid);
    EXPECT_EQ(back->ppid, d.ppid);
    EXPECT_EQ(back->fsn, d.fsn);
    EXPECT_EQ(back->payload.size(), 4u);
  }
  ChunkView trunc{64, 0, ByteView(payload, 4)};
  EXPECT_FALSE(IDataChunk::Parse(trunc).ok());
}

TEST(SackChunk, RoundTripWithGapsAndDuplicates) {
  GapAckBlock gaps[] = {{2, 3}, {5, 9}};
  Tsn dups[] = {Tsn(1), Tsn(2), Tsn(3)};
  auto p = Packet([&](ByteWriter& w) { SackChunk::Serialize(w, Tsn(100), 65536, gaps, dups); });
  auto s = SackChunk::Parse(OnlyChunk(p));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->cumulative_tsn_ack, Tsn(100));
  EXPECT_EQ(s->a_rwnd, 65536u);
  ASSERT_EQ(s->gap_block_count, 2u);
  EXPECT_EQ(s->gap_block(1), (GapAckBlock{5, 9}));
  ASSERT_EQ(s->duplicate_count, 3u);
  EXPECT_EQ(s->duplicate(2), Tsn(3));
  // Re-serialize a parsed SACK: identical bytes.
  auto again = Packet([&](ByteWriter& w) { s->SerializeTo(w); });
  EXPECT_EQ(again, p);
  // Counts that do not match the length; a block with start 0 or end < start.
  auto bad = p;
  bad[12 + 13] = 3;  // number of gap blocks = 3
  EXPECT_EQ(
      SackChunk::Parse(OnlyChunk(Packet([&](ByteWriter& w) { w.Bytes(ByteView(bad).subspan(12)); }))).error().code,
      ParseErrorCode::kBadLength);
  GapAckBlock wrong[] = {{4, 3}};
  auto p2 = Packet([&](ByteWriter& w) { SackChunk::Serialize(w, Tsn(1), 0, wrong, {}); });
  EXPECT_EQ(SackChunk::Parse(OnlyChunk(p2)).error().code, ParseErrorCode::kBadValue);
}

TEST(ForwardTsn, RoundTrip) {
  ForwardTsnChunk::Skipped sk[] = {{StreamId(1), Ssn(5)}, {StreamId(9), Ssn(65535)}};
  auto p = Packet([&](ByteWriter& w) { ForwardTsnChunk::Serialize(w, Tsn(77), sk); });
  auto f = ForwardTsnChunk::Parse(OnlyChunk(p));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->new_cumulative_tsn, Tsn(77));
  ASSERT_EQ(f->skipped_count, 2u);
  EXPECT_EQ(f->skipped(1).ssn, Ssn(65535));
  uint8_t odd[6] = {};
  EXPECT_FALSE(ForwardTsnChunk::Parse(ChunkView{192, 0, ByteView(odd, 6)}).ok());

  IForwardTsnChunk::Skipped isk[] = {{StreamId(2), true, Mid(8)}, {StreamId(3), false, Mid(0xFFFFFFFF)}};
  auto q = Packet([&](ByteWriter& w) { IForwardTsnChunk::Serialize(w, Tsn(5), isk); });
  auto g = IForwardTsnChunk::Parse(OnlyChunk(q));
  ASSERT_TRUE(g.ok());
  ASSERT_EQ(g->skipped_count, 2u);
  EXPECT_TRUE(g->skipped(0).unordered);
  EXPECT_EQ(g->skipped(1).mid, Mid(0xFFFFFFFF));
  uint8_t short_entry[8] = {};
  EXPECT_FALSE(IForwardTsnChunk::Parse(ChunkView{194, 0, ByteView(short_entry, 8)}).ok());
}

TEST(InitChunk, RoundTripWithCapabilitiesAndCookie) {
  uint8_t params[128];
  ByteWriter pw(params);
  uint8_t types[] = {130, 192, 64, 194};
  SupportedExtensionsParameter::Serialize(pw, types);
  WriteTlv(pw, param::kForwardTsnSupported, {});
  ZeroChecksumAcceptableParameter{kEdmidDtls}.SerializeTo(pw);
  uint8_t cookie[5] = {1, 2, 3, 4, 5};
  WriteTlv(pw, param::kStateCookie, cookie);
  InitChunk init;
  init.type = ChunkType::kInitAck;
  init.initiate_tag = VerificationTag(42);
  init.a_rwnd = 1 << 22;
  init.outbound_streams = 1024;
  init.inbound_streams = 65535;
  init.initial_tsn = Tsn(99);
  init.parameters = *TlvList::Parse(pw.written());
  auto p = Packet([&](ByteWriter& w) { init.SerializeTo(w); });
  auto back = InitChunk::Parse(OnlyChunk(p));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->type, ChunkType::kInitAck);
  EXPECT_EQ(back->initiate_tag, VerificationTag(42));
  EXPECT_EQ(back->inbound_streams, 65535);
  auto caps = back->capabilities();
  EXPECT_TRUE(caps.forward_tsn && caps.i_data && caps.reconfig && caps.zero_checksum);
  ASSERT_TRUE(back->state_cookie().has_value());
  EXPECT_EQ(back->state_cookie()->size(), 5u);
  // RFC 9260 section 3.3.2: tag 0 and zero stream counts are rejected.
  auto zero_tag = p;
  zero_tag[16] = zero_tag[17] = zero_tag[18] = zero_tag[19] = 0;
  EXPECT_FALSE(InitChunk::Parse(ChunkView{2, 0, ByteView(zero_tag).subspan(16, p.size() - 16)}).ok());
  auto zero_os = p;
  zero_os[24] = zero_os[25] = 0;
  EXPECT_FALSE(InitChunk::Parse(ChunkView{2, 0, ByteView(zero_os).subspan(16, p.size() - 16)}).ok());
  // A truncated parameter list.
  EXPECT_FALSE(InitChunk::Parse(ChunkView{2, 0, ByteView(p).subspan(16, 16 + 5)}).ok());
  // A zero-checksum parameter with another EDMID is not DTLS.
  uint8_t other[16];
  ByteWriter ow(other);
  ZeroChecksumAcceptableParameter{7}.SerializeTo(ow);
  init.parameters = *TlvList::Parse(ow.written());
  auto p2 = Packet([&](ByteWriter& w) { init.SerializeTo(w); });
  EXPECT_FALSE(InitChunk::Parse(OnlyChunk(p2))->capabilities().zero_checksum);
}

TEST(ControlChunks, SimpleOnesRoundTrip) {
  uint8_t cookie[7] = {7, 6, 5, 4, 3, 2, 1};
  auto p = Packet([&](ByteWriter& w) { CookieEchoChunk{cookie}.SerializeTo(w); });
  EXPECT_EQ(CookieEchoChunk::Parse(OnlyChunk(p))->cookie.size(), 7u);

  for (ChunkType t : {ChunkType::kCookieAck, ChunkType::kShutdownAck, ChunkType::kShutdownComplete}) {
    auto q = Packet([&](ByteWriter& w) { EmptyChunk{t, t == ChunkType::kShutdownComplete}.SerializeTo(w); });
    auto e = EmptyChunk::Parse(OnlyChunk(q));
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->tag_reflected, t == ChunkType::kShutdownComplete);
  }
  uint8_t one[1] = {0};
  EXPECT_FALSE(EmptyChunk::Parse(ChunkView{11, 0, ByteView(one, 1)}).ok());

  uint8_t info[16] = {1};
  auto h = Packet([&](ByteWriter& w) { HeartbeatChunk{ChunkType::kHeartbeat, info}.SerializeTo(w); });
  auto hb = HeartbeatChunk::Parse(OnlyChunk(h));
  ASSERT_TRUE(hb.ok());
  EXPECT_EQ(hb->info.size(), 16u);
  uint8_t no_info[4] = {0, 9, 0, 4};  // a TLV of another type
  EXPECT_FALSE(HeartbeatChunk::Parse(ChunkView{4, 0, ByteView(no_info, 4)}).ok());

  auto s = Packet([](ByteWriter& w) { ShutdownChunk{Tsn(123)}.SerializeTo(w); });
  EXPECT_EQ(ShutdownChunk::Parse(OnlyChunk(s))->cumulative_tsn_ack, Tsn(123));
  EXPECT_FALSE(ShutdownChunk::Parse(ChunkView{7, 0, ByteView(info, 3)}).ok());
}

TEST(ControlChunks, AbortDescribesUserReason) {
  uint8_t causes[64];
  ByteWriter cw(causes);
  WriteTlv(cw, cause::kUserInitiatedAbort, AsBytes("bye now"));
  ErrorCausesChunk a;
  a.type = ChunkType::kAbort;
  a.tag_reflected = true;
  a.causes = *TlvList::Parse(cw.written());
  auto p = Packet([&](ByteWriter& w) { a.SerializeTo(w); });
  auto back = ErrorCausesChunk::Parse(OnlyChunk(p));
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->tag_reflected);
  EXPECT_EQ(back->Describe(), "user-initiated abort: bye now");
  uint8_t broken[6] = {0, 12, 0, 9, 'a', 'b'};  // cause length beyond the chunk
  EXPECT_FALSE(ErrorCausesChunk::Parse(ChunkView{6, 0, ByteView(broken, 6)}).ok());
}

TEST(ReConfig, RequestAndResponseRoundTrip) {
  StreamId streams[] = {StreamId(1), StreamId(2), StreamId(3)};
  auto p = Packet([&](ByteWriter& w) {
    size_t at = BeginChunk(w, 130, 0);
    OutgoingSsnResetRequestParameter::Serialize(w, 10, 20, Tsn(30), streams);
    ReconfigResponseParameter{19, ReconfigResponseParameter::kInProgress, std::nullopt, std::nullopt}.SerializeTo(w);
    FinishChunk(w, at);
  });
  auto rc = ReConfigChunk::Parse(OnlyChunk(p));
  ASSERT_TRUE(rc.ok());
  auto it = rc->parameters.begin();
  Tlv t;
  ASSERT_TRUE(it.Next(&t));
  auto req = OutgoingSsnResetRequestParameter::Parse(t);
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(req->request_sequence, 10u);
  EXPECT_EQ(req->sender_last_assigned_tsn, Tsn(30));
  ASSERT_EQ(req->stream_count, 3u);
  EXPECT_EQ(req->stream(2), StreamId(3));
  ASSERT_TRUE(it.Next(&t));
  auto resp = ReconfigResponseParameter::Parse(t);
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->result, ReconfigResponseParameter::kInProgress);
  // Zero or three parameters are invalid (RFC 6525 section 3.1).
  EXPECT_FALSE(ReConfigChunk::Parse(ChunkView{130, 0, {}}).ok());
  uint8_t bad_resp[8] = {0, 16, 0, 8, 0, 0, 0, 1};
  EXPECT_FALSE(ReconfigResponseParameter::Parse(Tlv{16, ByteView(bad_resp + 4, 4)}).ok());
}

TEST(TlvList, PaddingAndErrors) {
  uint8_t ok[] = {0, 1, 0, 5, 9, 0, 0, 0, 0, 2, 0, 4};
  auto l = TlvList::Parse(ok);
  ASSERT_TRUE(l.ok());
  auto it = l->begin();
  Tlv t;
  ASSERT_TRUE(it.Next(&t));
  EXPECT_EQ(t.value.size(), 1u);
  ASSERT_TRUE(it.Next(&t));
  EXPECT_EQ(t.type, 2);
  EXPECT_FALSE(it.Next(&t));
  uint8_t short_len[] = {0, 1, 0, 3};
  EXPECT_FALSE(TlvList::Parse(short_len).ok());
  uint8_t over[] = {0, 1, 0, 9, 1, 2};
  EXPECT_FALSE(TlvList::Parse(over).ok());
  uint8_t dangling[] = {0, 1};
  EXPECT_FALSE(TlvList::Parse(dangling).ok());
}

TEST(StateCookie, SignedAndTamperEvident) {
  uint8_t secret[32] = {1, 2, 3};
  StateCookie c;
  c.created = Instant::FromNanos(123456789);
  c.local_tag = VerificationTag(1);
  c.peer_tag = VerificationTag(2);
  c.local_initial_tsn = Tsn(3);
  c.peer_initial_tsn = Tsn(4);
  c.peer_a_rwnd = 5;
  c.outbound_streams = 6;
  c.inbound_streams = 7;
  c.capabilities = 0xF;
  uint8_t buf[StateCookie::kSize];
  ByteWriter w(buf);
  c.SerializeTo(w, secret);
  ASSERT_EQ(w.size(), StateCookie::kSize);
  auto back = StateCookie::Parse(buf, secret);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->created, c.created);
  EXPECT_EQ(back->inbound_streams, 7);
  for (size_t i = 0; i < sizeof(buf); i += 7) {
    buf[i] ^= 0x40;
    EXPECT_FALSE(StateCookie::Parse(buf, secret).ok()) << i;
    buf[i] ^= 0x40;
  }
  uint8_t other_secret[32] = {9};
  EXPECT_EQ(StateCookie::Parse(buf, other_secret).error().code, ParseErrorCode::kBadChecksum);
  EXPECT_FALSE(StateCookie::Parse(ByteView(buf, sizeof(buf) - 1), secret).ok());
}

}  // namespace
}  // namespace peerlink::sctp
