#include "src/signaling/ws_frame.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace peerlink::signaling::ws {
namespace {

// A client frame as RFC 6455 section 5.2 lays it out. `len_bytes` forces the length encoding
// (0: minimal, 2 or 8: the extended forms even when shorter would do).
std::string ClientFrame(uint8_t b0, std::string_view payload, bool masked = true, int len_bytes = 0) {
  std::string f;
  f.push_back(static_cast<char>(b0));
  const uint8_t m = masked ? 0x80 : 0;
  const uint64_t n = payload.size();
  if (len_bytes == 0) len_bytes = n < 126 ? 0 : n <= 0xFFFF ? 2 : 8;
  if (len_bytes == 0) {
    f.push_back(static_cast<char>(m | n));
  } else if (len_bytes == 2) {
    f.push_back(static_cast<char>(m | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n));
  } else {
    f.push_back(static_cast<char>(m | 127));
    for (int i = 7; i >= 0; --i)
      f.push_back(static_cast<char>(n >> (8 * i)));
  }
  const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  if (masked) f.append(reinterpret_cast<const char*>(key), 4);
  for (size_t i = 0; i < payload.size(); ++i)
    f.push_back(static_cast<char>(static_cast<uint8_t>(payload[i]) ^ (masked ? key[i & 3] : 0)));
  return f;
}

constexpr uint8_t kFinText = 0x81, kFinBinary = 0x82, kFinCont = 0x80, kText = 0x01, kCont = 0x00;
constexpr uint8_t kClose = 0x88, kPing = 0x89, kPong = 0x8A;

// Everything the reader reports for `bytes`, each text/ping copied out.
struct Seen {
  std::vector<std::string> texts;
  std::vector<size_t> binaries;
  std::vector<std::string> pings;
  int pongs = 0;
  std::vector<std::pair<std::optional<uint16_t>, std::string>> closes;
  std::optional<Failure> failure;
};
void Drain(FrameReader& r, Seen& s) {
  for (int i = 0; i < 1000; ++i) {
    ReadEvent e = r.Next();
    if (std::holds_alternative<NeedMore>(e)) return;
    if (auto* t = std::get_if<TextMessage>(&e)) s.texts.emplace_back(t->text);
    if (auto* b = std::get_if<BinaryMessage>(&e)) s.binaries.push_back(b->size);
    if (auto* p = std::get_if<PingFrame>(&e)) s.pings.emplace_back(p->payload);
    if (std::holds_alternative<PongFrame>(e)) ++s.pongs;
    if (auto* c = std::get_if<CloseFrame>(&e)) s.closes.emplace_back(c->code, std::string(c->reason));
    if (auto* f = std::get_if<Failure>(&e)) s.failure = *f;
  }
  FAIL() << "reader never asked for more";
}
Seen Read(std::string_view bytes, size_t max = 64 * 1024) {
  FrameReader r(max);
  Seen s;
  r.Feed(bytes);
  Drain(r, s);
  // Whatever happened, nothing stays buffered that was not a partial frame.
  EXPECT_LE(r.buffered(), bytes.size());
  return s;
}
uint16_t FailureCode(std::string_view bytes, size_t max = 64 * 1024) {
  Seen s = Read(bytes, max);
  return s.failure ? s.failure->code : 0;
}

TEST(WsFrame, HeadersUseTheMinimalLengthEncoding) {
  std::array<uint8_t, kMaxServerHeader> h{};
  EXPECT_EQ(EncodeHeader(Opcode::kText, 0, h), 2u);
  EXPECT_EQ(h[0], 0x81);
  EXPECT_EQ(h[1], 0x00);
  EXPECT_EQ(EncodeHeader(Opcode::kText, 125, h), 2u);
  EXPECT_EQ(h[1], 125);
  EXPECT_EQ(EncodeHeader(Opcode::kPing, 126, h), 4u);
  EXPECT_EQ(h[0], 0x89);
  EXPECT_EQ(h[1], 126);
  EXPECT_EQ(h[2] << 8 | h[3], 126);
  EXPECT_EQ(EncodeHeader(Opcode::kText, 65535, h), 4u);
  EXPECT_EQ(h[2] << 8 | h[3], 65535);
  EXPECT_EQ(EncodeHeader(Opcode::kClose, 65536, h), 10u);
  EXPECT_EQ(h[0], 0x88);
  EXPECT_EQ(h[1], 127);
  uint64_t n = 0;
  for (int i = 2; i < 10; ++i)
    n = n << 8 | h[i];
  EXPECT_EQ(n, 65536u);
}

TEST(WsFrame, MaskedTextFramesOfEveryLengthEncodingAreRead) {
  for (size_t size : {size_t{0}, size_t{5}, size_t{125}, size_t{126}, size_t{4000}, size_t{65535}, size_t{65536}}) {
    std::string text(size, 'x');
    for (size_t i = 0; i < size; ++i)
      text[i] = static_cast<char>('a' + i % 26);
    Seen s = Read(ClientFrame(kFinText, text), 70000);
    ASSERT_EQ(s.texts.size(), 1u) << size;
    EXPECT_EQ(s.texts[0], text) << size;
    EXPECT_FALSE(s.failure) << size;
  }
}

TEST(WsFrame, ByteByByteFeedingGivesTheSameMessages) {
  const std::string bytes = ClientFrame(kFinText, "{\"type\":\"ping\"}") + ClientFrame(kPing, "hb") +
                            ClientFrame(kFinText, std::string(300, 'q')) + ClientFrame(kFinBinary, "\x01\x02");
  FrameReader r(1024);
  Seen s;
  for (char c : bytes) {
    r.Feed(std::string_view(&c, 1));
    Drain(r, s);
  }
  EXPECT_EQ(s.texts, (std::vector<std::string>{"{\"type\":\"ping\"}", std::string(300, 'q')}));
  EXPECT_EQ(s.pings, (std::vector<std::string>{"hb"}));
  EXPECT_EQ(s.binaries, (std::vector<size_t>{2}));
  EXPECT_FALSE(s.failure);
  EXPECT_EQ(r.buffered(), 0u);
}

TEST(WsFrame, FragmentedMessageWithAPingBetweenItsFragments) {
  // "héllo" split inside the two-byte 'é' (section 5.4: control frames may be interleaved).
  const std::string t = "h\xc3\xa9llo";
  Seen s = Read(ClientFrame(kText, t.substr(0, 2)) + ClientFrame(kPing, "") + ClientFrame(kCont, t.substr(2, 2)) +
                ClientFrame(kFinCont, t.substr(4)) + ClientFrame(kPong, ""));
  EXPECT_EQ(s.texts, (std::vector<std::string>{t}));
  EXPECT_EQ(s.pings.size(), 1u);
  EXPECT_EQ(s.pongs, 1);
  EXPECT_FALSE(s.failure);
}

TEST(WsFrame, FragmentedBinaryIsCountedNotStored) {
  FrameReader r(1000);
  Seen s;
  r.Feed(ClientFrame(0x02, std::string(400, 'b')) + ClientFrame(kFinCont, std::string(500, 'b')));
  Drain(r, s);
  EXPECT_EQ(s.binaries, (std::vector<size_t>{900}));
}

TEST(WsFrame, ProtocolViolationsFailWith1002) {
  EXPECT_EQ(FailureCode(ClientFrame(kFinText, "x", /*masked=*/false)), 1002);
  EXPECT_EQ(FailureCode(ClientFrame(kFinText | 0x40, "x")), 1002);  // RSV1 without permessage-deflate
  EXPECT_EQ(FailureCode(ClientFrame(0x83, "x")), 1002);             // reserved data opcode
  EXPECT_EQ(FailureCode(ClientFrame(0x8B, "x")), 1002);             // reserved control opcode
  EXPECT_EQ(FailureCode(ClientFrame(0x09, "x")), 1002);             // fragmented ping
  EXPECT_EQ(FailureCode(ClientFrame(kPing, std::string(126, 'p'))), 1002);
  EXPECT_EQ(FailureCode(ClientFrame(kFinCont, "x")), 1002);  // continuation with nothing open
  EXPECT_EQ(FailureCode(ClientFrame(kText, "a") + ClientFrame(kFinText, "b")), 1002);
  EXPECT_EQ(FailureCode(ClientFrame(kFinText, "short", true, 2)), 1002);  // 16-bit length for 5 bytes
  EXPECT_EQ(FailureCode(ClientFrame(kFinText, std::string(300, 'a'), true, 8)), 1002);
  EXPECT_EQ(FailureCode(ClientFrame(kClose, "\x03")), 1002);      // 1-byte close payload
  EXPECT_EQ(FailureCode(ClientFrame(kClose, "\x03\xed")), 1002);  // 1005 may not be sent
  EXPECT_EQ(FailureCode(ClientFrame(kClose, "\x07\xd0")), 1002);  // 2000 is reserved
  // A 64-bit length with the top bit set.
  std::string huge = {static_cast<char>(kFinText), static_cast<char>(0xFF)};
  huge += std::string("\x80\0\0\0\0\0\0\0", 8) + "mask";
  EXPECT_EQ(FailureCode(huge), 1002);
}

TEST(WsFrame, InvalidUtf8FailsWith1007) {
  EXPECT_EQ(FailureCode(ClientFrame(kFinText, "ok \xff")), 1007);
  EXPECT_EQ(FailureCode(ClientFrame(kText, "\xc3") + ClientFrame(kFinCont, "A")), 1007);
  EXPECT_EQ(FailureCode(ClientFrame(kClose, "\x03\xe8\xc0\xaf")), 1007);
  // Binary payloads are not text.
  EXPECT_EQ(FailureCode(ClientFrame(kFinBinary, "\xff\xfe")), 0);
}

TEST(WsFrame, TooBigFailsOnTheHeaderBeforeThePayloadArrives) {
  FrameReader r(1000);
  std::string frame = ClientFrame(kFinText, std::string(1001, 'a'));
  r.Feed(std::string_view(frame).substr(0, 8));  // header + mask only
  ReadEvent e = r.Next();
  auto* f = std::get_if<Failure>(&e);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->code, 1009);
  EXPECT_EQ(f->reason, "message too big (max 1000 bytes)");
  // Failed for good: more input is ignored and nothing else comes out.
  r.Feed(ClientFrame(kFinText, "later"));
  EXPECT_TRUE(std::holds_alternative<NeedMore>(r.Next()));
  EXPECT_TRUE(r.failed());
  EXPECT_EQ(r.buffered(), 0u);
  // Exactly the limit is fine; fragments count together.
  EXPECT_EQ(FailureCode(ClientFrame(kFinText, std::string(1000, 'a')), 1000), 0);
  EXPECT_EQ(FailureCode(ClientFrame(kText, std::string(600, 'a')) + ClientFrame(kFinCont, std::string(401, 'a')), 1000),
            1009);
}

TEST(WsFrame, MemoryStaysBoundedWhileAPeerTricklesALargeFrame) {
  FrameReader r(64 * 1024);
  const std::string frame = ClientFrame(kFinText, std::string(60000, 'z'));
  Seen s;
  for (size_t at = 0; at < frame.size(); at += 1000) {
    r.Feed(std::string_view(frame).substr(at, 1000));
    Drain(r, s);
    EXPECT_LE(r.buffered(), frame.size());
  }
  ASSERT_EQ(s.texts.size(), 1u);
  EXPECT_EQ(s.texts[0].size(), 60000u);
  EXPECT_LE(r.capacity(), 2 * frame.size());
}

TEST(WsFrame, CloseFrames) {
  Seen s = Read(ClientFrame(kClose, "") + ClientFrame(kClose, std::string("\x03\xe8") + "bye \xc3\xa9"));
  ASSERT_EQ(s.closes.size(), 2u);
  EXPECT_FALSE(s.closes[0].first);
  EXPECT_EQ(s.closes[1].first, 1000);
  EXPECT_EQ(s.closes[1].second, "bye \xc3\xa9");
  EXPECT_EQ(FailureCode(ClientFrame(kClose, "\x0b\xb8")), 0);  // 3000: registered range
}

TEST(WsFrame, ClosePayloadFitsAControlFrameAndCutsAtACharacter) {
  std::string p = ClosePayload(1008, "unauthorized");
  EXPECT_EQ(p, std::string("\x03\xf0") + "unauthorized");
  std::string reason;
  for (int i = 0; i < 100; ++i)
    reason += "\xc3\xa9";  // 200 bytes of 'é'
  p = ClosePayload(1000, reason);
  EXPECT_LE(p.size(), kMaxControlPayload);
  EXPECT_EQ(p.size(), 2u + 122u);  // 123 would split an 'é'
  EXPECT_TRUE(IsValidUtf8(std::string_view(p).substr(2)));
}

TEST(WsFrame, Utf8Validation) {
  for (std::string_view ok : {"", "plain ascii, longer than eight bytes", "\xc3\xa9", "\xe2\x82\xac",
                              "\xf0\x9d\x84\x9e", "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf", "\xef\xbf\xbf"}) {
    EXPECT_TRUE(IsValidUtf8(ok)) << ok;
  }
  for (std::string_view bad : {"\x80", "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xed\xa0\x80", "\xf0\x80\x80\x80",
                               "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xe2\x82", "abcdefgh\xe2\x82", "\xff"}) {
    EXPECT_FALSE(IsValidUtf8(bad)) << testing::PrintToString(std::string(bad));
  }
}

}  // namespace
}  // namespace peerlink::signaling::ws
