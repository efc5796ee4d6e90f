// Two associations passing packets by hand: setup (incl. collision and
// restart), data both ways, loss recovery, PR-SCTP, reset, shutdown, abort,
// cookie tampering and expiry, limits.
#include "src/sctp/association.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>

#include "src/sctp/control_chunks.h"
#include "src/sctp/data_chunks.h"
#include "src/sctp/packet.h"
#include "src/sctp/test_pair.h"

namespace peerlink::sctp {
namespace {

using testing::Pair;

std::vector<uint8_t> Bytes(size_t n, uint8_t seed = 0) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = static_cast<uint8_t>(seed + i * 31);
  return v;
}

SendOptions Unordered() {
  SendOptions o;
  o.unordered = true;
  return o;
}
SendOptions MaxRtx(uint16_t n) {
  SendOptions o;
  o.max_retransmits = n;
  return o;
}
SendOptions Lifetime(Duration d) {
  SendOptions o;
  o.lifetime = d;
  return o;
}

uint8_t FirstChunkType(const std::vector<uint8_t>& p) {
  return p.size() > 12 ? p[12] : 0xFF;
}

bool HasChunk(const std::vector<uint8_t>& p, ChunkType t) {
  auto v = PacketView::Parse(p, true, false);
  if (!v) return false;
  auto it = v->chunks();
  ChunkView c;
  while (it.Next(&c))
    if (c.type == static_cast<uint8_t>(t)) return true;
  return false;
}

TEST(Association, HandshakeNegotiatesExtensions) {
  Pair p;
  std::vector<uint8_t> types;
  p.set_filter([&](bool, std::vector<uint8_t>& pkt) {
    types.push_back(FirstChunkType(pkt));
    return false;
  });
  ASSERT_TRUE(p.Connect());
  EXPECT_EQ(p.a().state(), State::kEstablished);
  EXPECT_EQ(p.b().state(), State::kEstablished);
  ASSERT_GE(types.size(), 4u);
  EXPECT_EQ(types[0], 1);   // INIT
  EXPECT_EQ(types[1], 2);   // INIT ACK
  EXPECT_EQ(types[2], 10);  // COOKIE ECHO
  EXPECT_EQ(types[3], 11);  // COOKIE ACK
  auto m = p.a().metrics();
  EXPECT_TRUE(m.interleaving && m.zero_checksum && m.partial_reliability && m.reconfig);
  EXPECT_EQ(m.negotiated_outbound_streams, 1024);
  EXPECT_TRUE(p.a().IsConsistent() && p.b().IsConsistent());
}

TEST(Association, ExtensionsOnlyWhenBothOffer) {
  Options a, b;
  b.enable_interleaving = false;
  b.enable_zero_checksum = false;
  b.announced_streams = 16;
  Pair p(a, b);
  ASSERT_TRUE(p.Connect());
  auto m = p.a().metrics();
  EXPECT_FALSE(m.interleaving);
  EXPECT_FALSE(m.zero_checksum);
  EXPECT_EQ(m.negotiated_outbound_streams, 16);
  EXPECT_EQ(p.b().metrics().negotiated_inbound_streams, 16);
  // Stream ids beyond what was negotiated are refused.
  EXPECT_EQ(p.a().Send(p.now(), StreamId(16), kPpidBinary, Bytes(10)), SendStatus::kNotConnected);
  EXPECT_EQ(p.a().Send(p.now(), StreamId(15), kPpidBinary, Bytes(10)), SendStatus::kOk);
}

TEST(Association, PassiveSideAllocatesNothingBeforeCookieEcho) {
  Pair p;
  std::vector<std::vector<uint8_t>> init_acks;
  p.set_filter([&](bool from_a, std::vector<uint8_t>& pkt) {
    if (!from_a && FirstChunkType(pkt) == 2) init_acks.push_back(pkt);
    return !from_a;  // B's answers never arrive
  });
  p.a().Connect(p.now());
  p.Exchange();
  ASSERT_EQ(init_acks.size(), 1u);
  EXPECT_EQ(p.b().state(), State::kClosed);
  EXPECT_EQ(p.b().metrics().negotiated_outbound_streams, 0);  // no TCB
}

TEST(Association, SimultaneousOpenResolvesCollision) {
  Pair p;
  p.a().Connect(p.now());
  p.b().Connect(p.now());
  p.RunFor(Duration::Seconds(5));
  EXPECT_TRUE(p.side_a().connected);
  EXPECT_TRUE(p.side_b().connected);
  ASSERT_EQ(p.a().Send(p.now(), StreamId(1), kPpidString, Bytes(100)), SendStatus::kOk);
  p.RunFor(Duration::Millis(10));
  ASSERT_EQ(p.side_b().messages.size(), 1u);
}

TEST(Association, InitRetransmittedThenGivesUp) {
  Options o;
  o.max_init_retransmits = 2;
  Pair p(o);
  p.set_filter([](bool, std::vector<uint8_t>&) { return true; });
  p.a().Connect(p.now());
  p.RunFor(Duration::Seconds(30));
  ASSERT_TRUE(p.side_a().closed.has_value());
  EXPECT_NE(p.side_a().closed->reason.find("INIT"), std::string::npos);
  EXPECT_EQ(p.a().state(), State::kClosed);
}

TEST(Association, LostCookieAckIsRecoveredByDuplicateCookieEcho) {
  Pair p;
  int dropped = 0;
  p.set_filter([&](bool from_a, std::vector<uint8_t>& pkt) {
    if (!from_a && FirstChunkType(pkt) == 11 && dropped == 0) return ++dropped > 0;
    return false;
  });
  ASSERT_TRUE(p.Connect());
  EXPECT_EQ(dropped, 1);
}

TEST(Association, TamperedCookieIsIgnored) {
  Pair p;
  p.set_filter([&](bool from_a, std::vector<uint8_t>& pkt) {
    if (from_a && FirstChunkType(pkt) == 10) {
      pkt[30] ^= 0x01;  // inside the cookie; fix the CRC so only the MAC can catch it
      pkt[8] = pkt[9] = pkt[10] = pkt[11] = 0;
      auto v = PacketView::Parse(pkt, true, false);
      (void)v;
      std::vector<uint8_t> copy = pkt;
      PacketBuilder b(copy, 5000, 5000, VerificationTag(0));
      (void)b;
      return false;  // zero checksum is accepted on COOKIE ECHO only because B offers it; MAC still fails
    }
    return false;
  });
  p.a().Connect(p.now());
  p.RunFor(Duration::Seconds(3));
  EXPECT_FALSE(p.side_b().connected);
  EXPECT_EQ(p.b().state(), State::kClosed);
}

TEST(Association, ExpiredCookieGetsStaleCookieError) {
  Options o;
  o.cookie_lifetime = Duration::Millis(100);
  Pair p(o);
  std::vector<std::vector<uint8_t>> held;
  bool hold = true;
  p.set_filter([&](bool from_a, std::vector<uint8_t>& pkt) {
    if (from_a && FirstChunkType(pkt) == 10 && hold) {
      held.push_back(pkt);
      return true;
    }
    return false;
  });
  p.a().Connect(p.now());
  p.Exchange();
  ASSERT_EQ(held.size(), 1u);
  p.Advance(Duration::Millis(500));
  hold = false;
  bool saw_error = false;
  p.set_filter([&](bool from_a, std::vector<uint8_t>& pkt) {
    if (!from_a && FirstChunkType(pkt) == 9) saw_error = true;
    return false;
  });
  p.b().HandlePacket(p.now(), held[0]);
  p.Exchange();
  EXPECT_TRUE(saw_error);
  EXPECT_FALSE(p.side_b().connected);
  ASSERT_TRUE(p.side_a().closed.has_value());
  EXPECT_NE(p.side_a().closed->reason.find("stale"), std::string::npos);
}

TEST(Association, DataBothWaysOrderedUnorderedAndFragmented) {
  for (bool interleave : {true, false}) {
    Options o;
    o.enable_interleaving = interleave;
    Pair p(o);
    ASSERT_TRUE(p.Connect());
    std::vector<std::vector<uint8_t>> sent;
    for (int i = 0; i < 20; ++i) {
      auto m = Bytes(1 + i * 997, static_cast<uint8_t>(i));
      sent.push_back(m);
      ASSERT_EQ(p.a().Send(p.now(), StreamId(1), kPpidBinary, m), SendStatus::kOk);
      ASSERT_EQ(p.b().Send(p.now(), StreamId(2), kPpidString, m, Unordered()), SendStatus::kOk);
    }
    p.RunFor(Duration::Seconds(2));
    ASSERT_EQ(p.side_b().messages.size(), 20u);
    ASSERT_EQ(p.side_a().messages.size(), 20u);
    for (int i = 0; i < 20; ++i) {
      EXPECT_EQ(p.side_b().messages[i].payload, sent[i]);
      EXPECT_EQ(p.side_b().messages[i].stream_id, StreamId(1));
      EXPECT_FALSE(p.side_b().messages[i].unordered);
      EXPECT_TRUE(p.side_a().messages[i].unordered);
    }
    EXPECT_EQ(p.a().buffered_amount(StreamId(1)), 0u);
    EXPECT_TRUE(p.a().IsConsistent() && p.b().IsConsistent());
  }
}

TEST(Association, LossIsRecoveredByFastRetransmitAndT3) {
  Pair p;
  ASSERT_TRUE(p.Connect());
  int n = 0;
  p.set_filter([&](bool from_a, std::vector<uint8_t>&) { return from_a && (++n % 7 == 3); });
  std::vector<uint8_t> big = Bytes(200 * 1000, 3);
  ASSERT_EQ(p.a().Send(p.now(), StreamId(0), kPpidBinary, big), SendStatus::kOk);
  p.RunFor(Duration::Seconds(10));
  ASSERT_EQ(p.side_b().messages.size(), 1u);
  EXPECT_EQ(p.side_b().messages[0].payload, big);
  auto m = p.a().metrics();
  EXPECT_GT(m.retransmissions, 0u);
  EXPECT_GT(m.fast_retransmits, 0u);
  // Tail loss needs the timer.
  p.set_filter(
      [&](bool from_a, std::vector<uint8_t>& pkt) { return from_a && HasChunk(pkt, ChunkType::kIData) && ++n % 2; });
  ASSERT_EQ(p.a().Send(p.now(), StreamId(0), kPpidBinary, Bytes(10)), SendStatus::kOk);
  p.RunFor(Duration::Seconds(10));
  EXPECT_EQ(p.side_b().messages.size(), 2u);
}

std::optional<uint32_t> FirstDataTsn(const std::vector<uint8_t>& p) {
  auto v = PacketView::Parse(p, true, false);
  if (!v) return std::nullopt;
  auto it = v->chunks();
  ChunkView c;
  while (it.Next(&c)) {
    if (c.type == static_cast<uint8_t>(ChunkType::kIData))
      if (auto d = IDataChunk::Parse(c)) return d->tsn.value();
    if (c.type == static_cast<uint8_t>(ChunkType::kData))
      if (auto d = DataChunk::Parse(c)) return d->tsn.value();
  }
  return std::nullopt;
}

// A lost fast retransmission is fast-retransmitted again once data sent after
// it is acked (no T3 wait), and the whole episode reduces cwnd only once.
TEST(Association, LostFastRetransmissionIsFastRetransmittedAgain) {
  Pair p;
  ASSERT_TRUE(p.Connect());
  int data_packets = 0, drops_of_victim = 0, ssthresh_decreases = 0;
  std::optional<uint32_t> victim;
  size_t last_ssthresh = p.a().metrics().ssthresh;
  p.set_filter([&](bool from_a, std::vector<uint8_t>& pkt) {
    if (!from_a) return false;
    size_t ss = p.a().metrics().ssthresh;
    if (ss < last_ssthresh) ++ssthresh_decreases;
    last_ssthresh = ss;
    auto tsn = FirstDataTsn(pkt);
    if (!tsn) return false;
    ++data_packets;
    // Lose packets 30, 32, 34 (one loss burst) and the first two transmissions of packet 30's TSN.
    if (data_packets == 32 || data_packets == 34) return true;
    if (data_packets == 30) victim = tsn;
    if (victim && *tsn == *victim && drops_of_victim < 2) {
      ++drops_of_victim;
      return true;
    }
    return false;
  });
  std::vector<uint8_t> big = Bytes(240 * 1000, 5);
  for (int i = 0; i < 4; ++i)
    ASSERT_EQ(p.a().Send(p.now(), StreamId(0), kPpidBinary, big), SendStatus::kOk);
  p.RunFor(Duration::Millis(100));  // less than rto_min: only fast retransmit can have recovered
  EXPECT_EQ(drops_of_victim, 2);
  ASSERT_EQ(p.side_b().messages.size(), 4u);
  auto m = p.a().metrics();
  EXPECT_EQ(m.t3_expiries, 0u);
  EXPECT_GE(m.fast_retransmits, 4u);  // 30, 32, 34, then 30 again
  EXPECT_EQ(ssthresh_decreases, 1);
}

TEST(Association, DelayedAckEverySecondPacketOrTimer) {
  Pair p;
  ASSERT_TRUE(p.Connect());
  int sacks = 0;
  p.set_filter([&](bool from_a, std::vector<uint8_t>& pkt) {
    if (!from_a && HasChunk(pkt, ChunkType::kSack)) ++sacks;
    return false;
  });
  // One small message: the I bit (queue ran dry) makes the ack immediate.
  ASSERT_EQ(p.a().Send(p.now(), StreamId(0), kPpidBinary, Bytes(10)), SendStatus::kOk);
  p.Exchange();
  EXPECT_EQ(sacks, 1);
}

TEST(Association, PartialReliabilityNeverDeliversAbandoned) {
  for (bool interleave : {true, false}) {
    Options o;
    o.enable_interleaving = interleave;
    Pair p(o);
    ASSERT_TRUE(p.Connect());
    // Drop every DATA chunk of the first messages: they are abandoned after 0 retransmissions.
    bool dropping = true;
    p.set_filter([&](bool from_a, std::vector<uint8_t>& pkt) {
      bool data = HasChunk(pkt, ChunkType::kData) || HasChunk(pkt, ChunkType::kIData);
      return from_a && data && dropping;
    });
    for (int i = 0; i < 3; ++i)
      ASSERT_EQ(p.a().Send(p.now(), StreamId(1), kPpidBinary, Bytes(3000, uint8_t(i)), MaxRtx(0)), SendStatus::kOk);
    p.Exchange();
    dropping = false;
    ASSERT_EQ(p.a().Send(p.now(), StreamId(1), kPpidBinary, Bytes(100, 9)), SendStatus::kOk);
    p.RunFor(Duration::Seconds(5));
    // Only the reliable message arrives; the stream did not stall.
    ASSERT_EQ(p.side_b().messages.size(), 1u) << interleave;
    EXPECT_EQ(p.side_b().messages[0].payload, Bytes(100, 9));
    EXPECT_GT(p.a().metrics().messages_abandoned, 0u);
    EXPECT_TRUE(p.a().IsConsistent() && p.b().IsConsistent());
  }
}

// [index u16][stream u8][filler from both]: says which message it is, and that it is whole.
std::vector<uint8_t> Tagged(uint16_t index, uint16_t stream, size_t size) {
  std::vector<uint8_t> m = Bytes(size, static_cast<uint8_t>(index * 7 + stream));
  m[0] = static_cast<uint8_t>(index >> 8);
  m[1] = static_cast<uint8_t>(index);
  m[2] = static_cast<uint8_t>(stream);
  return m;
}

// Messages that may be abandoned (max_retransmits 0 or 1, or a 30 ms lifetime), ordered on four
// streams and unordered on a fifth, of one to three fragments, with a tenth of A's packets and a
// twentieth of B's lost, and half of the FORWARD-TSNs as well, so that they are repeated and the
// cumulative ack moves in between: every stream still delivers its last message, sent reliably,
// and nothing arrives twice, out of order or cut. A FORWARD-TSN that named a stream's abandoned
// messages wrongly (an older SSN or MID, or not at all) would leave that stream waiting.
TEST(Association, PartialReliabilityUnderLossNeverStallsAStream) {
  for (bool interleave : {true, false}) {
    Options o;
    o.enable_interleaving = interleave;
    o.enable_heartbeat = false;
    Pair p(o, 11);
    ASSERT_TRUE(p.Connect());
    SeededRng rng(5);
    int forward_tsns = 0, forward_tsns_lost = 0;
    p.set_filter([&](bool from_a, std::vector<uint8_t>& pkt) {
      if (from_a && (HasChunk(pkt, ChunkType::kForwardTsn) || HasChunk(pkt, ChunkType::kIForwardTsn))) {
        ++forward_tsns;
        if (rng.Below(2) == 0) return ++forward_tsns_lost > 0;
      }
      return rng.Below(100) < (from_a ? 10u : 5u);
    });
    constexpr uint16_t kStreams = 5, kPerStream = 150;  // stream 5 is unordered
    for (uint16_t i = 0; i < kPerStream; ++i) {
      for (uint16_t s = 1; s <= kStreams; ++s) {
        SendOptions so = i % 3 == 0 ? Lifetime(Duration::Millis(30)) : MaxRtx(i % 2);
        so.unordered = s == kStreams;
        const size_t size = 100 + (i * 733u + s * 101u) % 3300;
        ASSERT_EQ(p.a().Send(p.now(), StreamId(s), kPpidBinary, Tagged(i, s, size), so), SendStatus::kOk);
      }
      p.RunFor(Duration::Millis(2));
    }
    for (uint16_t s = 1; s <= kStreams; ++s) {
      SendOptions so;
      so.unordered = s == kStreams;
      ASSERT_EQ(p.a().Send(p.now(), StreamId(s), kPpidBinary, Tagged(kPerStream, s, 500), so), SendStatus::kOk);
    }
    p.RunFor(Duration::Seconds(120));
    std::map<uint16_t, std::vector<uint16_t>> got;
    for (const MessageReceived& m : p.side_b().messages) {
      ASSERT_GE(m.payload.size(), 100u);
      const uint16_t index = static_cast<uint16_t>(m.payload[0] << 8 | m.payload[1]);
      const uint16_t s = m.stream_id.value();
      ASSERT_EQ(m.payload[2], s);
      const size_t size = index == kPerStream ? 500 : 100 + (index * 733u + s * 101u) % 3300;
      ASSERT_EQ(m.payload, Tagged(index, s, size)) << "stream " << s << " message " << index;
      got[s].push_back(index);
    }
    for (uint16_t s = 1; s <= kStreams; ++s) {
      std::vector<uint16_t>& v = got[s];
      ASSERT_FALSE(v.empty()) << "stream " << s;
      if (s != kStreams) {
        EXPECT_TRUE(std::is_sorted(v.begin(), v.end())) << "stream " << s;
      } else {
        std::sort(v.begin(), v.end());
      }
      EXPECT_TRUE(std::adjacent_find(v.begin(), v.end()) == v.end()) << "stream " << s << " delivered one twice";
      EXPECT_EQ(v.back(), kPerStream) << "stream " << s << " stalled; interleave " << interleave;
      EXPECT_LT(v.size(), kPerStream + 1u) << "stream " << s << ": nothing was abandoned";
    }
    EXPECT_GT(forward_tsns_lost, 0);
    EXPECT_GT(p.a().metrics().messages_abandoned, 0u);
    EXPECT_EQ(p.a().total_buffered_amount(), 0u);
    EXPECT_TRUE(p.a().IsConsistent() && p.b().IsConsistent());
    std::printf("interleave %d: %llu abandoned, %d FORWARD-TSNs (%d lost), %llu retransmissions\n", interleave,
                static_cast<unsigned long long>(p.a().metrics().messages_abandoned), forward_tsns, forward_tsns_lost,
                static_cast<unsigned long long>(p.a().metrics().retransmissions));
  }
}

TEST(Association, LifetimeExpiredMessagesAreDropped) {
  Pair p;
  ASSERT_TRUE(p.Connect());
  p.set_filter([&](bool from_a, std::vector<uint8_t>& pkt) { return from_a && HasChunk(pkt, ChunkType::kIData); });
  ASSERT_EQ(p.a().Send(p.now(), StreamId(1), kPpidBinary, Bytes(500), Lifetime(Duration::Millis(50))), SendStatus::kOk);
  p.RunFor(Duration::Seconds(3));
  p.set_filter(nullptr);
  ASSERT_EQ(p.a().Send(p.now(), StreamId(1), kPpidBinary, Bytes(5)), SendStatus::kOk);
  p.RunFor(Duration::Seconds(3));
  ASSERT_EQ(p.side_b().messages.size(), 1u);
  EXPECT_EQ(p.side_b().messages[0].payload.size(), 5u);
}

TEST(Association, StreamResetBothDirections) {
  Pair p;
  ASSERT_TRUE(p.Connect());
  ASSERT_EQ(p.a().Send(p.now(), StreamId(3), kPpidBinary, Bytes(5000)), SendStatus::kOk);
  StreamId s[] = {StreamId(3)};
  p.a().ResetStreams(p.now(), s);
  EXPECT_EQ(p.a().Send(p.now(), StreamId(3), kPpidBinary, Bytes(5)), SendStatus::kStreamResetting);
  p.RunFor(Duration::Seconds(1));
  bool done = false, by_peer = false;
  for (auto& e : p.side_a().events)
    if (auto* d = std::get_if<StreamsResetDone>(&e)) done = d->streams == std::vector<StreamId>{StreamId(3)};
  for (auto& e : p.side_b().events)
    if (std::holds_alternative<StreamsResetByPeer>(e)) by_peer = true;
  EXPECT_TRUE(done);
  EXPECT_TRUE(by_peer);
  ASSERT_EQ(p.side_b().messages.size(), 1u);  // data queued before the reset arrived first
  // After the reset the stream starts over at SSN/MID 0 and still delivers in order.
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(p.a().Send(p.now(), StreamId(3), kPpidBinary, Bytes(10, uint8_t(i))), SendStatus::kOk);
  p.RunFor(Duration::Seconds(1));
  ASSERT_EQ(p.side_b().messages.size(), 4u);
  EXPECT_EQ(p.side_b().messages[3].payload, Bytes(10, 2));
}

TEST(Association, GracefulShutdownDeliversQueuedDataFirst) {
  Pair p;
  ASSERT_TRUE(p.Connect());
  ASSERT_EQ(p.a().Send(p.now(), StreamId(0), kPpidBinary, Bytes(100000)), SendStatus::kOk);
  p.a().Shutdown(p.now());
  EXPECT_EQ(p.a().Send(p.now(), StreamId(0), kPpidBinary, Bytes(1)), SendStatus::kClosed);
  p.RunFor(Duration::Seconds(5));
  ASSERT_EQ(p.side_b().messages.size(), 1u);
  ASSERT_TRUE(p.side_a().closed && p.side_b().closed);
  EXPECT_FALSE(p.side_a().closed->by_peer);
  EXPECT_TRUE(p.side_b().closed->by_peer);
  EXPECT_EQ(p.a().state(), State::kClosed);
  EXPECT_EQ(p.b().state(), State::kClosed);
}

TEST(Association, AbortCarriesReason) {
  Pair p;
  ASSERT_TRUE(p.Connect());
  p.a().Abort(p.now(), "user closed the tab");
  p.Exchange();
  ASSERT_TRUE(p.side_b().closed.has_value());
  EXPECT_TRUE(p.side_b().closed->by_peer);
  EXPECT_NE(p.side_b().closed->reason.find("user closed the tab"), std::string::npos);
  EXPECT_EQ(p.b().Send(p.now(), StreamId(0), kPpidBinary, Bytes(1)), SendStatus::kClosed);
}

TEST(Association, PeerRestartIsDetected) {
  Options o;
  Pair p(o);
  ASSERT_TRUE(p.Connect());
  // A new association object on A's side (the process restarted) connects again.
  SeededRng rng(99);
  Association fresh(o, rng, p.now());
  fresh.Connect(p.now());
  bool restarted = false, connected = false;
  for (int round = 0; round < 10; ++round) {
    std::vector<std::vector<uint8_t>> out;
    for (;;) {
      Output x = fresh.PollOutput(p.now());
      if (auto* t = std::get_if<Transmit>(&x))
        out.push_back(t->packet);
      else if (auto* e = std::get_if<Event>(&x))
        connected |= std::holds_alternative<Connected>(*e);
      else
        break;
    }
    for (auto& pkt : out)
      p.b().HandlePacket(p.now(), pkt);
    for (;;) {
      Output x = p.b().PollOutput(p.now());
      if (auto* t = std::get_if<Transmit>(&x))
        fresh.HandlePacket(p.now(), t->packet);
      else if (auto* e = std::get_if<Event>(&x))
        restarted |= std::holds_alternative<Restarted>(*e);
      else
        break;
    }
  }
  EXPECT_TRUE(connected);
  EXPECT_TRUE(restarted);
  EXPECT_EQ(p.b().state(), State::kEstablished);
}

TEST(Association, LimitsAreEnforced) {
  Options o;
  o.max_message_size = 1000;
  o.per_stream_send_buffer = 2500;
  o.max_send_buffer = 3500;
  Pair p(o);
  EXPECT_EQ(p.a().Send(p.now(), StreamId(0), kPpidBinary, Bytes(10)), SendStatus::kNotConnected);
  ASSERT_TRUE(p.Connect());
  EXPECT_EQ(p.a().Send(p.now(), StreamId(0), kPpidBinary, Bytes(1001)), SendStatus::kMessageTooLarge);
  EXPECT_EQ(p.a().buffered_amount(StreamId(0)), 0u);
  EXPECT_EQ(p.a().Send(p.now(), StreamId(0), kPpidBinary, {}), SendStatus::kMessageTooLarge);
  EXPECT_EQ(p.a().Send(p.now(), StreamId(0), kPpidBinary, Bytes(1000)), SendStatus::kOk);
  EXPECT_EQ(p.a().Send(p.now(), StreamId(0), kPpidBinary, Bytes(1000)), SendStatus::kOk);
  EXPECT_EQ(p.a().Send(p.now(), StreamId(0), kPpidBinary, Bytes(1000)), SendStatus::kBufferFull);
  EXPECT_EQ(p.a().Send(p.now(), StreamId(1), kPpidBinary, Bytes(1000)), SendStatus::kOk);
  EXPECT_EQ(p.a().Send(p.now(), StreamId(2), kPpidBinary, Bytes(1000)), SendStatus::kBufferFull);
  EXPECT_EQ(p.a().buffered_amount(StreamId(0)), 2000u);
  EXPECT_EQ(p.a().total_buffered_amount(), 3000u);
  p.a().SetBufferedAmountLowThreshold(StreamId(0), 100);
  p.RunFor(Duration::Seconds(1));
  bool low = false;
  for (auto& e : p.side_a().events)
    if (auto* l = std::get_if<BufferedAmountLow>(&e)) low |= l->stream_id == StreamId(0);
  EXPECT_TRUE(low);
  EXPECT_EQ(p.side_b().messages.size(), 3u);
}

TEST(Association, OversizedIncomingMessageAborts) {
  Options small;
  small.max_message_size = 2000;
  Options big;
  Pair p(big, small);
  ASSERT_TRUE(p.Connect());
  ASSERT_EQ(p.a().Send(p.now(), StreamId(0), kPpidBinary, Bytes(5000)), SendStatus::kOk);
  p.RunFor(Duration::Seconds(1));
  ASSERT_TRUE(p.side_b().closed.has_value());
  EXPECT_NE(p.side_b().closed->reason.find("max_message_size"), std::string::npos);
  ASSERT_TRUE(p.side_a().closed.has_value());
  EXPECT_TRUE(p.side_a().closed->by_peer);
}

TEST(Association, ZeroWindowIsProbedAndRecovers) {
  Options o;
  o.max_receive_buffer = 8000;
  Pair p(o);
  ASSERT_TRUE(p.Connect());
  for (int i = 0; i < 30; ++i)
    ASSERT_EQ(p.a().Send(p.now(), StreamId(0), kPpidBinary, Bytes(1000, uint8_t(i))), SendStatus::kOk);
  p.RunFor(Duration::Seconds(5));
  ASSERT_EQ(p.side_b().messages.size(), 30u);
  EXPECT_EQ(p.side_b().messages[29].payload, Bytes(1000, 29));
}

TEST(Association, UnknownChunksFollowUpperBits) {
  Pair p;
  ASSERT_TRUE(p.Connect());
  bool error_seen = false;
  p.set_filter([&](bool from_a, std::vector<uint8_t>& pkt) {
    if (!from_a && HasChunk(pkt, ChunkType::kError)) error_seen = true;
    return false;
  });
  // Build a packet from A's tag knowledge: capture B's local tag from a SACK A receives.
  std::vector<uint8_t> captured;
  p.set_filter([&](bool from_a, std::vector<uint8_t>& pkt) {
    if (from_a && captured.empty()) captured = pkt;
    if (!from_a && HasChunk(pkt, ChunkType::kError)) error_seen = true;
    return false;
  });
  ASSERT_EQ(p.a().Send(p.now(), StreamId(0), kPpidBinary, Bytes(4)), SendStatus::kOk);
  p.Exchange();
  ASSERT_FALSE(captured.empty());
  VerificationTag tag(uint32_t(captured[4]) << 24 | uint32_t(captured[5]) << 16 | uint32_t(captured[6]) << 8 |
                      captured[7]);
  std::vector<uint8_t> buf(64);
  PacketBuilder b(buf, 5000, 5000, tag);
  size_t at = BeginChunk(b.writer(), 0xC5, 0);  // 11: skip and report
  b.writer().U32(1);
  FinishChunk(b.writer(), at);
  buf.resize(b.Finish(false));
  p.b().HandlePacket(p.now(), buf);
  p.Exchange();
  EXPECT_TRUE(error_seen);
  EXPECT_EQ(p.b().state(), State::kEstablished);
}

TEST(Association, TooManyRetransmissionsCloses) {
  Options o;
  o.max_retransmissions = 3;
  Pair p(o);
  ASSERT_TRUE(p.Connect());
  p.set_filter([](bool, std::vector<uint8_t>&) { return true; });
  ASSERT_EQ(p.a().Send(p.now(), StreamId(0), kPpidBinary, Bytes(10)), SendStatus::kOk);
  p.RunFor(Duration::Seconds(120));
  ASSERT_TRUE(p.side_a().closed.has_value());
  EXPECT_NE(p.side_a().closed->reason.find("unreachable"), std::string::npos);
}

TEST(Association, DeterministicGivenSeed) {
  auto run = [](uint64_t seed) {
    Pair p(Options{}, seed);
    std::vector<std::vector<uint8_t>> trace;
    p.set_filter([&](bool, std::vector<uint8_t>& pkt) {
      trace.push_back(pkt);
      return false;
    });
    p.Connect();
    (void)p.a().Send(p.now(), StreamId(0), kPpidBinary, Bytes(5000));
    p.RunFor(Duration::Seconds(1));
    return trace;
  };
  EXPECT_EQ(run(5), run(5));
  EXPECT_NE(run(5), run(6));
}

}  // namespace
}  // namespace peerlink::sctp

namespace peerlink::sctp {
namespace {

using testing::Pair;

// A real event loop wakes tens of microseconds late and cannot release one packet per
// microsecond-scale pacing interval. Driven like that (50 us wake granularity, ~100 us RTT),
// cwnd must still grow: the pacer may release packets early by its slack at such RTTs. With
// exact pacing the sender was pacer-bound at one packet per wake-up and cwnd stayed ~14 KB.
void RunCoarseTimerTransfer(const Options& o, size_t* max_cwnd_out, size_t* left_out) {
  Pair p(o);
  ASSERT_TRUE(p.Connect());
  p.keep_messages = false;
  const std::vector<uint8_t> msg(64 * 1024, 0x5a);
  for (int i = 0; i < 48; ++i)
    ASSERT_EQ(p.a().Send(p.now(), StreamId(1), Ppid(53), msg), SendStatus::kOk);
  std::vector<std::vector<uint8_t>> to_a, to_b;
  size_t max_cwnd = 0;
  for (int step = 0; step < 20000 && p.a().total_buffered_amount() > 0; ++step) {
    p.Advance(Duration::Micros(50));
    for (auto& pkt : to_b)
      p.b().HandlePacket(p.now(), pkt);
    for (auto& pkt : to_a)
      p.a().HandlePacket(p.now(), pkt);
    to_a.clear();
    to_b.clear();
    if (p.side_a().deadline <= p.now()) p.a().HandleTimeout(p.now());
    if (p.side_b().deadline <= p.now()) p.b().HandleTimeout(p.now());
    p.Drain(p.side_a());
    p.Drain(p.side_b());
    to_b = std::move(p.side_a().outbox);
    to_a = std::move(p.side_b().outbox);
    p.side_a().outbox.clear();
    p.side_b().outbox.clear();
    max_cwnd = std::max(max_cwnd, p.a().metrics().cwnd);
  }
  *max_cwnd_out = max_cwnd;
  *left_out = p.a().total_buffered_amount();
}

TEST(AssociationPacing, CoarseTimersDoNotCapCwndAtSubMillisecondRtt) {
  size_t max_cwnd = 0, left = 1;
  RunCoarseTimerTransfer(Options{}, &max_cwnd, &left);
  EXPECT_EQ(left, 0u);
  EXPECT_GT(max_cwnd, 100u * 1024) << "cwnd never grew: the pacer, not cwnd, limited the sender";
}

// At a long RTT the pacer is exact (no slack), and a real event loop wakes its timer 50-150 us
// late. If each late wake-up restarted the pacing schedule, the sender would be held to about
// one packet per wake-up however large cwnd grew; it must catch up on the packets it owes
// instead (Options::pacing_max_lag). 100 ms RTT, wake-ups on a 100 us grid, 24 MiB to send.
Duration LateWakeupTransfer(const Options& o) {
  Pair p(o);
  EXPECT_TRUE(p.Connect());
  p.keep_messages = false;
  const std::vector<uint8_t> msg(64 * 1024, 0x5a);
  constexpr int kMessages = 384;  // 24 MiB
  int queued = 0;
  auto refill = [&] {  // as much as the send buffer takes
    while (queued < kMessages && p.a().Send(p.now(), StreamId(1), Ppid(53), msg) == SendStatus::kOk)
      ++queued;
  };
  refill();
  const Duration one_way = Duration::Millis(50);
  std::deque<std::pair<Instant, std::vector<uint8_t>>> to_a, to_b;
  const Instant start = p.now();
  for (int step = 0; step < 100000 && (queued < kMessages || p.a().total_buffered_amount() > 0); ++step) {
    p.Advance(Duration::Micros(100));
    while (!to_b.empty() && to_b.front().first <= p.now()) {
      p.b().HandlePacket(p.now(), to_b.front().second);
      to_b.pop_front();
    }
    while (!to_a.empty() && to_a.front().first <= p.now()) {
      p.a().HandlePacket(p.now(), to_a.front().second);
      to_a.pop_front();
    }
    if (p.side_a().deadline <= p.now()) p.a().HandleTimeout(p.now());
    if (p.side_b().deadline <= p.now()) p.b().HandleTimeout(p.now());
    p.Drain(p.side_a());
    p.Drain(p.side_b());
    for (auto& pkt : p.side_a().outbox)
      to_b.emplace_back(p.now() + one_way, std::move(pkt));
    for (auto& pkt : p.side_b().outbox)
      to_a.emplace_back(p.now() + one_way, std::move(pkt));
    p.side_a().outbox.clear();
    p.side_b().outbox.clear();
    refill();
  }
  EXPECT_EQ(p.a().total_buffered_amount(), 0u);
  EXPECT_EQ(p.a().metrics().retransmissions, 0u);
  return p.now() - start;
}

TEST(AssociationPacing, LateTimerWakeupsDoNotCapThePacingRateAtLongRtt) {
  const Duration caught_up = LateWakeupTransfer(Options{});
  Options restart;
  restart.pacing_max_lag = Duration::Zero();  // the schedule restarts at every late wake-up
  const Duration restarted = LateWakeupTransfer(restart);
  // Measured: 1.9 s against 6.6 s; cwnd-limited (4 MiB window) the ideal is ~1.7 s.
  EXPECT_LT(caught_up, Duration::Millis(2300)) << caught_up.ToString();
  EXPECT_LT(caught_up.nanos() * 3, restarted.nanos() * 2)
      << "caught up " << caught_up.ToString() << ", restarted " << restarted.ToString();
}

// RecycleBuffer: spare packet buffers are kept while data is in flight (a bulk transfer builds
// its packets in them) and freed once everything is acknowledged, so the many idle associations
// of a server hold none.
TEST(Association, SpareBuffersAreKeptOnlyWhileDataIsInFlight) {
  Pair p;
  ASSERT_TRUE(p.Connect());
  EXPECT_EQ(p.a().spare_buffers(), 0u);
  size_t most = 0;
  p.set_filter([&](bool, std::vector<uint8_t>&) {
    most = std::max(most, p.a().spare_buffers());
    return false;
  });
  ASSERT_EQ(p.a().Send(p.now(), StreamId(1), kPpidBinary, Bytes(200 * 1000)), SendStatus::kOk);
  p.RunFor(Duration::Seconds(5));
  ASSERT_EQ(p.side_b().messages.size(), 1u);
  EXPECT_GT(most, 0u);
  EXPECT_EQ(p.a().spare_buffers(), 0u);
  EXPECT_EQ(p.b().spare_buffers(), 0u);
  // A buffer handed back while idle is not kept either.
  p.a().RecycleBuffer(std::vector<uint8_t>(2000));
  EXPECT_EQ(p.a().spare_buffers(), 0u);
}

// MessageBufferPool: the block of an acknowledged message and the block of a delivered one
// that the application handed back are the blocks the next large messages use, on both
// sides and with both chunk formats.
void ExpectMessageBlocksReused(const Options& o) {
  Pair p(o);
  ASSERT_TRUE(p.Connect());
  const size_t n = 64 * 1024;
  std::vector<uint8_t> first = p.a().TakeMessageBuffer(n);
  EXPECT_EQ(first.capacity(), 0u);  // nothing finished yet
  first = Bytes(n, 1);
  const uint8_t* sent_block = first.data();
  ASSERT_EQ(p.a().Send(p.now(), StreamId(1), kPpidBinary, std::move(first)), SendStatus::kOk);
  p.RunFor(Duration::Millis(300));
  ASSERT_EQ(p.side_b().messages.size(), 1u);
  EXPECT_EQ(p.side_b().messages[0].payload, Bytes(n, 1));
  // Acknowledged: the sender's block is spare and comes back for the next message.
  EXPECT_EQ(p.a().spare_message_buffers(), 1u);
  std::vector<uint8_t> second = p.a().TakeMessageBuffer(n);
  EXPECT_EQ(second.data(), sent_block);
  EXPECT_GE(second.capacity(), n);
  EXPECT_TRUE(second.empty());
  EXPECT_EQ(p.a().spare_message_buffers(), 0u);
  // Delivered and handed back: the receiver reassembles the next message in that block.
  const uint8_t* received_block = p.side_b().messages[0].payload.data();
  p.b().RecycleMessageBuffer(std::move(p.side_b().messages[0].payload));
  EXPECT_EQ(p.b().spare_message_buffers(), 1u);
  const std::vector<uint8_t> expect = Bytes(n, 2);
  second.assign(expect.begin(), expect.end());
  ASSERT_EQ(second.data(), sent_block);  // filled in place
  ASSERT_EQ(p.a().Send(p.now(), StreamId(1), kPpidBinary, std::move(second)), SendStatus::kOk);
  p.RunFor(Duration::Millis(300));
  ASSERT_EQ(p.side_b().messages.size(), 2u);
  EXPECT_EQ(p.side_b().messages[1].payload, expect);
  EXPECT_EQ(p.side_b().messages[1].payload.data(), received_block);
  EXPECT_EQ(p.b().spare_message_buffers(), 0u);
  EXPECT_TRUE(p.a().IsConsistent());
  EXPECT_TRUE(p.b().IsConsistent());
}

TEST(Association, MessageBlocksAreReusedWithIData) {
  ExpectMessageBlocksReused(Options{});
}

TEST(Association, MessageBlocksAreReusedWithPlainData) {
  Options o;
  o.enable_interleaving = false;
  ExpectMessageBlocksReused(o);
}

// The pool keeps at most kMaxBuffers blocks and kMaxBytes, only blocks of a useful size, and
// nothing once it has gone unused for a second or two; a closed association keeps nothing.
TEST(Association, MessageBufferPoolIsBoundedAndEmptiedWhenIdle) {
  Pair p;
  ASSERT_TRUE(p.Connect());
  auto block = [](size_t capacity) {
    std::vector<uint8_t> v;
    v.reserve(capacity);
    return v;
  };
  p.a().RecycleMessageBuffer(block(1024));  // too small to be worth keeping
  p.a().RecycleMessageBuffer(block(MessageBufferPool::kMaxCapacity + 1));
  EXPECT_EQ(p.a().spare_message_buffers(), 0u);
  for (int i = 0; i < 200; ++i)
    p.a().RecycleMessageBuffer(block(48 * 1024));
  EXPECT_LE(p.a().spare_message_buffers(), MessageBufferPool::kMaxBuffers);
  EXPECT_LE(p.a().spare_message_bytes(), MessageBufferPool::kMaxBytes);
  EXPECT_GT(p.a().spare_message_bytes(), MessageBufferPool::kMaxBytes / 2);
  EXPECT_TRUE(p.a().IsConsistent());
  // The smallest block that fits is taken; none fits a larger message.
  p.a().RecycleMessageBuffer(block(MessageBufferPool::kMaxCapacity));
  EXPECT_EQ(p.a().TakeMessageBuffer(200 * 1024).capacity(), 0u);  // the pool was full
  EXPECT_GE(p.a().TakeMessageBuffer(40 * 1024).capacity(), 48u * 1024);
  // A block given back unused (its send was refused) is spare again and not counted as reused.
  const size_t spare = p.a().spare_message_buffers();
  const uint64_t reused = p.a().metrics().message_buffers_reused;
  auto unused = p.a().TakeMessageBuffer(40 * 1024);
  ASSERT_GE(unused.capacity(), 40u * 1024);
  EXPECT_EQ(p.a().metrics().message_buffers_reused, reused + 1);
  p.a().ReturnUnusedMessageBuffer(std::move(unused));
  EXPECT_EQ(p.a().spare_message_buffers(), spare);
  EXPECT_EQ(p.a().metrics().message_buffers_reused, reused);
  p.a().ReturnUnusedMessageBuffer({});  // Take found nothing: nothing to give back
  EXPECT_EQ(p.a().metrics().message_buffers_reused, reused);
  p.RunFor(Duration::Millis(500));
  EXPECT_GT(p.a().spare_message_buffers(), 0u);
  p.RunFor(Duration::Seconds(2));
  EXPECT_EQ(p.a().spare_message_buffers(), 0u);
  EXPECT_EQ(p.a().spare_message_bytes(), 0u);
  p.a().RecycleMessageBuffer(block(64 * 1024));
  EXPECT_EQ(p.a().spare_message_buffers(), 1u);
  p.a().Abort(p.now(), "done");
  p.RunFor(Duration::Millis(10));
  p.a().RecycleMessageBuffer(block(64 * 1024));
  EXPECT_EQ(p.a().spare_message_buffers(), 0u);
}

// Sends `n` messages of `size` bytes from A on stream 1, message i filled from seed i; then
// (ExpectNumberedArrive) runs for `how_long` and checks B got exactly those, in order.
void SendNumbered(Pair& p, uint8_t n, size_t size) {
  for (uint8_t i = 0; i < n; ++i)
    ASSERT_EQ(p.a().Send(p.now(), StreamId(1), kPpidBinary, Bytes(size, i)), SendStatus::kOk);
}
void ExpectNumberedArrive(Pair& p, uint8_t n, size_t size, Duration how_long) {
  p.RunFor(how_long);
  ASSERT_EQ(p.side_b().messages.size(), n);
  for (uint8_t i = 0; i < n; ++i)
    EXPECT_EQ(p.side_b().messages[i].payload, Bytes(size, i)) << int{i};
}

// Keeps A's send queue full against the liar; returns the most A held for retransmission.
size_t FeedTheLiar(Pair& p, Duration how_long) {
  size_t most = 0;
  const Instant end = p.now() + how_long;
  for (int step = 0; step < 100000 && p.now() < end && !p.side_a().closed; ++step) {
    for (int i = 0; i < 1000; ++i)
      if (p.a().Send(p.now(), StreamId(1), kPpidBinary, Bytes(64 * 1024)) != SendStatus::kOk) break;
    p.RunFor(Duration::Millis(50));
    most = std::max(most, p.a().metrics().retransmit_buffer);
  }
  return most;
}

TEST(Association, RetransmitBufferIsBoundedAgainstAReceiverThatNeverAcksCumulatively) {
  Options o;
  o.max_retransmit_buffer = 8 * 1024 * 1024;
  // As over DTLS (peer::Connection, where ICE consent proves the path): a HEARTBEAT ACK would
  // restart the error counter, and the liar's own SCTP answers them.
  o.enable_heartbeat = false;
  Pair p(o);
  ASSERT_TRUE(p.Connect());
  testing::LieAboutAcks(p);
  const size_t most = FeedTheLiar(p, Duration::Seconds(600));
  const Metrics m = p.a().metrics();
  std::printf("liar: held at most %zu bytes, %llu chunks sent, %llu fast retransmits, %llu T3 expiries\n", most,
              static_cast<unsigned long long>(m.data_chunks_sent), static_cast<unsigned long long>(m.fast_retransmits),
              static_cast<unsigned long long>(m.t3_expiries));
  EXPECT_GT(most, o.max_retransmit_buffer - 2 * o.mtu);  // it did fill up
  EXPECT_LE(most, o.max_retransmit_buffer + o.mtu);
  // The first chunk is never acknowledged, so its retransmissions count as failures (RFC 9260
  // section 8.3) although SACKs keep arriving: after Max.Retrans timeouts the association gives
  // up and frees what it held.
  ASSERT_TRUE(p.side_a().closed.has_value());
  EXPECT_NE(p.side_a().closed->reason.find("peer unreachable"), std::string::npos) << p.side_a().closed->reason;
  EXPECT_EQ(p.a().metrics().retransmit_buffer, 0u);
  EXPECT_EQ(m.t3_expiries, static_cast<uint64_t>(o.max_retransmissions) + 1);
  // The unacknowledged chunk is sent again only after more new data has been acknowledged (about
  // one in fifteen chunks here), not in a loop: RACK orders by transmission, not by time and TSN.
  EXPECT_LT(m.fast_retransmits * 10, m.data_chunks_sent);
}

// The bound is flow control for an honest peer too: with a buffer of a few packets and loss,
// everything still arrives, in order, and no more than the bound is ever held.
TEST(Association, SmallRetransmitBufferStillDeliversEverythingUnderLoss) {
  Options o;
  o.max_retransmit_buffer = 8 * o.mtu;
  Pair p(o);
  ASSERT_TRUE(p.Connect());
  int n = 0;
  size_t most = 0;
  p.set_filter([&](bool from_a, std::vector<uint8_t>&) {
    most = std::max(most, p.a().metrics().retransmit_buffer);
    return from_a && (++n % 11 == 5);
  });
  SendNumbered(p, 20, 50 * 1000);
  ExpectNumberedArrive(p, 20, 50 * 1000, Duration::Seconds(60));
  EXPECT_GT(p.a().metrics().retransmissions, 0u);
  EXPECT_LE(most, o.max_retransmit_buffer + o.mtu);
  EXPECT_EQ(p.a().metrics().retransmit_buffer, 0u);
  EXPECT_TRUE(p.a().IsConsistent());
}

// Rewrites the gap blocks of a packet that holds one SACK with gap blocks and nothing else:
// `edit` gets them in order and returns false to leave the packet alone. True if rewritten.
bool EditSackBlocks(std::vector<uint8_t>& pkt, const std::function<bool(std::vector<GapAckBlock>&)>& edit) {
  auto v = PacketView::Parse(pkt, true, false);
  if (!v || v->chunk_count() != 1) return false;
  auto it = v->chunks();
  ChunkView c;
  if (!it.Next(&c) || c.type != static_cast<uint8_t>(ChunkType::kSack)) return false;
  auto sack = SackChunk::Parse(c);
  if (!sack || sack->gap_block_count == 0) return false;
  std::vector<GapAckBlock> gaps;
  for (size_t i = 0; i < sack->gap_block_count; ++i)
    gaps.push_back(sack->gap_block(i));
  if (!edit(gaps)) return false;
  std::vector<Tsn> dups;
  for (size_t i = 0; i < sack->duplicate_count; ++i)
    dups.push_back(sack->duplicate(i));
  std::vector<uint8_t> out(1200);
  PacketBuilder b(out, 5000, 5000, v->header().verification_tag);
  SackChunk::Serialize(b.writer(), sack->cumulative_tsn_ack, sack->a_rwnd, gaps, dups);
  out.resize(b.Finish(false));
  pkt = std::move(out);
  return true;
}

// Drops A's DATA packets whose number (from 1) is in `lost`, and passes each of B's SACKs
// through EditSackBlocks(`edit`); the returned counter says how many were rewritten.
std::shared_ptr<int> LoseDataAndEditSacks(Pair& p,
                                          std::set<int> lost,
                                          std::function<bool(std::vector<GapAckBlock>&)> edit) {
  auto edited = std::make_shared<int>(0);
  p.set_filter([lost = std::move(lost), edit = std::move(edit), edited, data_packets = 0](
                   bool from_a, std::vector<uint8_t>& pkt) mutable {
    if (from_a) return HasChunk(pkt, ChunkType::kIData) && lost.count(++data_packets) > 0;
    if (EditSackBlocks(pkt, edit)) ++*edited;
    return false;
  });
  return edited;
}

// Gap blocks out of order, repeated and nested (a peer's mistake, or an attempt to make the
// sender walk its window many times per SACK) acknowledge exactly what they cover: with two
// packets lost and every SACK's blocks so mangled, exactly those two chunks are sent again.
TEST(Association, GapBlocksOutOfOrderOrRepeatedAckWhatTheyCover) {
  Pair p;
  ASSERT_TRUE(p.Connect());
  auto mangled = LoseDataAndEditSacks(p, {3, 6}, [](std::vector<GapAckBlock>& gaps) {
    std::vector<GapAckBlock> mangled_gaps;
    for (size_t i = gaps.size(); i-- > 0;) {
      const GapAckBlock g = gaps[i];
      mangled_gaps.insert(mangled_gaps.end(), {g, {g.start, g.start}, g, {g.end, g.end}});
    }
    gaps = std::move(mangled_gaps);
    return true;
  });
  SendNumbered(p, 20, 20 * 1000);
  ExpectNumberedArrive(p, 20, 20 * 1000, Duration::Seconds(10));
  EXPECT_GT(*mangled, 0);
  EXPECT_EQ(p.a().metrics().retransmissions, 2u);
  EXPECT_EQ(p.a().metrics().t3_expiries, 0u);
  EXPECT_TRUE(p.a().IsConsistent());
}

// A gap block that starts at offset 1 claims the very chunk the SACK's cumulative ack says is
// missing. Believed, the lost chunk would count as delivered and never be sent again, and the
// receiver would wait for it for good; it is sent again and everything arrives.
TEST(Association, GapBlockClaimingTheMissingChunkDoesNotAckIt) {
  Pair p;
  ASSERT_TRUE(p.Connect());
  auto claimed = LoseDataAndEditSacks(p, {3}, [](std::vector<GapAckBlock>& gaps) {
    if (gaps[0].start != 2) return false;
    gaps[0].start = 1;
    return true;
  });
  SendNumbered(p, 10, 20 * 1000);
  ExpectNumberedArrive(p, 10, 20 * 1000, Duration::Seconds(10));
  EXPECT_GT(*claimed, 0);
  EXPECT_GE(p.a().metrics().retransmissions, 1u);
  EXPECT_TRUE(p.a().IsConsistent());
}

}  // namespace
}  // namespace peerlink::sctp
