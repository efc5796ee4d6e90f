// Connection close sequences and ICE restart, back to back in memory.
#include <gtest/gtest.h>

#include <string>

#include "src/peer/test_pair.h"

namespace peerlink::peer {
namespace {

using testing::Pair;

TEST(PeerConnectionClose, GracefulCloseReachesClosedOnBothSidesAfterQueuedData) {
  Pair p;
  auto ch = p.a().CreateDataChannel(p.now(), "data");
  ASSERT_TRUE(p.Connect());
  ASSERT_TRUE(
      p.RunUntil([&] { return !p.side_a().opened.empty() && !p.side_b().opened.empty(); }, Duration::Seconds(5)));
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(p.a().Send(p.now(), *ch, std::vector<uint8_t>(10000, static_cast<uint8_t>(i)), true),
              datachannel::SendStatus::kOk);
  p.a().Close(p.now());  // queued messages still go out before SHUTDOWN completes
  p.DrainAll();
  ASSERT_TRUE(p.RunUntil(
      [&] {
        return p.a().connection_state() == ConnectionState::kClosed &&
               p.b().connection_state() == ConnectionState::kClosed;
      },
      Duration::Seconds(5)));
  EXPECT_EQ(p.side_b().messages.size(), 20u);
  for (bool is_a : {true, false}) {
    Pair::Side& s = p.side(is_a);
    ASSERT_FALSE(s.events.empty());
    // The last event is connectionstatechange closed; every channel closed before it.
    const auto* last = std::get_if<ConnectionStateChange>(&s.events.back());
    ASSERT_NE(last, nullptr) << EventName(s.events.back());
    EXPECT_EQ(last->state, ConnectionState::kClosed);
    EXPECT_EQ(s.closed_channels.size(), 1u);
    // A clean SCTP shutdown is no channel error, on the closing side nor on the peer's.
    for (const auto& e : s.events)
      EXPECT_EQ(std::get_if<datachannel::ChannelError>(&e), nullptr)
          << (is_a ? "a: " : "b: ") << std::get<datachannel::ChannelError>(e).reason;
    EXPECT_TRUE(s.conn->IsConsistent());
  }
  EXPECT_EQ(p.side_a().last_reason, "closed locally");
  EXPECT_NE(p.side_b().last_reason.find("close_notify"), std::string::npos) << p.side_b().last_reason;
  // Closed stays closed: once the last datagrams landed, inputs are ignored, nothing is sent.
  EXPECT_FALSE(p.RunUntil([&] { return false; }, Duration::Seconds(1)));
  EXPECT_EQ(p.in_flight(), 0u);
  const size_t events = p.side_a().events.size();
  p.a().Close(p.now());
  p.a().HandleDatagram(p.now(), p.side_a().address, p.side_b().address, std::vector<uint8_t>{0, 1, 0, 0});
  p.DrainAll();
  EXPECT_EQ(p.side_a().events.size(), events);
  EXPECT_EQ(p.in_flight(), 0u);
}

TEST(PeerConnectionClose, CloseBeforeConnectIsImmediate) {
  Pair p;
  auto ch = p.a().CreateDataChannel(p.now(), "pending");
  ASSERT_TRUE(ch.ok());
  p.a().Close(p.now());
  p.DrainAll();
  EXPECT_EQ(p.a().connection_state(), ConnectionState::kClosed);
  ASSERT_EQ(p.side_a().closed_channels.size(), 1u);
  EXPECT_FALSE(p.a().CreateDataChannel(p.now(), "late").ok());
  EXPECT_EQ(p.a().SetRemoteParameters(p.now(), p.ParamsFor(true)), RemoteParamsStatus::kClosed);
}

TEST(PeerConnectionClose, UnansweredShutdownIsBoundedByTheCloseTimer) {
  Options oa = Pair::DefaultOptions(0);
  oa.close_timeout = Duration::Seconds(2);
  Pair p(oa, Pair::DefaultOptions(1));
  ASSERT_TRUE(p.Connect());
  bool cut = false;
  p.set_filter([&](bool, std::vector<uint8_t>&) { return cut; });
  cut = true;  // the peer vanishes
  const Instant start = p.now();
  p.a().Close(p.now());
  p.DrainAll();
  ASSERT_TRUE(p.RunUntil([&] { return p.a().connection_state() == ConnectionState::kClosed; }, Duration::Seconds(5)));
  EXPECT_GE(p.now() - start, Duration::Seconds(2));
  EXPECT_LE(p.now() - start, Duration::Seconds(3));
  EXPECT_NE(p.side_a().last_reason.find("timed out"), std::string::npos) << p.side_a().last_reason;
}

TEST(PeerConnectionClose, PathLossGoesDisconnectedThenRecovers) {
  Pair p;
  ASSERT_TRUE(p.Connect());
  bool cut = true;
  p.set_filter([&](bool, std::vector<uint8_t>&) { return cut; });
  ASSERT_TRUE(
      p.RunUntil([&] { return p.a().connection_state() == ConnectionState::kDisconnected; }, Duration::Seconds(10)));
  EXPECT_EQ(p.a().GetStats().connectionState, "disconnected");
  cut = false;
  ASSERT_TRUE(p.RunUntil(
      [&] {
        return p.a().connection_state() == ConnectionState::kConnected &&
               p.b().connection_state() == ConnectionState::kConnected;
      },
      Duration::Seconds(10)));
  const auto& st = p.side_a().states;
  ASSERT_GE(st.size(), 3u);
  EXPECT_EQ(st[st.size() - 2], ConnectionState::kDisconnected);
}

TEST(PeerConnectionClose, IceRestartKeepsTheChannelWorking) {
  Pair p;
  auto ch = p.a().CreateDataChannel(p.now(), "r");
  ASSERT_TRUE(p.Connect());
  ASSERT_TRUE(p.RunUntil([&] { return !p.side_b().incoming.empty(); }, Duration::Seconds(5)));
  const std::string old_ufrag = p.a().local_ice_credentials().ufrag;
  p.a().RestartIce(p.now());
  EXPECT_NE(p.a().local_ice_credentials().ufrag, old_ufrag);
  ASSERT_EQ(p.b().SetRemoteParameters(p.now(), p.ParamsFor(false)), RemoteParamsStatus::kOk);
  p.DrainAll();
  ASSERT_EQ(p.a().Send(p.now(), *ch, std::vector<uint8_t>(100, 1), true), datachannel::SendStatus::kOk);
  p.DrainAll();
  ASSERT_TRUE(p.RunUntil([&] { return p.side_b().messages.size() == 1; }, Duration::Seconds(5)));
  EXPECT_TRUE(p.RunUntil([&] { return false; }, Duration::Seconds(3)) == false);
  EXPECT_EQ(p.a().connection_state(), ConnectionState::kConnected);
  EXPECT_EQ(p.b().connection_state(), ConnectionState::kConnected);
}

}  // namespace
}  // namespace peerlink::peer
