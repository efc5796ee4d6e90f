// Two peerlink::PeerConnections in one process over real UDP on 127.0.0.1: signaling in process,
// trickled candidates, in-band and negotiated channels, data both ways, stats, SDP errors,
// rollback, and the threading contract (callbacks re-entering and destroying the connection).
#include "include/peerlink/peer_connection.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "src/base/rng.h"
#include "src/dtls/certificate.h"

namespace peerlink {
namespace {

using namespace std::chrono_literals;

Configuration Loopback() {
  Configuration c;
  c.bind_addresses = {"127.0.0.1"};
  return c;
}

// Waits (bounded) until `pred` holds; `pred` is polled under no lock, so it reads atomics.
template <class P>
bool WaitFor(P pred, std::chrono::milliseconds limit = 10s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return pred();
}

// Candidates cross from one connection's thread to the other's through this queue, drained by
// the test thread (a callback calling straight into a connection on another thread could wait
// on a thread that waits on it).
class Trickle {
 public:
  void Push(PeerConnection* to, IceCandidate c) {
    std::lock_guard lock(mu_);
    queue_.emplace_back(to, std::move(c));
  }
  // Delivers what is queued; returns how many were added.
  int Flush() {
    std::deque<std::pair<PeerConnection*, IceCandidate>> q;
    {
      std::lock_guard lock(mu_);
      q.swap(queue_);
    }
    int n = 0;
    for (auto& [to, c] : q) {
      auto r = to->AddIceCandidate(c);
      EXPECT_TRUE(r.ok()) << r.error().message;
      ++n;
    }
    return n;
  }

 private:
  std::mutex mu_;
  std::deque<std::pair<PeerConnection*, IceCandidate>> queue_;
};

struct Peers {
  // Declared before the connections: their callbacks use them until the connections are gone.
  Trickle trickle;
  std::atomic<int> end_of_candidates{0};
  std::unique_ptr<PeerConnection> a, b;

  // `rt_b`, if given, runs b (else both run on `rt`).
  explicit Peers(std::shared_ptr<Runtime> rt = nullptr,
                 Configuration ca = Loopback(),
                 Configuration cb = Loopback(),
                 std::shared_ptr<Runtime> rt_b = nullptr) {
    a = std::make_unique<PeerConnection>(std::move(ca), rt);
    b = std::make_unique<PeerConnection>(std::move(cb), rt_b ? rt_b : rt);
    a->OnIceCandidate([this](const IceCandidate& c) {
      if (c.candidate.empty()) ++end_of_candidates;
      trickle.Push(b.get(), c);
    });
    b->OnIceCandidate([this](const IceCandidate& c) {
      if (c.candidate.empty()) ++end_of_candidates;
      trickle.Push(a.get(), c);
    });
  }

  // Offer from a, answer from b; candidates delivered once both descriptions are set.
  void Negotiate() {
    auto offer = a->CreateOffer();
    ASSERT_TRUE(offer.ok()) << offer.error().message;
    ASSERT_TRUE(a->SetLocalDescription(*offer).ok());
    ASSERT_TRUE(b->SetRemoteDescription(*offer).ok());
    auto answer = b->CreateAnswer();
    ASSERT_TRUE(answer.ok()) << answer.error().message;
    ASSERT_EQ(answer->type, SdpType::kAnswer);
    ASSERT_TRUE(b->SetLocalDescription(*answer).ok());
    auto applied = a->SetRemoteDescription(*answer);
    ASSERT_TRUE(applied.ok()) << applied.error().message;
    EXPECT_EQ(a->signaling_state(), SignalingState::kStable);
    EXPECT_EQ(b->signaling_state(), SignalingState::kStable);
  }

  bool WaitConnected() {
    return WaitFor([&] {
      trickle.Flush();
      return a->connection_state() == PeerConnectionState::kConnected &&
             b->connection_state() == PeerConnectionState::kConnected;
    });
  }
};

struct Received {
  std::mutex mu;
  std::vector<uint8_t> bytes;
  std::atomic<size_t> count{0};
  std::atomic<size_t> messages{0};
  void Attach(DataChannel& ch) {
    ch.OnMessage([this](std::span<const uint8_t> data, bool) {
      std::lock_guard lock(mu);
      bytes.insert(bytes.end(), data.begin(), data.end());
      count += data.size();
      ++messages;
    });
  }
};

std::vector<uint8_t> Pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t x = seed;
  for (auto& b : v) {
    x = x * 1664525 + 1013904223;
    b = static_cast<uint8_t>(x >> 24);
  }
  return v;
}

TEST(PeerConnectionTest, InBandChannelMovesOneMebibyteBothWaysWithStats) {
  Peers p;
  auto ch_a = p.a->CreateDataChannel("bulk");
  ASSERT_TRUE(ch_a.ok());
  std::shared_ptr<DataChannel> a = *ch_a;
  std::shared_ptr<DataChannel> b;
  std::mutex b_mu;
  Received got_a, got_b;
  std::atomic<bool> a_open{false}, b_open{false};
  got_a.Attach(*a);
  const auto data_ab = Pattern(1 << 20, 1), data_ba = Pattern(1 << 20, 2);
  constexpr size_t kChunk = 16 * 1024;
  std::atomic<size_t> peak_buffered{0};
  std::atomic<int> send_failures{0};
  a->OnOpen([&] {
    // On the runtime thread: the whole MiB is queued before any SACK can be processed.
    for (size_t off = 0; off < data_ab.size(); off += kChunk) {
      if (!a->Send(std::span<const uint8_t>(data_ab).subspan(off, kChunk)).ok()) ++send_failures;
    }
    peak_buffered = a->buffered_amount();
    a_open = true;
  });
  p.b->OnDataChannel([&](std::shared_ptr<DataChannel> ch) {
    got_b.Attach(*ch);
    ch->OnOpen([&] { b_open = true; });
    std::lock_guard lock(b_mu);
    b = std::move(ch);
  });
  std::atomic<int> low{0};
  a->set_buffered_amount_low_threshold(64 * 1024);
  a->OnBufferedAmountLow([&] { ++low; });

  p.Negotiate();
  ASSERT_TRUE(p.WaitConnected());
  ASSERT_TRUE(WaitFor([&] { return a_open && b_open; }));
  EXPECT_EQ(a->ready_state(), DataChannelState::kOpen);
  std::shared_ptr<DataChannel> bb;
  {
    std::lock_guard lock(b_mu);
    bb = b;
  }
  ASSERT_TRUE(bb);
  EXPECT_EQ(bb->label(), "bulk");
  ASSERT_TRUE(a->id().has_value());
  EXPECT_EQ(a->id(), bb->id());

  for (size_t off = 0; off < data_ba.size(); off += kChunk) {
    ASSERT_TRUE(bb->Send(std::span<const uint8_t>(data_ba).subspan(off, kChunk)).ok());
  }
  EXPECT_EQ(send_failures, 0);
  EXPECT_GT(peak_buffered, 64u * 1024);  // so bufferedamountlow has a threshold to cross
  ASSERT_TRUE(WaitFor([&] { return got_b.count == data_ab.size() && got_a.count == data_ba.size(); }, 20s))
      << got_b.count << " / " << got_a.count;
  {
    std::lock_guard la(got_a.mu), lb(got_b.mu);
    EXPECT_TRUE(got_b.bytes == data_ab);
    EXPECT_TRUE(got_a.bytes == data_ba);
  }
  EXPECT_EQ(got_b.messages, 64u);
  ASSERT_TRUE(WaitFor([&] { return low > 0 && a->buffered_amount() == 0; }));

  const Stats s = p.a->GetStats();
  EXPECT_EQ(s.connectionState, "connected");
  ASSERT_TRUE(s.selectedCandidatePair.has_value());
  EXPECT_EQ(s.selectedCandidatePair->localAddress.rfind("127.0.0.1:", 0), 0u);
  EXPECT_EQ(s.selectedCandidatePair->localCandidateType, "host");
  EXPECT_GE(s.selectedCandidatePair->bytesSent, data_ab.size());
  EXPECT_GE(s.selectedCandidatePair->bytesReceived, data_ba.size());
  ASSERT_EQ(s.dataChannels.size(), 1u);
  EXPECT_EQ(s.dataChannels[0].label, "bulk");
  EXPECT_EQ(s.dataChannels[0].bytesSent, data_ab.size());
  EXPECT_EQ(s.dataChannels[0].bytesReceived, data_ba.size());
  EXPECT_EQ(s.dataChannels[0].messagesSent, 64u);
  ASSERT_EQ(s.sockets.size(), 1u);
  EXPECT_GT(s.sockets[0].receiveBufferGranted, 0);
  // A bulk sender's drains produce several DATA packets for the peer: they left batched.
  EXPECT_GT(s.sockets[0].gsoSends, 0u);
  EXPECT_GT(s.sockets[0].datagramsSent, s.sockets[0].gsoSends);
  EXPECT_EQ(s.transport.dtlsState, "connected");
  EXPECT_EQ(s.sctp.state, "connected");
  // B received 64 fragmented messages and the runtime handed each back after OnMessage: later
  // ones were reassembled in those blocks.
  EXPECT_GT(p.b->GetStats().sctp.messageBuffersReused, 0u);

  // Gathering on loopback completes; the null candidate is signalled on both sides.
  EXPECT_TRUE(WaitFor([&] { return p.end_of_candidates == 2; }));
  auto local = p.a->local_description();
  ASSERT_TRUE(local.has_value());
  EXPECT_NE(local->sdp.find("a=candidate:"), std::string::npos);
  EXPECT_NE(local->sdp.find("a=end-of-candidates"), std::string::npos);

  // Close from one side: "close" fires on both channels.
  std::atomic<bool> closed_b{false};
  bb->OnClose([&] { closed_b = true; });
  a->Close();
  EXPECT_TRUE(WaitFor([&] { return closed_b.load() && a->ready_state() == DataChannelState::kClosed; }));
  EXPECT_EQ(a->Send("late").error().kind, ErrorKind::kInvalidState);
}

TEST(PeerConnectionTest, NegotiatedChannelsOnSharedRuntimeWithDirectTrickle) {
  // One runtime thread for both: a callback may call straight into the other connection.
  auto rt = Runtime::Create(1);
  auto a = std::make_unique<PeerConnection>(Loopback(), rt);
  auto b = std::make_unique<PeerConnection>(Loopback(), rt);
  std::atomic<int> add_failures{0};
  a->OnIceCandidate([&](const IceCandidate& c) {
    if (auto r = b->AddIceCandidate(c); !r.ok()) {
      ADD_FAILURE() << "'" << c.candidate << "': " << r.error().message;
      ++add_failures;
    }
  });
  b->OnIceCandidate([&](const IceCandidate& c) {
    if (auto r = a->AddIceCandidate(c); !r.ok()) {
      ADD_FAILURE() << "'" << c.candidate << "': " << r.error().message;
      ++add_failures;
    }
  });
  DataChannelInit init;
  init.negotiated = true;
  init.id = 7;
  init.protocol = "neg";
  auto ca = a->CreateDataChannel("n", init);
  auto cb = b->CreateDataChannel("n", init);
  ASSERT_TRUE(ca.ok() && cb.ok());
  std::atomic<bool> got{false};
  (*cb)->OnMessage([&](std::span<const uint8_t> d, bool binary) {
    if (!binary && std::string(d.begin(), d.end()) == "over negotiated") got = true;
  });
  std::atomic<bool> open_a{false};
  (*ca)->OnOpen([&] { open_a = true; });
  // The answerer must exist remotely before candidates flow: set the offer on b first.
  auto offer = a->CreateOffer();
  ASSERT_TRUE(offer.ok());
  ASSERT_TRUE(b->SetRemoteDescription(*offer).ok());
  ASSERT_TRUE(a->SetLocalDescription(*offer).ok());
  auto answer = b->CreateAnswer();
  ASSERT_TRUE(answer.ok());
  ASSERT_TRUE(a->SetRemoteDescription(*answer).ok());
  ASSERT_TRUE(b->SetLocalDescription(*answer).ok());
  ASSERT_TRUE(WaitFor([&] { return open_a.load(); }));
  EXPECT_EQ((*ca)->id(), 7);
  EXPECT_TRUE((*ca)->negotiated());
  ASSERT_TRUE((*ca)->Send("over negotiated").ok());
  EXPECT_TRUE(WaitFor([&] { return got.load(); }));
  EXPECT_EQ(add_failures, 0);
  a.reset();
  b.reset();
}

// Negotiates `p`, opens a negotiated channel "bulk" on both sides and sends 4 MiB from a to b as
// 64 KiB messages (byte 0 of message k is k). True when every byte arrived in order.
bool TransferOverABulkChannel(Peers& p) {
  DataChannelInit init;
  init.negotiated = true;
  init.id = 3;
  auto ca_ch = p.a->CreateDataChannel("bulk", init);
  auto cb_ch = p.b->CreateDataChannel("bulk", init);
  if (!ca_ch.ok() || !cb_ch.ok()) return false;
  std::atomic<size_t> received{0};
  std::atomic<bool> intact{true};
  (*cb_ch)->OnMessage([&](std::span<const uint8_t> d, bool) {
    const size_t k = received / (64 * 1024);
    if (d.size() != 64 * 1024 || d[0] != static_cast<uint8_t>(k)) intact = false;
    received += d.size();
  });
  std::atomic<bool> open{false};
  (*ca_ch)->OnOpen([&] { open = true; });
  p.Negotiate();
  if (!p.WaitConnected() || !WaitFor([&] { return open.load(); })) return false;
  for (uint8_t k = 0; k < 64; ++k) {
    std::vector<uint8_t> m(64 * 1024, 0);
    m[0] = k;
    if (!(*ca_ch)->Send(std::span<const uint8_t>(m)).ok()) return false;
  }
  const bool all = WaitFor([&] { return received == 64u * 64 * 1024; }, 20s);
  (*cb_ch)->OnMessage(nullptr);  // `received` goes out of scope
  return all && intact;
}

// Configuration::sctp_congestion_control: the connection configured with kBbr sends with it
// (its stats name it and report a bandwidth estimate after a transfer), the other keeps Reno.
TEST(PeerConnectionTest, BbrCongestionControlFromTheConfiguration) {
  Configuration ca = Loopback();
  ca.sctp_congestion_control = SctpCongestionControl::kBbr;
  Peers p(nullptr, std::move(ca), Loopback());
  ASSERT_TRUE(TransferOverABulkChannel(p));
  const Stats sa = p.a->GetStats();
  EXPECT_EQ(sa.sctp.congestionControl, "bbr");
  ASSERT_TRUE(sa.sctp.bottleneckBandwidth.has_value());
  EXPECT_GT(*sa.sctp.bottleneckBandwidth, 0);
  const Stats sb = p.b->GetStats();
  EXPECT_EQ(sb.sctp.congestionControl, "reno");
  EXPECT_FALSE(sb.sctp.bottleneckBandwidth.has_value());
}

// Configuration::sctp_resume: a bad state is refused when the connection is made; a good one
// reaches the association, which reports what it decided (on loopback the RTT varies too much
// between two connections to say which decision), and every connection reports the state a
// later one may reuse.
TEST(PeerConnectionTest, CarefulResumeFromTheConfiguration) {
  Configuration bad = Loopback();
  bad.sctp_resume = SctpResumeState{0, 0.01};
  EXPECT_THROW(PeerConnection pc(bad), std::invalid_argument);
  bad.sctp_resume = SctpResumeState{1 << 20, 0};
  EXPECT_THROW(PeerConnection pc(bad), std::invalid_argument);
  bad.sctp_resume = SctpResumeState{1 << 20, std::nan("")};
  EXPECT_THROW(PeerConnection pc(bad), std::invalid_argument);
  bad.sctp_resume = SctpResumeState{1 << 20, 61};
  EXPECT_THROW(PeerConnection pc(bad), std::invalid_argument);

  Configuration ca = Loopback();
  ca.sctp_resume = SctpResumeState{8 << 20, 0.0005};
  Peers p(nullptr, std::move(ca), Loopback());
  ASSERT_TRUE(TransferOverABulkChannel(p));
  const Stats sa = p.a->GetStats();
  EXPECT_TRUE(sa.sctp.carefulResume == "jumped" || sa.sctp.carefulResume == "rtt-changed" ||
              sa.sctp.carefulResume == "no-gain")
      << sa.sctp.carefulResume;
  EXPECT_GT(sa.sctp.retainedCongestionWindow, 0u);
  ASSERT_TRUE(sa.sctp.minRoundTripTime.has_value());
  EXPECT_GT(*sa.sctp.minRoundTripTime, 0);
  EXPECT_EQ(p.b->GetStats().sctp.carefulResume, "");
}

// Configuration::sctp_retransmit_buffer: zero is refused; a small one reaches the association,
// which holds no more than that for retransmission while a transfer runs (sampled from another
// thread; with the default, loopback's window holds megabytes).
TEST(PeerConnectionTest, RetransmitBufferFromTheConfiguration) {
  Configuration bad = Loopback();
  bad.sctp_retransmit_buffer = 0;
  EXPECT_THROW(PeerConnection pc(bad), std::invalid_argument);

  constexpr size_t kBound = 24 * 1024;
  Configuration ca = Loopback();
  ca.sctp_retransmit_buffer = kBound;
  Peers p(nullptr, std::move(ca), Loopback());
  std::atomic<bool> done{false};
  std::atomic<uint64_t> most{0};
  std::thread sampler([&] {
    for (int i = 0; i < 20000 && !done; ++i) {
      most = std::max<uint64_t>(most, p.a->GetStats().sctp.retransmitBuffer);
      std::this_thread::sleep_for(200us);
    }
  });
  const bool transferred = TransferOverABulkChannel(p);
  done = true;
  sampler.join();
  ASSERT_TRUE(transferred);
  EXPECT_GT(most.load(), 0u);
  EXPECT_LE(most.load(), kBound + 1200);
  EXPECT_TRUE(WaitFor([&] { return p.a->GetStats().sctp.retransmitBuffer == 0; }));
}

TEST(PeerConnectionTest, OpenBeforeAnyOnOpenHandlerReachesTheFirstHandlerSetLaterOnce) {
  Peers p;
  auto dcep = p.a->CreateDataChannel("first");
  ASSERT_TRUE(dcep.ok());
  std::atomic<int> first_opens{0};
  (*dcep)->OnOpen([&] { ++first_opens; });
  ASSERT_NO_FATAL_FAILURE(p.Negotiate());
  ASSERT_TRUE(p.WaitConnected());
  ASSERT_TRUE(WaitFor([&] { return first_opens.load() == 1; }));
  // On a connected transport a negotiated channel opens at once, from this (another) thread's
  // point of view possibly before any handler could be set. Set it late on purpose.
  DataChannelInit init;
  init.negotiated = true;
  init.id = 40;
  auto late = p.a->CreateDataChannel("late", init);
  ASSERT_TRUE(late.ok());
  ASSERT_TRUE(WaitFor([&] { return (*late)->ready_state() == DataChannelState::kOpen; }));
  std::this_thread::sleep_for(50ms);
  std::atomic<int> late_opens{0};
  (*late)->OnOpen([&] { ++late_opens; });
  EXPECT_TRUE(WaitFor([&] { return late_opens.load() == 1; }, 2s));
  // Once only: a second handler, and the first channel's handler, hear nothing more.
  std::atomic<int> again{0};
  (*late)->OnOpen([&] { ++again; });
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(again.load(), 0);
  EXPECT_EQ(late_opens.load(), 1);
  EXPECT_EQ(first_opens.load(), 1);
}

TEST(PeerConnectionTest, PartiallyReliableAndUnorderedChannelsLoseNothingOnALosslessPath) {
  // On loopback nothing is lost, so a partially reliable channel must deliver (and echo) every
  // message, in order unless unordered, while its limit allows (the lifetime is generous).
  // Sizes as in the browser matrix (tests/interop/common).
  Peers p;
  struct Case {
    const char* label;
    DataChannelInit init;
  };
  std::vector<Case> cases(3);
  cases[0] = {"unordered", {}};
  cases[0].init.ordered = false;
  cases[1] = {"rexmit0", {}};
  cases[1].init.max_retransmits = 0;
  // 3 s, not 100 ms: a slow (sanitizer) build can legitimately let 100 ms run out before the
  // first transmission, and abandoning is then correct (RFC 3758).
  cases[2] = {"lifetime3000", {}};
  cases[2].init.max_packet_life_time = 3000;
  // b echoes everything on the channel it came from.
  std::mutex mu;
  std::vector<std::shared_ptr<DataChannel>> incoming;
  p.b->OnDataChannel([&](std::shared_ptr<DataChannel> ch) {
    DataChannel* raw = ch.get();
    raw->OnMessage([raw](std::span<const uint8_t> d, bool binary) {
      if (binary) {
        (void)raw->Send(d);
      } else {
        (void)raw->Send(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
      }
    });
    std::lock_guard lock(mu);
    incoming.push_back(std::move(ch));
  });
  std::vector<std::shared_ptr<DataChannel>> channels;
  std::vector<std::unique_ptr<std::atomic<int>>> echoes;
  for (const Case& c : cases) {
    auto made = p.a->CreateDataChannel(c.label, c.init);
    ASSERT_TRUE(made.ok()) << made.error().message;
    echoes.push_back(std::make_unique<std::atomic<int>>(0));
    std::atomic<int>* n = echoes.back().get();
    (*made)->OnMessage([n](std::span<const uint8_t>, bool) { ++*n; });
    channels.push_back(*made);
  }
  ASSERT_NO_FATAL_FAILURE(p.Negotiate());
  ASSERT_TRUE(p.WaitConnected());
  const std::vector<size_t> sizes = {0, 1, 16 * 1024, 64 * 1024};
  for (auto& ch : channels) {
    ASSERT_TRUE(WaitFor([&] { return ch->ready_state() == DataChannelState::kOpen; }));
    for (size_t n : sizes) {
      ASSERT_TRUE(ch->Send(std::vector<uint8_t>(n, 0x5a)).ok());
      ASSERT_TRUE(ch->Send(std::string(n, 'x')).ok());
    }
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_TRUE(WaitFor([&] { return echoes[i]->load() == 8; }, 5s))
        << cases[i].label << ": " << echoes[i]->load() << " of 8 echoes";
  }
}

TEST(PeerConnectionTest, BadRemoteSdpNamesTheLineAndChangesNothing) {
  PeerConnection pc(Loopback());
  PeerConnection other(Loopback());
  auto offer = other.CreateOffer();
  ASSERT_TRUE(offer.ok());
  std::string bad = offer->sdp;
  const size_t at = bad.find("a=setup:actpass");
  ASSERT_NE(at, std::string::npos);
  bad.replace(at, 15, "a=setup:sideways");
  std::atomic<int> signaling_events{0};
  pc.OnSignalingStateChange([&](SignalingState) { ++signaling_events; });
  auto r = pc.SetRemoteDescription({SdpType::kOffer, bad});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalidSdp);
  EXPECT_GT(r.error().sdp_line, 0u);
  EXPECT_NE(r.error().message.find("a=setup:sideways"), std::string::npos) << r.error().message;
  EXPECT_EQ(pc.signaling_state(), SignalingState::kStable);
  EXPECT_FALSE(pc.remote_description().has_value());
  EXPECT_EQ(signaling_events, 0);
  // An answer in stable is a state error, also without effect.
  auto wrong = pc.SetRemoteDescription({SdpType::kAnswer, offer->sdp});
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().kind, ErrorKind::kInvalidState);
  EXPECT_EQ(pc.signaling_state(), SignalingState::kStable);
  // AddIceCandidate before a remote description.
  EXPECT_EQ(pc.AddIceCandidate({"candidate:1 1 udp 1 127.0.0.1 9 typ host", "0", 0}).error().kind,
            ErrorKind::kInvalidState);
  // The good offer still applies afterwards.
  EXPECT_TRUE(pc.SetRemoteDescription(*offer).ok());
  EXPECT_EQ(pc.signaling_state(), SignalingState::kHaveRemoteOffer);
  EXPECT_EQ(pc.AddIceCandidate({"candidate:garbage", "0", 0}).error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(signaling_events, 1);
}

TEST(PeerConnectionTest, RollbackReturnsToStableAndRenegotiationWorks) {
  Peers p;
  auto offer = p.a->CreateOffer();
  ASSERT_TRUE(offer.ok());
  ASSERT_TRUE(p.a->SetLocalDescription(*offer).ok());
  EXPECT_EQ(p.a->signaling_state(), SignalingState::kHaveLocalOffer);
  ASSERT_TRUE(p.a->SetLocalDescription({SdpType::kRollback, ""}).ok());
  EXPECT_EQ(p.a->signaling_state(), SignalingState::kStable);
  EXPECT_FALSE(p.a->local_description().has_value());

  ASSERT_TRUE(p.b->SetRemoteDescription(*offer).ok());
  EXPECT_EQ(p.b->signaling_state(), SignalingState::kHaveRemoteOffer);
  ASSERT_TRUE(p.b->SetRemoteDescription({SdpType::kRollback, ""}).ok());
  EXPECT_EQ(p.b->signaling_state(), SignalingState::kStable);
  EXPECT_FALSE(p.b->CreateAnswer().ok());
  // Rollback in stable is an error.
  EXPECT_FALSE(p.b->SetRemoteDescription({SdpType::kRollback, ""}).ok());

  // After the rollbacks a full negotiation still connects.
  // a's candidates from the first offer stay queued; they are delivered after this negotiation.
  p.Negotiate();
  EXPECT_TRUE(p.WaitConnected());
}

TEST(PeerConnectionTest, IceRestartFromEitherSideKeepsTheConnection) {
  Peers p;
  auto ch = p.a->CreateDataChannel("r");
  ASSERT_TRUE(ch.ok());
  std::atomic<bool> open{false};
  (*ch)->OnOpen([&] { open = true; });
  Received got;
  p.b->OnDataChannel([&](std::shared_ptr<DataChannel> in) {
    got.Attach(*in);
    in->OnClose([in] {});
  });
  p.Negotiate();
  ASSERT_TRUE(p.WaitConnected());
  ASSERT_TRUE(WaitFor([&] { return open.load(); }));
  for (int round = 0; round < 2; ++round) {
    // Round 0: the original answerer restarts (it offers now); round 1: the original offerer.
    PeerConnection* offerer = round == 0 ? p.b.get() : p.a.get();
    PeerConnection* answerer = round == 0 ? p.a.get() : p.b.get();
    const std::string old_sdp = offerer->local_description()->sdp;
    offerer->RestartIce();
    auto offer = offerer->CreateOffer();
    ASSERT_TRUE(offer.ok());
    auto ufrag = [](const std::string& sdp) { return sdp.substr(sdp.find("a=ice-ufrag:"), 20); };
    EXPECT_NE(ufrag(offer->sdp), ufrag(old_sdp));
    ASSERT_TRUE(offerer->SetLocalDescription(*offer).ok());
    auto applied = answerer->SetRemoteDescription(*offer);
    ASSERT_TRUE(applied.ok()) << applied.error().message;
    auto answer = answerer->CreateAnswer();
    ASSERT_TRUE(answer.ok());
    ASSERT_TRUE(answerer->SetLocalDescription(*answer).ok());
    auto back = offerer->SetRemoteDescription(*answer);
    ASSERT_TRUE(back.ok()) << back.error().message;
    p.trickle.Flush();
    // Each side's description lists each candidate once: the restart re-announces the
    // candidates, it does not add a second copy of them.
    for (PeerConnection* pc : {offerer, answerer}) {
      std::vector<std::string> lines;
      std::istringstream in(pc->local_description()->sdp);
      for (std::string l; std::getline(in, l);)
        if (l.rfind("a=candidate:", 0) == 0) lines.push_back(l);
      EXPECT_FALSE(lines.empty());
      std::set<std::string> unique(lines.begin(), lines.end());
      EXPECT_EQ(unique.size(), lines.size()) << pc->local_description()->sdp;
    }
    const size_t before = got.messages;
    ASSERT_TRUE((*ch)->Send("after restart").ok());
    EXPECT_TRUE(WaitFor([&] {
      p.trickle.Flush();
      return got.messages == before + 1;
    }));
    EXPECT_EQ(p.a->connection_state(), PeerConnectionState::kConnected);
  }
}

TEST(PeerConnectionTest, CloseFromInsideOnMessageAndDestroyFromStateCallback) {
  Peers p;
  auto ch = p.a->CreateDataChannel("c");
  ASSERT_TRUE(ch.ok());
  std::atomic<bool> a_open{false}, closed_in_callback{false};
  (*ch)->OnOpen([&] { a_open = true; });
  p.b->OnDataChannel([&](std::shared_ptr<DataChannel> in) {
    DataChannel* raw = in.get();
    in->OnMessage([&, raw](std::span<const uint8_t>, bool) {
      raw->Close();  // re-enters the connection from its own callback
      p.b->Close();
      closed_in_callback = true;
    });
    in->OnClose([in] {});  // the channel keeps itself alive until "close" (handlers are dropped then)
  });
  // a is destroyed from inside its own connectionstatechange when it sees the peer go away.
  std::atomic<bool> destroyed{false};
  p.a->OnConnectionStateChange([&](PeerConnectionState s) {
    if (s == PeerConnectionState::kClosed || s == PeerConnectionState::kFailed ||
        s == PeerConnectionState::kDisconnected) {
      p.a.reset();
      destroyed = true;
    }
  });
  p.Negotiate();
  ASSERT_TRUE(p.WaitConnected());
  ASSERT_TRUE(WaitFor([&] { return a_open.load(); }));
  ASSERT_TRUE((*ch)->Send("bye").ok());
  ASSERT_TRUE(WaitFor([&] { return closed_in_callback.load(); }));
  EXPECT_EQ(p.b->signaling_state(), SignalingState::kClosed);
  ASSERT_TRUE(WaitFor([&] { return destroyed.load(); }, 20s));
  // The channel object outlives its connection and reports closed.
  EXPECT_EQ((*ch)->ready_state(), DataChannelState::kClosed);
  EXPECT_FALSE((*ch)->Send("x").ok());
  EXPECT_EQ((*ch)->buffered_amount(), 0u);
}

TEST(PeerConnectionTest, DestroyFromConnectedCallbackOnSharedRuntime) {
  auto rt = Runtime::Create(1);
  auto a = std::make_unique<PeerConnection>(Loopback(), rt);
  auto b = std::make_unique<PeerConnection>(Loopback(), rt);
  // Both on one thread: the forwarding callbacks and the destruction never race.
  // b's candidates can reach a before a has the answer (then they are refused and a learns b
  // as a peer-reflexive candidate from b's checks).
  a->OnIceCandidate([&](const IceCandidate& c) {
    if (b) (void)b->AddIceCandidate(c);
  });
  b->OnIceCandidate([&](const IceCandidate& c) {
    if (a) (void)a->AddIceCandidate(c);
  });
  std::atomic<bool> destroyed{false};
  b->OnConnectionStateChange([&](PeerConnectionState s) {
    if (s == PeerConnectionState::kConnected) {
      b.reset();
      destroyed = true;
    }
  });
  std::atomic<bool> a_lost{false};
  a->OnConnectionStateChange([&](PeerConnectionState s) {
    if (s == PeerConnectionState::kClosed || s == PeerConnectionState::kDisconnected ||
        s == PeerConnectionState::kFailed) {
      a_lost = true;
    }
  });
  auto offer = a->CreateOffer();
  ASSERT_TRUE(offer.ok());
  ASSERT_TRUE(b->SetRemoteDescription(*offer).ok());
  ASSERT_TRUE(a->SetLocalDescription(*offer).ok());
  auto answer = b->CreateAnswer();
  ASSERT_TRUE(answer.ok());
  // b may connect (and destroy itself) as soon as a has the answer: b's last call comes first.
  ASSERT_TRUE(b->SetLocalDescription(*answer).ok());
  ASSERT_TRUE(a->SetRemoteDescription(*answer).ok());
  ASSERT_TRUE(WaitFor([&] { return destroyed.load(); }));
  // b told a on its way out (SCTP shutdown / DTLS close_notify, best effort).
  EXPECT_TRUE(WaitFor([&] { return a_lost.load(); }, 15s));
  a.reset();
}

TEST(PeerConnectionTest, MethodsFromFourThreadsConcurrently) {
  auto rt = Runtime::Create(2);
  Peers p(rt);
  auto ch = p.a->CreateDataChannel("mt");
  ASSERT_TRUE(ch.ok());
  std::atomic<bool> open{false};
  (*ch)->OnOpen([&] { open = true; });
  Received got;
  p.b->OnDataChannel([&](std::shared_ptr<DataChannel> in) {
    got.Attach(*in);
    in->OnClose([in] {});
  });
  p.Negotiate();
  ASSERT_TRUE(p.WaitConnected());
  ASSERT_TRUE(WaitFor([&] { return open.load(); }));
  constexpr int kThreads = 4, kPerThread = 200;
  std::vector<std::thread> threads;
  std::atomic<int> sent{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if ((*ch)->Send("m" + std::to_string(t) + ":" + std::to_string(i)).ok()) ++sent;
        (void)(*ch)->buffered_amount();
        if (i % 20 == 0) {
          (void)p.a->GetStats();
          (void)p.b->CreateDataChannel("extra" + std::to_string(t * 1000 + i));
          (void)p.a->local_description();
        }
        (void)p.a->signaling_state();
      }
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(sent, kThreads * kPerThread);
  EXPECT_TRUE(WaitFor([&] { return got.messages == static_cast<size_t>(kThreads * kPerThread); }));
  const Stats s = p.b->GetStats();
  EXPECT_GE(s.dataChannelsOpened, 1u);
}

TEST(PeerConnectionTest, ConfigurationErrorsThrow) {
  Configuration c = Loopback();
  c.ice_servers.push_back({{"stun:"}, "", ""});
  EXPECT_THROW(PeerConnection pc(c), std::invalid_argument);
  c.ice_servers = {{{"http://example"}, "", ""}};
  EXPECT_THROW(PeerConnection pc(c), std::invalid_argument);
  c.ice_servers = {{{"stun:127.0.0.1:3478", "turn:127.0.0.1?transport=tcp", "turns:127.0.0.1:5349"}, "u", "p"}};
  EXPECT_NO_THROW(PeerConnection pc(c));
  c.bind_addresses = {"not-an-ip"};
  EXPECT_THROW(PeerConnection pc(c), std::invalid_argument);
  DataChannelInit bad;
  bad.negotiated = true;
  PeerConnection pc(Loopback());
  EXPECT_EQ(pc.CreateDataChannel("x", bad).error().kind, ErrorKind::kInvalidArgument);
}

// --- Configuration::udp_mux ----------------------------------------------------------------------

// A UDP datagram from a socket of its own (a stranger to the mux).
void SendRaw(const std::string& to, const std::vector<uint8_t>& bytes) {
  boost::asio::io_context io;
  boost::asio::ip::udp::socket s(io, boost::asio::ip::udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  const auto colon = to.rfind(':');
  s.send_to(boost::asio::buffer(bytes),
            boost::asio::ip::udp::endpoint(boost::asio::ip::make_address(to.substr(0, colon)),
                                           static_cast<uint16_t>(std::stoi(to.substr(colon + 1)))));
}

// A STUN Binding request whose USERNAME names `ufrag` (no integrity: routing must not need it).
std::vector<uint8_t> BindingRequest(const std::string& username) {
  std::vector<uint8_t> m = {0x00, 0x01, 0, 0, 0x21, 0x12, 0xA4, 0x42};
  for (int i = 0; i < 12; ++i)
    m.push_back(static_cast<uint8_t>(i + 1));
  m.push_back(0x00);
  m.push_back(0x06);
  m.push_back(0);
  m.push_back(static_cast<uint8_t>(username.size()));
  m.insert(m.end(), username.begin(), username.end());
  while (m.size() % 4 != 0)
    m.push_back(0);
  m[3] = static_cast<uint8_t>(m.size() - 20);
  return m;
}

// Eight connections answer on one UDP port: every one connects, its only host candidate and its
// selected pair use the mux's port, data crosses both ways intact on all of them at once, a
// stranger's datagrams are dropped and counted, an ICE restart keeps the connection, and a
// closed connection leaves the mux while the others go on.
TEST(PeerConnectionTest, UdpMuxServesManyConnectionsOnOnePort) {
  auto rt = Runtime::Create(2);
  auto mux = UdpMux::Create(rt, "127.0.0.1", 0);
  ASSERT_TRUE(mux.ok()) << mux.error().message;
  const std::string mux_port = std::to_string((*mux)->port());
  constexpr int kPairs = 8;
  constexpr size_t kBytes = 200 * 1000;
  std::vector<std::unique_ptr<Received>> at_server(kPairs), at_client(kPairs);
  std::vector<std::unique_ptr<Peers>> pairs;
  std::vector<std::shared_ptr<DataChannel>> client_channels;
  std::mutex server_channels_mu;
  std::vector<std::shared_ptr<DataChannel>> server_channels(kPairs);
  for (int i = 0; i < kPairs; ++i) {
    at_server[i] = std::make_unique<Received>();
    at_client[i] = std::make_unique<Received>();
    Configuration server = Loopback();
    server.udp_mux = *mux;
    pairs.push_back(std::make_unique<Peers>(rt, Loopback(), server));
    auto ch = pairs[i]->a->CreateDataChannel("mux");
    ASSERT_TRUE(ch.ok());
    at_client[i]->Attach(**ch);
    client_channels.push_back(*ch);
    pairs[i]->b->OnDataChannel([&, i](std::shared_ptr<DataChannel> in) {
      at_server[i]->Attach(*in);
      std::lock_guard lock(server_channels_mu);
      server_channels[i] = in;
    });
    pairs[i]->Negotiate();
  }
  for (int i = 0; i < kPairs; ++i) {
    ASSERT_TRUE(pairs[i]->WaitConnected()) << i;
    const std::string sdp = pairs[i]->b->local_description()->sdp;
    size_t candidates = 0;
    for (size_t pos = sdp.find("a=candidate:"); pos != std::string::npos; pos = sdp.find("a=candidate:", pos + 1)) {
      ++candidates;
    }
    Stats st = pairs[i]->b->GetStats();
    ASSERT_TRUE(st.selectedCandidatePair.has_value());
    EXPECT_EQ(st.selectedCandidatePair->localAddress, (*mux)->local_address()) << i;
    ASSERT_EQ(st.sockets.size(), 1u);
    EXPECT_EQ(st.sockets[0].address, (*mux)->local_address());
  }
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(server_channels_mu);
    for (auto& c : server_channels)
      if (!c || c->ready_state() != DataChannelState::kOpen) return false;
    return true;
  }));
  for (int i = 0; i < kPairs; ++i) {
    const auto up = Pattern(kBytes, 100 + i), down = Pattern(kBytes, 200 + i);
    for (size_t off = 0; off < kBytes; off += 10000) {
      ASSERT_TRUE(client_channels[i]->Send(std::span<const uint8_t>(up.data() + off, 10000)).ok());
      std::lock_guard lock(server_channels_mu);
      ASSERT_TRUE(server_channels[i]->Send(std::span<const uint8_t>(down.data() + off, 10000)).ok());
    }
  }
  ASSERT_TRUE(WaitFor([&] {
    for (int i = 0; i < kPairs; ++i)
      if (at_server[i]->count < kBytes || at_client[i]->count < kBytes) return false;
    return true;
  }));
  for (int i = 0; i < kPairs; ++i) {
    std::lock_guard l1(at_server[i]->mu), l2(at_client[i]->mu);
    EXPECT_EQ(at_server[i]->bytes, Pattern(kBytes, 100 + i)) << i;
    EXPECT_EQ(at_client[i]->bytes, Pattern(kBytes, 200 + i)) << i;
  }
  UdpMuxStats ms = (*mux)->stats();
  EXPECT_EQ(ms.connections, static_cast<size_t>(kPairs));
  EXPECT_GE(ms.routes, static_cast<size_t>(kPairs));
  EXPECT_GT(ms.datagramsRouted, static_cast<uint64_t>(kPairs) * kBytes / 1200);  // the data to the servers
  EXPECT_EQ(ms.datagramsUnroutable, 0u);
  // GSO and shared calls: fewer send calls than datagrams.
  EXPECT_LT(ms.sendCalls, ms.datagramsSent);

  // Strangers: garbage, and a check naming a ufrag nobody registered.
  SendRaw((*mux)->local_address(), {1, 2, 3});
  SendRaw((*mux)->local_address(), BindingRequest("nobody:x"));
  EXPECT_TRUE(WaitFor([&] { return (*mux)->stats().datagramsUnroutable == 2; }));

  // The server side restarts ICE on pair 1: new ufrag, same port, the connection stays.
  {
    Peers& p = *pairs[1];
    p.b->RestartIce();
    auto offer = p.b->CreateOffer();
    ASSERT_TRUE(offer.ok());
    ASSERT_TRUE(p.b->SetLocalDescription(*offer).ok());
    ASSERT_TRUE(p.a->SetRemoteDescription(*offer).ok());
    auto answer = p.a->CreateAnswer();
    ASSERT_TRUE(answer.ok());
    ASSERT_TRUE(p.a->SetLocalDescription(*answer).ok());
    ASSERT_TRUE(p.b->SetRemoteDescription(*answer).ok());
    p.trickle.Flush();
    const size_t before = at_server[1]->messages;
    ASSERT_TRUE(client_channels[1]->Send("after restart").ok());
    EXPECT_TRUE(WaitFor([&] {
      p.trickle.Flush();
      return at_server[1]->messages == before + 1;
    }));
  }

  // Closing one connection unregisters it; another still works.
  client_channels[0].reset();
  {
    std::lock_guard lock(server_channels_mu);
    server_channels[0].reset();
  }
  pairs[0].reset();
  EXPECT_TRUE(WaitFor([&] { return (*mux)->stats().connections == kPairs - 1; }));
  const size_t before = at_server[2]->messages;
  ASSERT_TRUE(client_channels[2]->Send("still here").ok());
  EXPECT_TRUE(WaitFor([&] { return at_server[2]->messages == before + 1; }));
  {
    std::lock_guard lock(server_channels_mu);
    server_channels.clear();
  }
  client_channels.clear();
  pairs.clear();
  EXPECT_TRUE(WaitFor([&] { return (*mux)->stats().connections == 0; }));
}

// The connections a mux drains after one receive batch send together: while the mux's thread is
// held, four clients (on their own runtime) each send a message, so one wake-up reads all four;
// each server echoes from its message callback, and the four echoes (to four addresses) leave in
// one sendmmsg. Without the mux deferring its connections' flushes, each leaves alone.
TEST(PeerConnectionTest, UdpMuxAnswersThePeersOfOneReceiveBatchInOneSendCall) {
  auto rt_mux = Runtime::Create(1), rt_clients = Runtime::Create(1);
  auto mux = UdpMux::Create(rt_mux, "127.0.0.1", 0);
  ASSERT_TRUE(mux.ok()) << mux.error().message;
  constexpr int kPairs = 4;
  std::vector<std::unique_ptr<Peers>> pairs;
  std::vector<std::unique_ptr<Received>> echoed(kPairs);
  std::vector<std::shared_ptr<DataChannel>> client_channels;
  std::mutex server_channels_mu;
  std::vector<std::shared_ptr<DataChannel>> server_channels(kPairs);
  for (int i = 0; i < kPairs; ++i) {
    echoed[i] = std::make_unique<Received>();
    Configuration server = Loopback();
    server.udp_mux = *mux;
    pairs.push_back(std::make_unique<Peers>(rt_clients, Loopback(), server, rt_mux));
    auto ch = pairs[i]->a->CreateDataChannel("echo");
    ASSERT_TRUE(ch.ok());
    echoed[i]->Attach(**ch);
    client_channels.push_back(*ch);
    pairs[i]->b->OnDataChannel([&, i](std::shared_ptr<DataChannel> in) {
      DataChannel* raw = in.get();
      in->OnMessage([raw](std::span<const uint8_t> data, bool) { (void)raw->Send(data); });  // on the mux's thread
      std::lock_guard lock(server_channels_mu);
      server_channels[i] = in;
    });
    pairs[i]->Negotiate();
  }
  for (int i = 0; i < kPairs; ++i)
    ASSERT_TRUE(pairs[i]->WaitConnected()) << i;
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(server_channels_mu);
    for (auto& c : server_channels)
      if (!c || c->ready_state() != DataChannelState::kOpen) return false;
    for (auto& c : client_channels)
      if (c->ready_state() != DataChannelState::kOpen) return false;
    return true;
  }));
  // Quiet: let the handshake's last acknowledgements go out before measuring.
  std::this_thread::sleep_for(300ms);
  const UdpMuxStats before = (*mux)->stats();
  std::vector<uint64_t> client_sent(kPairs);
  for (int i = 0; i < kPairs; ++i)
    client_sent[i] = pairs[i]->a->GetStats().sockets.at(0).datagramsSent;

  // Hold the mux's thread (bounded), let every client's message reach the mux's socket, release.
  std::mutex hold_mu;
  std::condition_variable hold_cv;
  bool held = false, release = false;
  pairs[0]->b->Post([&] {
    std::unique_lock lock(hold_mu);
    held = true;
    hold_cv.notify_all();
    hold_cv.wait_for(lock, 5s, [&] { return release; });
  });
  {
    std::unique_lock lock(hold_mu);
    ASSERT_TRUE(hold_cv.wait_for(lock, 5s, [&] { return held; }));
  }
  for (int i = 0; i < kPairs; ++i)
    ASSERT_TRUE(client_channels[i]->Send("ping " + std::to_string(i)).ok());
  const bool all_sent = WaitFor(
      [&] {
        for (int i = 0; i < kPairs; ++i)
          if (pairs[i]->a->GetStats().sockets.at(0).datagramsSent == client_sent[i]) return false;
        return true;
      },
      5s);
  {
    std::lock_guard lock(hold_mu);
    release = true;
    hold_cv.notify_all();
  }
  ASSERT_TRUE(all_sent);
  ASSERT_TRUE(WaitFor([&] {
    for (int i = 0; i < kPairs; ++i)
      if (echoed[i]->messages == 0) return false;
    return true;
  }));
  for (int i = 0; i < kPairs; ++i) {
    std::lock_guard lock(echoed[i]->mu);
    const std::string want = "ping " + std::to_string(i);
    EXPECT_EQ(echoed[i]->bytes, std::vector<uint8_t>(want.begin(), want.end())) << i;
  }
  const UdpMuxStats after = (*mux)->stats();
  EXPECT_GE(after.datagramsSent - before.datagramsSent, static_cast<uint64_t>(kPairs));
  EXPECT_GE(after.multiDestinationSends - before.multiDestinationSends, 1u);
  {
    std::lock_guard lock(server_channels_mu);
    server_channels.clear();
  }
  client_channels.clear();
  pairs.clear();
}

TEST(PeerConnectionTest, UdpMuxConfigurationErrorsAreClear) {
  auto rt = Runtime::Create(1);
  auto wildcard = UdpMux::Create(rt, "0.0.0.0", 0);
  ASSERT_FALSE(wildcard.ok());
  EXPECT_NE(wildcard.error().message.find("wildcard"), std::string::npos) << wildcard.error().message;
  auto bad = UdpMux::Create(rt, "not-an-ip", 0);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("bad address"), std::string::npos);
  auto mux = UdpMux::Create(rt, "127.0.0.1", 0);
  ASSERT_TRUE(mux.ok());
  auto taken = UdpMux::Create(rt, "127.0.0.1", (*mux)->port());
  ASSERT_FALSE(taken.ok());
  EXPECT_NE(taken.error().message.find("cannot bind"), std::string::npos) << taken.error().message;

  Configuration stun = Loopback();
  stun.udp_mux = *mux;
  stun.ice_servers = {IceServer{{"stun:127.0.0.1:3478"}, "", ""}};
  EXPECT_THROW(PeerConnection(stun, rt), std::invalid_argument);
  Configuration turn_udp = Loopback();
  turn_udp.udp_mux = *mux;
  turn_udp.ice_servers = {IceServer{{"turn:127.0.0.1:3478"}, "u", "p"}};
  EXPECT_THROW(PeerConnection(turn_udp, rt), std::invalid_argument);
  Configuration other = Loopback();
  other.udp_mux = *mux;
  EXPECT_THROW(PeerConnection(other, Runtime::Create(1)), std::invalid_argument);
  Configuration fine = Loopback();
  fine.udp_mux = *mux;
  fine.ice_servers = {IceServer{{"turn:127.0.0.1:3478?transport=tcp"}, "u", "p"}};
  PeerConnection ok(fine);  // no runtime given: the mux's
}

// PeerConnection::Post: the task runs on the connection's thread (where callbacks run), after
// earlier work, and the calls it makes there run inline; a task posted to a connection that is
// gone by then is dropped.
TEST(PeerConnectionTest, PostRunsOnTheConnectionThreadWithInlineCalls) {
  auto rt = Runtime::Create(1);
  Peers p(rt);
  std::atomic<std::thread::id> callback_thread{};
  p.a->OnSignalingStateChange([&](SignalingState) { callback_thread = std::this_thread::get_id(); });
  std::atomic<bool> done{false}, ok{false};
  std::thread::id task_thread;
  PeerConnection* a = p.a.get();
  PeerConnection* b = p.b.get();
  p.a->Post([&] {
    task_thread = std::this_thread::get_id();
    auto ch = a->CreateDataChannel("posted");
    auto offer = a->CreateOffer();
    bool good = ch.ok() && offer.ok() && a->SetLocalDescription(*offer).ok() && b->SetRemoteDescription(*offer).ok();
    auto answer = b->CreateAnswer();
    good = good && answer.ok() && b->SetLocalDescription(*answer).ok() && a->SetRemoteDescription(*answer).ok();
    // Inline: the state is already stable here, inside the same task.
    ok = good && a->signaling_state() == SignalingState::kStable;
    done = true;
  });
  ASSERT_TRUE(WaitFor([&] { return done.load(); }));
  EXPECT_TRUE(ok.load());
  EXPECT_NE(task_thread, std::this_thread::get_id());
  EXPECT_EQ(task_thread, callback_thread.load());
  EXPECT_TRUE(p.WaitConnected());

  // Destroyed on its own thread (from a posted task) before a task posted earlier had its turn:
  // that task is dropped.
  std::atomic<bool> ran{false}, destroyed{false};
  auto gone = std::make_unique<PeerConnection>(Loopback(), rt);
  PeerConnection* raw = gone.get();
  p.a->Post([&] {
    raw->Post([&] { ran = true; });
    gone.reset();
    destroyed = true;
  });
  ASSERT_TRUE(WaitFor([&] { return destroyed.load(); }));
  std::atomic<bool> later{false};
  p.a->Post([&] { later = true; });  // after the dropped one
  ASSERT_TRUE(WaitFor([&] { return later.load(); }));
  EXPECT_FALSE(ran.load());
}

// Connections without Configuration::certificate take certificates the runtime generated ahead
// of need; every connection still has its own.
TEST(PeerConnectionTest, CertificatesGeneratedAheadAreEachUsedOnce) {
  auto rt = Runtime::Create(1);
  std::set<std::string> fingerprints;
  for (int i = 0; i < 8; ++i) {
    PeerConnection pc(Loopback(), rt);
    auto offer = pc.CreateOffer();
    ASSERT_TRUE(offer.ok());
    const size_t at = offer->sdp.find("a=fingerprint:");
    ASSERT_NE(at, std::string::npos);
    fingerprints.insert(offer->sdp.substr(at, offer->sdp.find('\n', at) - at));
    // Give the worker time to refill (it keeps two ready).
    WaitFor([&] { return rt->stats().certificatesReady == 2; }, 2s);
  }
  EXPECT_EQ(fingerprints.size(), 8u);
  const RuntimeStats st = rt->stats();
  EXPECT_EQ(st.certificatesPregenerated + st.certificatesGeneratedInline, 8u);
  EXPECT_GE(st.certificatesPregenerated, 7u);  // only the first had to make its own
  EXPECT_EQ(st.certificatesGeneratedInline, 1u);
  // A configured certificate does not touch the pool.
  Configuration with = Loopback();
  SeededRng seeded(4);
  with.certificate = *dtls::Certificate::Generate(seeded);
  PeerConnection pc(with, rt);
  EXPECT_EQ(rt->stats().certificatesPregenerated + rt->stats().certificatesGeneratedInline, 8u);
}

}  // namespace
}  // namespace peerlink
