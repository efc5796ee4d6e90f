// turn::Server on its own: requests built by hand, responses checked on the wire.
#include "src/turn/server.h"

#include <gtest/gtest.h>

#include <functional>

#include "src/stun/credentials.h"
#include "src/turn/turn_test_harness.h"
#include "src/turn/wire.h"

namespace peerlink::turn {
namespace {

using testing::kClientAddr;
using testing::kPeerA;
using testing::kPeerB;
using testing::kRelayIp;
using testing::ServerOpts;

using AddAttrs = std::function<void(stun::StunMessageBuilder&)>;

class ServerTest : public ::testing::Test {
 protected:
  ServerTest() : server_(ServerOpts(), rng_, now_) {}

  // Drains the server; returns the messages for the client, collects the rest.
  std::vector<std::vector<uint8_t>> Drain() {
    std::vector<std::vector<uint8_t>> to_client;
    for (;;) {
      ServerOutput o = server_.PollOutput(now_);
      if (auto* t = std::get_if<ToClient>(&o)) {
        to_client.push_back(t->data);
      } else if (auto* p = std::get_if<ToPeer>(&o)) {
        to_peer_.push_back(*p);
      } else if (auto* c = std::get_if<RelayClosed>(&o)) {
        closed_.push_back(c->relayed);
      } else if (std::holds_alternative<RelayOpened>(o)) {
        continue;
      } else {
        deadline_ = std::get<Deadline>(o).at;
        break;
      }
    }
    EXPECT_TRUE(server_.IsConsistent());
    return to_client;
  }

  // Sends a request and returns the single response (raw bytes).
  std::vector<uint8_t> Request(stun::Method m,
                               const AddAttrs& add,
                               bool auth = true,
                               std::string_view password = "wonderland") {
    stun::StunMessageBuilder b(m, stun::StunClass::kRequest, stun::RandomTransactionId(rng_));
    add(b);
    if (auth) {
      b.AddString(stun::attr::kUsername, "alice");
      b.AddString(stun::attr::kRealm, "peerlink.test");
      b.AddString(stun::attr::kNonce, nonce_);
      b.AddMessageIntegrity(stun::LongTermKey("alice", "peerlink.test", password));
    }
    b.AddFingerprint();
    last_request_ = std::move(b).Finish();
    server_.HandleFromClient(now_, kClientAddr, last_request_);
    auto out = Drain();
    EXPECT_EQ(out.size(), 1u);
    return out.empty() ? std::vector<uint8_t>{} : out[0];
  }

  static uint16_t Code(const std::vector<uint8_t>& response) {
    auto m = stun::StunMessage::Parse(response);
    if (!m.ok()) return 1;
    if (m->cls() == stun::StunClass::kSuccessResponse) return 0;
    auto ec = m->GetErrorCode();
    return ec ? ec->code : 2;
  }

  void GetNonce() {
    auto r = Request(
        stun::Method::kAllocate, [](auto& b) { b.AddRequestedTransport(kProtocolUdp); }, false);
    auto m = stun::StunMessage::Parse(r);
    ASSERT_TRUE(m.ok());
    nonce_ = std::string(*m->GetString(stun::attr::kNonce));
  }

  SocketAddress Allocate() {
    GetNonce();
    auto r = Request(stun::Method::kAllocate, [](auto& b) { b.AddRequestedTransport(kProtocolUdp); });
    EXPECT_EQ(Code(r), 0);
    auto m = stun::StunMessage::Parse(r);
    EXPECT_TRUE(m->VerifyMessageIntegrity(stun::LongTermKey("alice", "peerlink.test", "wonderland")));
    return *m->GetXorAddress(stun::attr::kXorRelayedAddress);
  }

  uint16_t Permit(const SocketAddress& peer) {
    return Code(
        Request(stun::Method::kCreatePermission, [&](auto& b) { b.AddXorAddress(stun::attr::kXorPeerAddress, peer); }));
  }

  uint16_t Bind(uint16_t channel, const SocketAddress& peer) {
    return Code(Request(stun::Method::kChannelBind, [&](auto& b) {
      b.AddChannelNumber(channel);
      b.AddXorAddress(stun::attr::kXorPeerAddress, peer);
    }));
  }

  void SendIndication(const SocketAddress& peer, std::string_view data) {
    stun::StunMessageBuilder b(stun::Method::kSend, stun::StunClass::kIndication, stun::RandomTransactionId(rng_));
    b.AddXorAddress(stun::attr::kXorPeerAddress, peer);
    b.AddBytes(stun::attr::kData, AsBytes(data));
    server_.HandleFromClient(now_, kClientAddr, std::move(b).Finish());
    Drain();
  }

  SeededRng rng_{3};
  Instant now_ = Instant::FromNanos(int64_t{5} * 1000 * 1000 * 1000);
  Server server_;
  std::string nonce_;
  std::vector<uint8_t> last_request_;
  std::vector<ToPeer> to_peer_;
  std::vector<SocketAddress> closed_;
  Instant deadline_ = Instant::Max();
};

TEST_F(ServerTest, UnauthenticatedRequestGets401WithRealmAndNonce) {
  auto r = Request(
      stun::Method::kAllocate, [](auto& b) { b.AddRequestedTransport(kProtocolUdp); }, false);
  auto m = stun::StunMessage::Parse(r);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(Code(r), 401);
  EXPECT_EQ(m->GetString(stun::attr::kRealm), "peerlink.test");
  EXPECT_TRUE(m->Has(stun::attr::kNonce));
  EXPECT_FALSE(m->HasMessageIntegrity());
  EXPECT_TRUE(m->VerifyFingerprint());
  EXPECT_EQ(server_.allocation_count(), 0u);
}

TEST_F(ServerTest, BadMessageIntegrityGets401) {
  GetNonce();
  auto r = Request(
      stun::Method::kAllocate, [](auto& b) { b.AddRequestedTransport(kProtocolUdp); }, true, "wrong");
  EXPECT_EQ(Code(r), 401);
  EXPECT_EQ(server_.stats().auth_failures, 1u);
  EXPECT_EQ(server_.allocation_count(), 0u);
}

TEST_F(ServerTest, ExpiredNonceGets438WithAFreshOne) {
  GetNonce();
  now_ = now_ + Duration::Seconds(86401);
  auto r = Request(stun::Method::kAllocate, [](auto& b) { b.AddRequestedTransport(kProtocolUdp); });
  EXPECT_EQ(Code(r), 438);
  auto m = stun::StunMessage::Parse(r);
  ASSERT_TRUE(m.ok());
  auto fresh = m->GetString(stun::attr::kNonce);
  ASSERT_TRUE(fresh);
  EXPECT_NE(*fresh, nonce_);
  nonce_ = std::string(*fresh);
  EXPECT_EQ(Code(Request(stun::Method::kAllocate, [](auto& b) { b.AddRequestedTransport(kProtocolUdp); })), 0);
}

TEST_F(ServerTest, ForgedNonceGets438) {
  GetNonce();
  nonce_[0] = nonce_[0] == '0' ? '1' : '0';
  EXPECT_EQ(Code(Request(stun::Method::kAllocate, [](auto& b) { b.AddRequestedTransport(kProtocolUdp); })), 438);
}

TEST_F(ServerTest, AllocateChecks) {
  GetNonce();
  EXPECT_EQ(Code(Request(stun::Method::kAllocate, [](auto&) {})), 400);  // no REQUESTED-TRANSPORT
  EXPECT_EQ(Code(Request(stun::Method::kAllocate, [](auto& b) { b.AddRequestedTransport(6); })), 442);
  EXPECT_EQ(Code(Request(stun::Method::kAllocate,
                         [](auto& b) {
                           b.AddRequestedTransport(kProtocolUdp);
                           b.AddRequestedAddressFamily(IpFamily::kV6);
                         })),
            440);
  EXPECT_EQ(Code(Request(stun::Method::kRefresh, [](auto&) {})), 437);  // no allocation yet
  EXPECT_EQ(Code(Request(stun::Method::kAllocate, [](auto& b) { b.AddRequestedTransport(kProtocolUdp); })), 0);
  const auto first = last_request_;
  // A retransmission gets the same answer; a new Allocate on the 5-tuple gets 437.
  server_.HandleFromClient(now_, kClientAddr, first);
  auto again = Drain();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(Code(again[0]), 0);
  EXPECT_EQ(Code(Request(stun::Method::kAllocate, [](auto& b) { b.AddRequestedTransport(kProtocolUdp); })), 437);
  EXPECT_EQ(server_.allocation_count(), 1u);
}

TEST_F(ServerTest, OtherUsersCannotUseAnAllocation) {
  Allocate();
  stun::StunMessageBuilder b(stun::Method::kRefresh, stun::StunClass::kRequest, stun::RandomTransactionId(rng_));
  b.AddString(stun::attr::kUsername, "bob");
  b.AddString(stun::attr::kRealm, "peerlink.test");
  b.AddString(stun::attr::kNonce, nonce_);
  b.AddMessageIntegrity(stun::LongTermKey("bob", "peerlink.test", "builder"));
  server_.HandleFromClient(now_, kClientAddr, std::move(b).Finish());
  auto out = Drain();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(Code(out[0]), 441);
}

TEST_F(ServerTest, EnforcesPermissionsOnRelayedTraffic) {
  const SocketAddress relayed = Allocate();
  EXPECT_EQ(relayed, SocketAddress(kRelayIp, 49152));
  // Without a permission nothing passes in either direction.
  SendIndication(kPeerA, "out");
  server_.HandleFromPeer(now_, relayed, kPeerA, AsBytes("in"));
  EXPECT_TRUE(Drain().empty());
  EXPECT_TRUE(to_peer_.empty());
  EXPECT_EQ(server_.stats().dropped, 2u);

  ASSERT_EQ(Permit(kPeerA), 0);
  SendIndication(kPeerA, "out");
  ASSERT_EQ(to_peer_.size(), 1u);
  EXPECT_EQ(to_peer_[0].relayed, relayed);
  EXPECT_EQ(to_peer_[0].peer, kPeerA);
  server_.HandleFromPeer(now_, relayed, SocketAddress(kPeerA.ip(), 9999), AsBytes("in"));  // any port of the IP
  auto in = Drain();
  ASSERT_EQ(in.size(), 1u);
  auto m = stun::StunMessage::Parse(in[0]);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->method(), stun::Method::kData);
  EXPECT_EQ(m->GetXorAddress(stun::attr::kXorPeerAddress), SocketAddress(kPeerA.ip(), 9999));
  // Peer B still has none.
  server_.HandleFromPeer(now_, relayed, kPeerB, AsBytes("in"));
  EXPECT_TRUE(Drain().empty());
  // Nor does traffic to an unknown relayed address go anywhere.
  server_.HandleFromPeer(now_, SocketAddress(kRelayIp, 1), kPeerA, AsBytes("in"));
  EXPECT_TRUE(Drain().empty());
}

TEST_F(ServerTest, ChannelBindRulesAndChannelData) {
  const SocketAddress relayed = Allocate();
  EXPECT_EQ(Bind(0x3FFF, kPeerA), 400);
  EXPECT_EQ(Bind(0x5000, kPeerA), 400);
  EXPECT_EQ(Bind(0x4000, kPeerA), 0);
  EXPECT_EQ(Bind(0x4000, kPeerA), 0);    // refresh
  EXPECT_EQ(Bind(0x4000, kPeerB), 400);  // number taken by another peer
  EXPECT_EQ(Bind(0x4001, kPeerA), 400);  // peer already on another number
  EXPECT_EQ(Bind(0x4001, SocketAddress(IpAddress::Loopback(IpFamily::kV6), 1)), 443);
  EXPECT_TRUE(server_.HasPermission(relayed, kPeerA.ip(), now_));  // the bind installed it

  server_.HandleFromClient(now_, kClientAddr, ChannelData::Build(0x4000, AsBytes("via channel"), false));
  server_.HandleFromClient(now_, kClientAddr, ChannelData::Build(0x4001, AsBytes("unbound"), false));
  Drain();
  ASSERT_EQ(to_peer_.size(), 1u);
  EXPECT_EQ(AsString(to_peer_[0].data), "via channel");
  server_.HandleFromPeer(now_, relayed, kPeerA, AsBytes("back"));
  auto in = Drain();
  ASSERT_EQ(in.size(), 1u);
  auto cd = ChannelData::Parse(in[0]);
  ASSERT_TRUE(cd.ok());
  EXPECT_EQ(cd->channel, 0x4000);
  EXPECT_EQ(AsString(cd->data), "back");
}

TEST_F(ServerTest, PermissionsChannelsAndAllocationsExpire) {
  const SocketAddress relayed = Allocate();
  ASSERT_EQ(Permit(kPeerA), 0);
  ASSERT_EQ(Bind(0x4000, kPeerB), 0);
  EXPECT_EQ(deadline_, now_ + Duration::Seconds(300));
  now_ = now_ + Duration::Seconds(300);
  server_.HandleTimeout(now_);
  Drain();
  EXPECT_FALSE(server_.HasPermission(relayed, kPeerA.ip(), now_));
  EXPECT_FALSE(server_.HasPermission(relayed, kPeerB.ip(), now_));
  EXPECT_EQ(server_.ChannelOf(relayed, kPeerB, now_), 0x4000);
  EXPECT_EQ(deadline_, now_ + Duration::Seconds(300));  // channel (600 s) and allocation (600 s)
  now_ = now_ + Duration::Seconds(300);
  server_.HandleTimeout(now_);
  Drain();
  EXPECT_EQ(server_.ChannelOf(relayed, kPeerB, now_), std::nullopt);
  EXPECT_EQ(server_.allocation_count(), 0u);
  EXPECT_EQ(closed_, std::vector<SocketAddress>{relayed});
  EXPECT_EQ(deadline_, Instant::Max());
}

TEST_F(ServerTest, RefreshWithZeroLifetimeDeletes) {
  const SocketAddress relayed = Allocate();
  auto r = Request(stun::Method::kRefresh, [](auto& b) { b.AddU32(stun::attr::kLifetime, 0); });
  EXPECT_EQ(Code(r), 0);
  EXPECT_EQ(server_.allocation_count(), 0u);
  EXPECT_EQ(closed_, std::vector<SocketAddress>{relayed});
  EXPECT_EQ(Code(Request(stun::Method::kRefresh, [](auto& b) { b.AddU32(stun::attr::kLifetime, 0); })), 437);
}

TEST_F(ServerTest, DropsGarbageAndAnswersUnknownAttributes) {
  const uint8_t junk[] = {0x00, 0x01, 0x00, 0x04, 1, 2, 3};
  server_.HandleFromClient(now_, kClientAddr, junk);
  EXPECT_TRUE(Drain().empty());
  EXPECT_EQ(server_.stats().dropped, 1u);
  auto r = Request(
      stun::Method::kAllocate, [](auto& b) { b.AddU32(0x0042, 1); }, false);
  EXPECT_EQ(Code(r), 420);
}

}  // namespace
}  // namespace peerlink::turn
