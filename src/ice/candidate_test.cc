#include "src/ice/candidate.h"

#include <gtest/gtest.h>

namespace peerlink::ice {
namespace {

TEST(Candidate, PriorityFollowsRfc8445Formula) {
  EXPECT_EQ(ComputePriority(126, 65535, 1), (126u << 24) | (65535u << 8) | 255u);
  EXPECT_GT(ComputePriority(TypePreference(CandidateType::kHost), 1, 1),
            ComputePriority(TypePreference(CandidateType::kPeerReflexive), 65535, 1));
  EXPECT_GT(ComputePriority(TypePreference(CandidateType::kServerReflexive), 0, 1),
            ComputePriority(TypePreference(CandidateType::kRelayed), 65535, 1));
}

TEST(Candidate, PairPriorityFavoursControllingSideAndBreaksTies) {
  EXPECT_EQ(PairPriority(10, 20), (10ull << 32) + 40 + 0);
  EXPECT_EQ(PairPriority(20, 10), (10ull << 32) + 40 + 1);
}

TEST(Candidate, SdpRoundTripWithRelatedAddress) {
  Candidate c;
  c.foundation = "4234997325";
  c.priority = 1686052607;
  c.address = *SocketAddress::Parse("203.0.113.5:61000");
  c.type = CandidateType::kServerReflexive;
  c.related = SocketAddress::Parse("10.0.1.2:5000");
  const std::string sdp = c.ToSdp();
  EXPECT_EQ(sdp, "candidate:4234997325 1 udp 1686052607 203.0.113.5 61000 typ srflx raddr 10.0.1.2 rport 5000");
  auto parsed = Candidate::ParseSdp("a=" + sdp + "\r\n");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, c);
}

TEST(Candidate, HidingAddressesNamesTheHostAndZeroesRelatedAddresses) {
  Candidate host;
  host.foundation = "1";
  host.priority = 2122260223;
  host.address = *SocketAddress::Parse("192.168.1.20:50000");
  EXPECT_EQ(host.ToSdpHidingAddresses("0a1b2c3d-1111-4222-8333-444455556666.local"),
            "candidate:1 1 udp 2122260223 0a1b2c3d-1111-4222-8333-444455556666.local 50000 typ host");
  Candidate srflx;
  srflx.foundation = "2";
  srflx.priority = 1686052607;
  srflx.address = *SocketAddress::Parse("203.0.113.5:61000");
  srflx.type = CandidateType::kServerReflexive;
  srflx.related = SocketAddress::Parse("192.168.1.20:50000");
  EXPECT_EQ(srflx.ToSdpHidingAddresses(""),
            "candidate:2 1 udp 1686052607 203.0.113.5 61000 typ srflx raddr 0.0.0.0 rport 0");
  Candidate relay = srflx;
  relay.type = CandidateType::kRelayed;
  relay.address = *SocketAddress::Parse("[2001:db8::7]:3478");
  relay.related = SocketAddress::Parse("[2001:db8::1]:40000");
  EXPECT_EQ(relay.ToSdpHidingAddresses(""), "candidate:2 1 udp 1686052607 2001:db8::7 3478 typ relay raddr :: rport 0");
  // What it produces parses back (only the hidden parts differ).
  auto parsed = Candidate::ParseSdp(srflx.ToSdpHidingAddresses(""));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->address, srflx.address);
  EXPECT_EQ(parsed->related, SocketAddress::Parse("0.0.0.0:0"));
}

TEST(Candidate, ParsesBrowserStyleCandidatesWithExtensions) {
  // Chromium style, with generation / ufrag / network-id / network-cost extensions.
  auto c = Candidate::ParseSdp(
      "candidate:842163049 1 udp 1677729535 198.51.100.10 50768 typ srflx raddr 0.0.0.0 rport 0 generation 0 "
      "ufrag Yx8S network-cost 999");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->type, CandidateType::kServerReflexive);
  EXPECT_EQ(c->address.port(), 50768);
  // Firefox style IPv6 host.
  auto v6 = Candidate::ParseSdp("candidate:0 1 UDP 2122252543 2001:db8::1 49203 typ host");
  ASSERT_TRUE(v6.ok());
  EXPECT_TRUE(v6->address.ip().is_v6());
}

TEST(Candidate, RejectsMalformedWithNamedField) {
  auto short_line = Candidate::ParseSdp("candidate:1 1 udp 100 1.2.3.4");
  ASSERT_FALSE(short_line.ok());
  EXPECT_EQ(short_line.error().code, ParseErrorCode::kTruncated);
  auto bad_port = Candidate::ParseSdp("candidate:1 1 udp 100 1.2.3.4 70000 typ host");
  ASSERT_FALSE(bad_port.ok());
  EXPECT_STREQ(bad_port.error().what, "candidate port");
  auto bad_type = Candidate::ParseSdp("candidate:1 1 udp 100 1.2.3.4 7 typ magic");
  ASSERT_FALSE(bad_type.ok());
  auto mdns = Candidate::ParseSdp("candidate:1 1 udp 100 0a1b2c3d-aaaa.local 7 typ host");
  ASSERT_FALSE(mdns.ok());
  EXPECT_EQ(mdns.error().code, ParseErrorCode::kUnsupported);
  EXPECT_FALSE(Candidate::ParseSdp("candidate:1 1 sctp 100 1.2.3.4 7 typ host").ok());
  EXPECT_FALSE(Candidate::ParseSdp("candidate:1 0 udp 100 1.2.3.4 7 typ host").ok());
}

}  // namespace
}  // namespace peerlink::ice
