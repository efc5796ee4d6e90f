// Packet-level tests: turn::Client against turn::Server in memory, virtual time.
#include "src/turn/client.h"

#include <gtest/gtest.h>

#include <string>

#include "src/stun/credentials.h"
#include "src/turn/turn_test_harness.h"
#include "src/turn/wire.h"

namespace peerlink::turn {
namespace {

using testing::ClientOpts;
using testing::kClientAddr;
using testing::kPeerA;
using testing::kPeerB;
using testing::kRelayIp;
using testing::kServerAddr;
using testing::Net;
using testing::ServerOpts;

std::vector<uint8_t> Bytes(std::string_view s) {
  return {s.begin(), s.end()};
}

int CountRequests(const Net& n, stun::Method m) {
  return static_cast<int>(n.RequestTimes(m).size());
}

TEST(TurnClient, AllocatesAfter401Challenge) {
  Net n;
  n.AllocateOk();
  auto allocated = n.Events<AllocatedEvent>();
  ASSERT_EQ(allocated.size(), 1u);
  EXPECT_EQ(allocated[0].relayed, SocketAddress(kRelayIp, 49152));
  EXPECT_EQ(allocated[0].mapped, kClientAddr);
  EXPECT_EQ(allocated[0].lifetime, Duration::Seconds(600));
  EXPECT_EQ(n.client.relayed_address(), SocketAddress(kRelayIp, 49152));
  EXPECT_EQ(n.client.mapped_address(), kClientAddr);

  // First Allocate unauthenticated, second with the long-term credential attributes.
  ASSERT_EQ(n.to_server.size(), 2u);
  auto first = stun::StunMessage::Parse(n.to_server[0].bytes);
  auto second = stun::StunMessage::Parse(n.to_server[1].bytes);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_FALSE(first->HasMessageIntegrity());
  EXPECT_EQ(first->GetRequestedTransport(), kProtocolUdp);
  EXPECT_TRUE(first->VerifyFingerprint());
  EXPECT_EQ(second->GetString(stun::attr::kUsername), "alice");
  EXPECT_EQ(second->GetString(stun::attr::kRealm), "peerlink.test");
  EXPECT_TRUE(second->Has(stun::attr::kNonce));
  EXPECT_TRUE(second->VerifyMessageIntegrity(stun::LongTermKey("alice", "peerlink.test", "wonderland")));
  EXPECT_TRUE(second->VerifyFingerprint());
  EXPECT_NE(first->transaction_id(), second->transaction_id());
  EXPECT_EQ(n.server.stats().challenges, 1u);
  EXPECT_EQ(n.client.stats().requests_sent, 2u);
  EXPECT_EQ(n.opened, std::vector<SocketAddress>{SocketAddress(kRelayIp, 49152)});
}

TEST(TurnClient, WrongPasswordFailsWith401) {
  Options o = ClientOpts();
  o.password = "not-it";
  Net n(o);
  n.client.Allocate(n.now);
  n.Pump();
  EXPECT_EQ(n.client.state(), State::kFailed);
  auto failed = n.Events<AllocationFailedEvent>();
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].code, 401);
  EXPECT_NE(failed[0].reason.find("401"), std::string::npos) << failed[0].reason;
  EXPECT_NE(failed[0].reason.find("alice"), std::string::npos) << failed[0].reason;
  EXPECT_EQ(n.server.allocation_count(), 0u);
  EXPECT_EQ(n.client.SendToPeer(n.now, kPeerA, Bytes("x")), SendStatus::kNotAllocated);
}

TEST(TurnClient, RecoversFromStaleNonce) {
  ServerOptions so = ServerOpts();
  so.nonce_lifetime = Duration::Seconds(30);
  Net n(ClientOpts(), so);
  n.AllocateOk();
  n.Advance(Duration::Seconds(60));  // the nonce is now stale
  n.client.CreatePermission(n.now, kPeerA.ip());
  n.Pump();
  EXPECT_EQ(n.server.stats().stale_nonces, 1u);
  auto perms = n.Events<PermissionEvent>();
  ASSERT_EQ(perms.size(), 1u);
  EXPECT_TRUE(perms[0].ok);
  EXPECT_TRUE(n.server.HasPermission(*n.client.relayed_address(), kPeerA.ip(), n.now));
  // The Refresh at 450 s also meets a stale nonce and recovers.
  n.Advance(Duration::Seconds(900));
  EXPECT_EQ(n.client.state(), State::kAllocated);
  EXPECT_GE(n.server.stats().stale_nonces, 2u);
  EXPECT_EQ(n.server.allocation_count(), 1u);
}

TEST(TurnClient, GivesUpOnEndlessStaleNonces) {
  ServerOptions so = ServerOpts();
  so.nonce_lifetime = Duration::Zero();  // every nonce is stale on arrival
  Net n(ClientOpts(), so);
  n.client.Allocate(n.now);
  n.Pump();
  auto failed = n.Events<AllocationFailedEvent>();
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].code, 438);
  // One unauthenticated Allocate, one with the first nonce, then three retries.
  EXPECT_EQ(CountRequests(n, stun::Method::kAllocate), 5);
}

TEST(TurnClient, RefreshesAtThreeQuartersOfLifetime) {
  Net n;
  const Instant t0 = n.now;
  n.AllocateOk();
  n.Advance(Duration::Seconds(1000));
  auto refreshes = n.RequestTimes(stun::Method::kRefresh);
  ASSERT_EQ(refreshes.size(), 2u);
  EXPECT_EQ(refreshes[0] - t0, Duration::Seconds(450));  // min(3/4 * 600, 600 - 60)
  EXPECT_EQ(refreshes[1] - t0, Duration::Seconds(900));
  EXPECT_EQ(n.client.state(), State::kAllocated);
  EXPECT_EQ(n.server.allocation_count(), 1u);
}

TEST(TurnClient, RefreshesOneMinuteBeforeExpiryForShortLifetimes) {
  ServerOptions so = ServerOpts();
  so.default_lifetime = Duration::Seconds(120);
  so.max_lifetime = Duration::Seconds(120);
  Net n(ClientOpts(), so);
  const Instant t0 = n.now;
  n.AllocateOk();
  n.Advance(Duration::Seconds(130));
  auto refreshes = n.RequestTimes(stun::Method::kRefresh);
  ASSERT_EQ(refreshes.size(), 2u);
  EXPECT_EQ(refreshes[0] - t0, Duration::Seconds(60));  // min(90, 120 - 60)
  EXPECT_EQ(refreshes[1] - t0, Duration::Seconds(120));
  EXPECT_EQ(n.server.allocation_count(), 1u);
}

TEST(TurnClient, SendIndicationThenChannelDataBothDirections) {
  Net n;
  n.AllocateOk();
  const SocketAddress relayed = *n.client.relayed_address();

  // First send: queued until CreatePermission succeeds, then a Send indication
  // while the ChannelBind is outstanding.
  EXPECT_EQ(n.client.SendToPeer(n.now, kPeerA, Bytes("hello")), SendStatus::kQueued);
  n.Pump();
  ASSERT_EQ(n.to_peer.size(), 1u);
  EXPECT_EQ(n.to_peer[0].relayed, relayed);
  EXPECT_EQ(n.to_peer[0].peer, kPeerA);
  EXPECT_EQ(n.to_peer[0].data, Bytes("hello"));
  EXPECT_EQ(n.client.stats().send_indications_sent, 1u);
  EXPECT_EQ(CountRequests(n, stun::Method::kCreatePermission), 1);
  EXPECT_EQ(CountRequests(n, stun::Method::kChannelBind), 1);
  EXPECT_EQ(n.server.ChannelOf(relayed, kPeerA, n.now), kMinChannel);
  auto perm = n.Events<PermissionEvent>();
  ASSERT_EQ(perm.size(), 1u);
  EXPECT_TRUE(perm[0].ok);
  EXPECT_EQ(perm[0].peer, kPeerA.ip());

  // Bound: ChannelData from now on, in both directions.
  EXPECT_EQ(n.client.SendToPeer(n.now, kPeerA, Bytes("world")), SendStatus::kOk);
  n.Pump();
  ASSERT_EQ(n.to_peer.size(), 2u);
  EXPECT_EQ(n.to_peer[1].data, Bytes("world"));
  EXPECT_EQ(n.client.stats().channel_data_sent, 1u);
  EXPECT_TRUE(LooksLikeChannelData(n.to_server.back().bytes));
  EXPECT_EQ(n.to_server.back().bytes.size(), 4u + 5u);  // UDP: no padding

  n.FromPeer(kPeerA, Bytes("reply"));
  EXPECT_TRUE(LooksLikeChannelData(n.to_client.back().bytes));
  auto data = n.Events<PeerDataEvent>();
  ASSERT_EQ(data.size(), 1u);
  EXPECT_EQ(data[0].peer, kPeerA);
  EXPECT_EQ(data[0].data, Bytes("reply"));

  // Many payloads of varied sizes arrive intact, in order, both ways.
  SeededRng rng(7);
  std::vector<std::vector<uint8_t>> sent;
  for (int i = 0; i < 200; ++i) {
    std::vector<uint8_t> p(rng.Below(1400) + 1);
    rng.Fill(p);
    ASSERT_EQ(n.client.SendToPeer(n.now, kPeerA, p), SendStatus::kOk);
    n.Pump();
    n.FromPeer(kPeerA, p);
    sent.push_back(std::move(p));
  }
  data = n.Events<PeerDataEvent>();
  ASSERT_EQ(data.size(), 201u);
  for (size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(n.to_peer[i + 2].data, sent[i]);
    EXPECT_EQ(data[i + 1].data, sent[i]);
  }
  EXPECT_EQ(n.client.stats().bytes_to_peers, n.client.stats().bytes_from_peers + 5);  // hello+world vs reply
}

TEST(TurnClient, IndicationsOnlyWithoutChannels) {
  Options o = ClientOpts();
  o.use_channels = false;
  Net n(o);
  n.AllocateOk();
  EXPECT_EQ(n.client.SendToPeer(n.now, kPeerA, Bytes("a")), SendStatus::kQueued);
  n.Pump();
  EXPECT_EQ(n.client.SendToPeer(n.now, kPeerA, Bytes("b")), SendStatus::kOk);
  n.Pump();
  n.FromPeer(kPeerA, Bytes("c"));
  ASSERT_EQ(n.to_peer.size(), 2u);
  EXPECT_EQ(n.to_peer[1].data, Bytes("b"));
  EXPECT_EQ(n.client.stats().send_indications_sent, 2u);
  EXPECT_EQ(CountRequests(n, stun::Method::kChannelBind), 0);
  auto m = stun::StunMessage::Parse(n.to_client.back().bytes);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->method(), stun::Method::kData);
  auto data = n.Events<PeerDataEvent>();
  ASSERT_EQ(data.size(), 1u);
  EXPECT_EQ(data[0].data, Bytes("c"));
  EXPECT_EQ(data[0].peer, kPeerA);
}

TEST(TurnClient, PermissionRefreshedEvery240sWhileInUseThenLapses) {
  Options o = ClientOpts();
  o.use_channels = false;
  Net n(o);
  const Instant t0 = n.now;
  n.AllocateOk();
  ASSERT_EQ(n.client.SendToPeer(n.now, kPeerA, Bytes("x")), SendStatus::kQueued);
  for (int i = 0; i < 20; ++i) {  // in use for 1000 s
    n.Advance(Duration::Seconds(50));
    ASSERT_EQ(n.client.SendToPeer(n.now, kPeerA, Bytes("x")), SendStatus::kOk) << i;
    ASSERT_TRUE(n.server.HasPermission(*n.client.relayed_address(), kPeerA.ip(), n.now)) << i;
  }
  auto times = n.RequestTimes(stun::Method::kCreatePermission);
  ASSERT_EQ(times.size(), 5u);
  for (size_t i = 0; i < times.size(); ++i)
    EXPECT_EQ(times[i] - t0, Duration::Seconds(240) * static_cast<int64_t>(i));
  // Idle: not refreshed, the server forgets it, and the next send asks again.
  n.Advance(Duration::Seconds(600));
  EXPECT_EQ(n.RequestTimes(stun::Method::kCreatePermission).size(), 6u);  // the one at 1200 s (used at 1000 s)
  EXPECT_FALSE(n.server.HasPermission(*n.client.relayed_address(), kPeerA.ip(), n.now));
  EXPECT_EQ(n.client.SendToPeer(n.now, kPeerA, Bytes("again")), SendStatus::kQueued);
  n.Pump();
  EXPECT_EQ(n.to_peer.back().data, Bytes("again"));
}

TEST(TurnClient, ChannelRebindsBeforeExpiryWhileInUse) {
  Net n;
  const Instant t0 = n.now;
  n.AllocateOk();
  const SocketAddress relayed = *n.client.relayed_address();
  ASSERT_EQ(n.client.SendToPeer(n.now, kPeerA, Bytes("x")), SendStatus::kQueued);
  for (int i = 0; i < 26; ++i) {  // in use for 1300 s
    n.Advance(Duration::Seconds(50));
    ASSERT_EQ(n.client.SendToPeer(n.now, kPeerA, Bytes("x")), SendStatus::kOk);
    ASSERT_EQ(n.server.ChannelOf(relayed, kPeerA, n.now), kMinChannel) << i;
    n.Pump();
    ASSERT_EQ(n.to_peer.size(), static_cast<size_t>(i + 2)) << i;
  }
  auto binds = n.RequestTimes(stun::Method::kChannelBind);
  ASSERT_EQ(binds.size(), 3u);
  EXPECT_EQ(binds[0] - t0, Duration::Zero());
  EXPECT_EQ(binds[1] - t0, Duration::Seconds(540));
  EXPECT_EQ(binds[2] - t0, Duration::Seconds(1080));
  // Every send after the first went as ChannelData.
  EXPECT_EQ(n.client.stats().channel_data_sent, 26u);
  EXPECT_EQ(n.to_peer.size(), 27u);
}

TEST(TurnClient, RetransmitsWhenRequestsAreLost) {
  Net n;
  n.drop_to_server = [](size_t i, const std::vector<uint8_t>&) { return i < 3; };
  n.client.Allocate(n.now);
  n.Advance(Duration::Seconds(10));
  EXPECT_EQ(n.client.state(), State::kAllocated);
  EXPECT_EQ(n.client.stats().retransmits, 3u);
  auto allocs = n.RequestTimes(stun::Method::kAllocate);
  ASSERT_GE(allocs.size(), 4u);
  // RFC 8489 section 6.2.1 schedule: 0, 0.5, 1.5, 3.5 s.
  EXPECT_EQ(allocs[3] - allocs[0], Duration::Millis(3500));
}

TEST(TurnClient, LostAllocateSuccessIsResentByServer) {
  Net n;
  // Drop the success response (second message to the client): the
  // retransmitted Allocate gets the same answer, not 437.
  n.drop_to_client = [](size_t i, const std::vector<uint8_t>&) { return i == 1; };
  n.client.Allocate(n.now);
  n.Advance(Duration::Seconds(5));
  EXPECT_EQ(n.client.state(), State::kAllocated);
  EXPECT_EQ(n.server.allocation_count(), 1u);
  EXPECT_EQ(n.client.relayed_address(), n.server.RelayedAddressOf(kClientAddr));
  EXPECT_EQ(n.client.stats().retransmits, 1u);
}

TEST(TurnClient, SilentServerFailsAfter39500ms) {
  for (auto transport : {TransportProtocol::kUdp, TransportProtocol::kTcp}) {
    Net n(ClientOpts(transport));
    n.drop_to_server = [](size_t, const std::vector<uint8_t>&) { return true; };
    const Instant t0 = n.now;
    n.client.Allocate(n.now);
    n.Advance(Duration::Seconds(60));
    EXPECT_EQ(n.client.state(), State::kFailed);
    auto failed = n.Events<AllocationFailedEvent>();
    ASSERT_EQ(failed.size(), 1u);
    EXPECT_EQ(failed[0].code, 0);
    EXPECT_EQ(failed[0].reason, "TURN server " + kServerAddr.ToString() + " did not answer Allocate over " +
                                    std::string(ToString(transport)));
    EXPECT_EQ(*n.FirstEventTime<AllocationFailedEvent>() - t0, Duration::Millis(39500));
    EXPECT_EQ(n.to_server.size(), transport == TransportProtocol::kUdp ? 7u : 1u);
    // Once failed nothing is scheduled.
    EXPECT_EQ(n.client_deadline, Instant::Max());
  }
}

TEST(TurnClient, CloseDeallocates) {
  Net n;
  n.AllocateOk();
  ASSERT_EQ(n.client.SendToPeer(n.now, kPeerA, Bytes("x")), SendStatus::kQueued);
  n.Pump();
  n.client.Close(n.now);
  EXPECT_EQ(n.client.state(), State::kClosing);
  n.Pump();
  EXPECT_EQ(n.client.state(), State::kClosed);
  EXPECT_EQ(n.Events<ClosedEvent>().size(), 1u);
  EXPECT_EQ(n.server.allocation_count(), 0u);
  EXPECT_EQ(n.closed, n.opened);
  auto last = stun::StunMessage::Parse(n.to_server.back().bytes);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->method(), stun::Method::kRefresh);
  EXPECT_EQ(last->GetU32(stun::attr::kLifetime), 0u);
  EXPECT_EQ(n.client.SendToPeer(n.now, kPeerA, Bytes("x")), SendStatus::kNotAllocated);
  n.Advance(Duration::Seconds(3600));
  EXPECT_EQ(n.client_deadline, Instant::Max());
}

TEST(TurnClient, CloseGivesUpAfterBoundedWait) {
  Net n;
  n.AllocateOk();
  n.drop_to_server = [](size_t, const std::vector<uint8_t>&) { return true; };
  const Instant t0 = n.now;
  n.client.Close(n.now);
  n.Advance(Duration::Seconds(60));
  EXPECT_EQ(n.client.state(), State::kClosed);
  EXPECT_EQ(*n.FirstEventTime<ClosedEvent>() - t0, kCloseWait);
}

TEST(TurnClient, StreamTransportPadsChannelDataAndServerAcceptsIt) {
  for (auto transport : {TransportProtocol::kTcp, TransportProtocol::kTls}) {
    Net n(ClientOpts(transport));
    n.AllocateOk();
    ASSERT_EQ(n.client.SendToPeer(n.now, kPeerA, Bytes("12345")), SendStatus::kQueued);
    n.Pump();
    for (std::string_view p : {"a", "bc", "def", "ghij", "klmno"}) {
      ASSERT_EQ(n.client.SendToPeer(n.now, kPeerA, Bytes(p)), SendStatus::kOk);
      n.Pump();
      const auto& wire = n.to_server.back().bytes;
      ASSERT_TRUE(LooksLikeChannelData(wire));
      EXPECT_EQ(wire.size() % 4, 0u) << p;
      EXPECT_EQ(n.to_peer.back().data, Bytes(p));
      n.FromPeer(kPeerA, Bytes(p));
      EXPECT_EQ(n.to_client.back().bytes.size() % 4, 0u);
      EXPECT_EQ(n.Events<PeerDataEvent>().back().data, Bytes(p));
    }
    // The stream stayed framed: a later Refresh still works.
    n.Advance(Duration::Seconds(500));
    EXPECT_EQ(n.client.state(), State::kAllocated);
    EXPECT_EQ(CountRequests(n, stun::Method::kRefresh), 1);
    EXPECT_EQ(n.client.stats().retransmits, 0u);
  }
}

TEST(TurnClient, AcceptsPaddedAndUnpaddedChannelDataAndDropsUnknownChannels) {
  Net n;
  n.AllocateOk();
  ASSERT_EQ(n.client.SendToPeer(n.now, kPeerA, Bytes("x")), SendStatus::kQueued);
  n.Pump();
  const auto dropped = n.client.stats().dropped_from_server;
  n.client.HandleServerMessage(n.now, ChannelData::Build(kMinChannel, Bytes("abc"), /*pad=*/false));
  n.client.HandleServerMessage(n.now, ChannelData::Build(kMinChannel, Bytes("def"), /*pad=*/true));
  n.client.HandleServerMessage(n.now, ChannelData::Build(kMinChannel + 1, Bytes("zzz"), true));
  auto truncated = ChannelData::Build(kMinChannel, Bytes("abcdef"), false);
  truncated.resize(7);
  n.client.HandleServerMessage(n.now, truncated);
  n.Pump();
  auto data = n.Events<PeerDataEvent>();
  ASSERT_EQ(data.size(), 2u);
  EXPECT_EQ(data[0].data, Bytes("abc"));
  EXPECT_EQ(data[1].data, Bytes("def"));
  EXPECT_EQ(data[1].peer, kPeerA);
  EXPECT_EQ(n.client.stats().dropped_from_server, dropped + 2);
}

TEST(TurnClient, DropsDataIndicationsFromPeersWithoutPermission) {
  Net n;
  n.AllocateOk();
  stun::StunMessageBuilder b(stun::Method::kData, stun::StunClass::kIndication, stun::TransactionId{});
  b.AddXorAddress(stun::attr::kXorPeerAddress, kPeerB);
  b.AddBytes(stun::attr::kData, Bytes("spoof"));
  n.client.HandleServerMessage(n.now, std::move(b).Finish());
  n.Pump();
  EXPECT_TRUE(n.Events<PeerDataEvent>().empty());
  EXPECT_EQ(n.client.stats().dropped_from_server, 1u);
  // The server itself does not relay it either.
  n.FromPeer(kPeerB, Bytes("spoof"));
  EXPECT_TRUE(n.Events<PeerDataEvent>().empty());
  EXPECT_EQ(n.server.stats().dropped, 1u);
}

TEST(TurnClient, DropsUnauthenticatedSuccessResponses) {
  Net n;
  n.drop_to_client = [](size_t i, const std::vector<uint8_t>&) { return i == 1; };  // hold back the real one
  n.client.Allocate(n.now);
  n.Pump();
  ASSERT_EQ(n.to_server.size(), 2u);
  auto req = stun::StunMessage::Parse(n.to_server[1].bytes);
  ASSERT_TRUE(req.ok());
  auto forged = stun::StunMessageBuilder::ResponseTo(*req, stun::StunClass::kSuccessResponse);
  forged.AddXorAddress(stun::attr::kXorRelayedAddress, kPeerB);
  forged.AddU32(stun::attr::kLifetime, 600);
  n.client.HandleServerMessage(n.now, std::move(forged).Finish());
  auto forged_mi = stun::StunMessageBuilder::ResponseTo(*req, stun::StunClass::kSuccessResponse);
  forged_mi.AddXorAddress(stun::attr::kXorRelayedAddress, kPeerB);
  forged_mi.AddU32(stun::attr::kLifetime, 600);
  forged_mi.AddMessageIntegrity(stun::LongTermKey("alice", "peerlink.test", "guess"));
  n.client.HandleServerMessage(n.now, std::move(forged_mi).Finish());
  EXPECT_EQ(n.client.stats().dropped_from_server, 2u);
  EXPECT_EQ(n.client.state(), State::kAllocating);
  // The retransmission gets the genuine answer.
  n.Advance(Duration::Seconds(2));
  EXPECT_EQ(n.client.state(), State::kAllocated);
  EXPECT_EQ(n.client.relayed_address(), SocketAddress(kRelayIp, 49152));
}

TEST(TurnClient, QueueIsBounded) {
  Options o = ClientOpts();
  o.max_queued_bytes = 1000;
  Net n(o);
  EXPECT_EQ(n.client.SendToPeer(n.now, kPeerA, Bytes("early")), SendStatus::kNotAllocated);
  n.AllocateOk();
  std::vector<uint8_t> chunk(400, 0xAB);
  EXPECT_EQ(n.client.SendToPeer(n.now, kPeerA, chunk), SendStatus::kQueued);
  EXPECT_EQ(n.client.SendToPeer(n.now, kPeerA, chunk), SendStatus::kQueued);
  EXPECT_EQ(n.client.SendToPeer(n.now, kPeerA, chunk), SendStatus::kQueueFull);
  EXPECT_EQ(n.client.SendToPeer(n.now, kPeerB, chunk), SendStatus::kQueueFull);
  EXPECT_EQ(n.client.SendToPeer(n.now, kPeerA, std::vector<uint8_t>(kMaxPeerData + 1)), SendStatus::kTooLarge);
  EXPECT_TRUE(n.client.IsConsistent());
  n.Pump();
  EXPECT_EQ(n.to_peer.size(), 2u);
  // Undrained output counts too: sends beyond the bound are refused until drained.
  for (int i = 0; i < 2; ++i)
    EXPECT_EQ(n.client.SendToPeer(n.now, kPeerA, chunk), SendStatus::kOk);
  EXPECT_EQ(n.client.SendToPeer(n.now, kPeerA, chunk), SendStatus::kQueueFull);
  n.Pump();
  EXPECT_EQ(n.to_peer.size(), 4u);
  // Incoming data is bounded the same way when the caller does not drain.
  for (int i = 0; i < 5; ++i)
    n.server.HandleFromPeer(n.now, *n.client.relayed_address(), kPeerA, chunk);
  while (true) {
    auto out = n.server.PollOutput(n.now);
    auto* t = std::get_if<ToClient>(&out);
    if (!t) break;
    n.client.HandleServerMessage(n.now, t->data);
  }
  EXPECT_EQ(n.client.stats().peer_data_dropped, 3u);
  n.Pump();
  EXPECT_EQ(n.Events<PeerDataEvent>().size(), 2u);
}

TEST(TurnClient, PermissionTableIsBounded) {
  Net n;
  n.AllocateOk();
  for (uint32_t i = 0; i < kMaxPermissions; ++i)
    n.client.CreatePermission(n.now, IpAddress::V4(0x0A000000 + 0x100 + i));
  n.client.CreatePermission(n.now, IpAddress::V4(0x0B000001));
  n.Pump();
  auto perms = n.Events<PermissionEvent>();
  ASSERT_EQ(perms.size(), kMaxPermissions + 1);
  size_t ok = 0;
  for (const auto& p : perms)
    ok += p.ok;
  EXPECT_EQ(ok, kMaxPermissions);
  EXPECT_EQ(n.client.SendToPeer(n.now, SocketAddress(IpAddress::V4(0x0B000002), 1), Bytes("x")),
            SendStatus::kQueueFull);
}

TEST(TurnClient, AllocationMismatchOnRefreshFails) {
  Net n;
  n.AllocateOk();
  n.server.HandleClientClosed(n.now, kClientAddr, TransportProtocol::kUdp);  // the server forgets us
  n.Advance(Duration::Seconds(460));
  EXPECT_EQ(n.client.state(), State::kFailed);
  auto failed = n.Events<AllocationFailedEvent>();
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].code, 437);
  EXPECT_NE(failed[0].reason.find("Refresh"), std::string::npos) << failed[0].reason;
}

TEST(TurnClient, AllocationMismatchOnCreatePermissionFailsTheAllocation) {
  Net n;
  n.AllocateOk();
  n.server.HandleClientClosed(n.now, kClientAddr, TransportProtocol::kUdp);  // the server forgets us
  n.client.CreatePermission(n.now, IpAddress::V4(198, 51, 100, 9));
  n.Pump();
  EXPECT_EQ(n.client.state(), State::kFailed);
  EXPECT_FALSE(n.client.relayed_address());
  auto failed = n.Events<AllocationFailedEvent>();
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].code, 437);
  EXPECT_NE(failed[0].reason.find("allocation is gone"), std::string::npos) << failed[0].reason;
  EXPECT_EQ(n.client.SendToPeer(n.now, SocketAddress(IpAddress::V4(198, 51, 100, 9), 7), Bytes("x")),
            SendStatus::kNotAllocated);
}

TEST(TurnClient, EchoesPasswordAlgorithmsWhenOffered) {
  ServerOptions so = ServerOpts();
  so.offer_password_algorithms = true;
  Net n(ClientOpts(), so);
  n.AllocateOk();
  auto second = stun::StunMessage::Parse(n.to_server[1].bytes);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->Has(stun::attr::kPasswordAlgorithms));
  EXPECT_EQ(second->GetU32(stun::attr::kPasswordAlgorithm),
            uint32_t{static_cast<uint16_t>(stun::PasswordAlgorithm::kMd5)} << 16);
}

TEST(TurnClient, UsesSha256WhenItIsTheOnlyAlgorithm) {
  // A hand-built 401 offering only SHA-256.
  Net n;
  n.drop_to_server = [](size_t, const std::vector<uint8_t>&) { return true; };
  n.client.Allocate(n.now);
  n.Pump();
  auto req = stun::StunMessage::Parse(n.to_server[0].bytes);
  ASSERT_TRUE(req.ok());
  auto challenge = stun::StunMessageBuilder::ResponseTo(*req, stun::StunClass::kErrorResponse);
  challenge.AddErrorCode(401, "Unauthorized");
  challenge.AddString(stun::attr::kRealm, "r");
  challenge.AddString(stun::attr::kNonce, "n");
  const stun::PasswordAlgorithm algs[] = {stun::PasswordAlgorithm::kSha256};
  challenge.AddPasswordAlgorithms(algs);
  n.client.HandleServerMessage(n.now, std::move(challenge).Finish());
  n.Pump();
  auto retry = stun::StunMessage::Parse(n.to_server.back().bytes);
  ASSERT_TRUE(retry.ok());
  EXPECT_TRUE(retry->VerifyMessageIntegritySha256(
      stun::LongTermKey("alice", "r", "wonderland", stun::PasswordAlgorithm::kSha256)));
  EXPECT_FALSE(retry->HasMessageIntegrity());
}

TEST(TurnClient, TransportErrorFailsAllocation) {
  Net n(ClientOpts(TransportProtocol::kTls));
  n.AllocateOk();
  n.client.HandleTransportError(n.now, "TLS alert");
  n.Pump();
  auto failed = n.Events<AllocationFailedEvent>();
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_NE(failed[0].reason.find("TLS alert"), std::string::npos);
  EXPECT_EQ(n.client.state(), State::kFailed);
}

TEST(TurnClient, DeterministicForASeed) {
  auto run = [](uint64_t seed) {
    Net n(ClientOpts(), ServerOpts(), seed);
    n.AllocateOk();
    (void)n.client.SendToPeer(n.now, kPeerA, Bytes("x"));
    n.Advance(Duration::Seconds(1000));
    std::vector<std::vector<uint8_t>> out;
    for (auto& s : n.to_server)
      out.push_back(s.bytes);
    return out;
  };
  EXPECT_EQ(run(5), run(5));
  EXPECT_NE(run(5), run(6));
}

TEST(TurnClient, IdleReportsMaxDeadline) {
  Net n;
  auto out = n.client.PollOutput(n.now);
  ASSERT_TRUE(std::holds_alternative<Deadline>(out));
  EXPECT_EQ(std::get<Deadline>(out).at, Instant::Max());
}

}  // namespace
}  // namespace peerlink::turn
