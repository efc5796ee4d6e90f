// PeerConnection through Debian's coturn with iceTransportPolicy "relay": both peers allocate on
// the server (UDP, TCP and TLS to the server), the selected pair is relay-relay, and a message
// crosses the channel. Candidates are trickled through a queue drained by the test thread.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <thread>

#include "include/peerlink/peer_connection.h"
#include "tests/interop/coturn_fixture.h"

namespace peerlink {
namespace {

using namespace std::chrono_literals;

template <class P>
bool WaitFor(P pred, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

class PeerConnectionTurnTest : public ::testing::TestWithParam<const char*> {};

TEST_P(PeerConnectionTurnTest, RelayOnlyConnectsAndCarriesAMessage) {
  std::string error;
  auto coturn = interop::Coturn::Start({}, &error);
  ASSERT_TRUE(coturn) << error;
  const std::string kind = GetParam();
  std::string url;
  if (kind == "udp") url = "turn:127.0.0.1:" + std::to_string(coturn->udp().port());
  if (kind == "tcp") url = "turn:127.0.0.1:" + std::to_string(coturn->tcp().port()) + "?transport=tcp";
  if (kind == "tls") url = "turns:127.0.0.1:" + std::to_string(coturn->tls().port());
  Configuration config;
  config.bind_addresses = {"127.0.0.1"};
  config.ice_transport_policy = IceTransportPolicy::kRelay;
  config.ice_servers = {{{url}, interop::Coturn::kUser, interop::Coturn::kPassword}};
  config.turns_insecure_skip_verify = true;  // the fixture's self-signed certificate

  std::mutex mu;
  std::deque<std::pair<int, IceCandidate>> queue;
  auto a = std::make_unique<PeerConnection>(config);
  auto b = std::make_unique<PeerConnection>(config);
  std::atomic<int> relay_candidates{0};
  a->OnIceCandidate([&](const IceCandidate& c) {
    if (c.candidate.find("typ relay") != std::string::npos) ++relay_candidates;
    std::lock_guard lock(mu);
    queue.emplace_back(1, c);
  });
  b->OnIceCandidate([&](const IceCandidate& c) {
    std::lock_guard lock(mu);
    queue.emplace_back(0, c);
  });
  auto ch = a->CreateDataChannel("relay");
  ASSERT_TRUE(ch.ok());
  std::atomic<bool> open{false}, got{false};
  (*ch)->OnOpen([&] { open = true; });
  b->OnDataChannel([&](std::shared_ptr<DataChannel> in) {
    in->OnMessage([&](std::span<const uint8_t> d, bool) { got = std::string(d.begin(), d.end()) == "via turn"; });
    in->OnClose([in] {});
  });
  auto offer = a->CreateOffer();
  ASSERT_TRUE(offer.ok());
  ASSERT_TRUE(a->SetLocalDescription(*offer).ok());
  ASSERT_TRUE(b->SetRemoteDescription(*offer).ok());
  auto answer = b->CreateAnswer();
  ASSERT_TRUE(answer.ok());
  ASSERT_TRUE(b->SetLocalDescription(*answer).ok());
  ASSERT_TRUE(a->SetRemoteDescription(*answer).ok());
  PeerConnection* pcs[2] = {a.get(), b.get()};
  auto flush = [&] {
    std::deque<std::pair<int, IceCandidate>> q;
    {
      std::lock_guard lock(mu);
      q.swap(queue);
    }
    for (auto& [to, c] : q)
      EXPECT_TRUE(pcs[to]->AddIceCandidate(c).ok());
  };
  ASSERT_TRUE(WaitFor(
      [&] {
        flush();
        return open.load();
      },
      20s))
      << "a: " << ToString(a->connection_state()) << " b: " << ToString(b->connection_state()) << "\n"
      << coturn->ReadLog().substr(0, 2000);
  EXPECT_GT(relay_candidates, 0);
  ASSERT_TRUE((*ch)->Send("via turn").ok());
  EXPECT_TRUE(WaitFor([&] { return got.load(); }, 10s));
  const Stats s = a->GetStats();
  ASSERT_TRUE(s.selectedCandidatePair.has_value());
  EXPECT_EQ(s.selectedCandidatePair->localCandidateType, "relay");
  a.reset();
  b.reset();
}

INSTANTIATE_TEST_SUITE_P(Transports, PeerConnectionTurnTest, ::testing::Values("udp", "tcp", "tls"));

}  // namespace
}  // namespace peerlink
