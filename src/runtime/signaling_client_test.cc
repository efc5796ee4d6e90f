// SignalingClient over real loopback sockets against real SignalingServers (each on its own
// io_context thread), with a raw WebSocket observer (tests/signaling/ws_client.h) subscribed to
// the room to see exactly what the server relays.
#include "src/runtime/signaling_client.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "src/runtime/signaling_server.h"
#include "tests/signaling/loopback_server.h"
#include "tests/signaling/ws_client.h"

namespace peerlink::runtime {
namespace {

namespace asio = boost::asio;
using nlohmann::json;
using signaling::PeerRole;
using signaling::ywebrtc::CandidateSignal;
using signaling::ywebrtc::SessionDescriptionSignal;
using Ms = std::chrono::milliseconds;

using Server = signaling::testing::LoopbackServer;

std::string SecretSdp(const std::string& id) {
  return "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=SDP-SECRET-" + id + "\r\n";
}

// A SignalingClient on its own io_context thread with a scripted peer-connection side: as caller
// it offers and trickles a candidate; on an offer it answers and trickles a candidate.
class Peer {
 public:
  explicit Peer(SignalingClientOptions o) {
    SignalingClientCallbacks cb;
    cb.on_peer_discovered = [this](const std::string& id) { Record("discovered " + id); };
    cb.on_peer_left = [this](const std::string& id) { Record("left " + id); };
    cb.on_role = [this](const std::string& id, PeerRole role) {
      Record(std::string(role == PeerRole::kCaller ? "caller " : "callee ") + id);
      if (role != PeerRole::kCaller) return;
      client_->SendSignal(id, SessionDescriptionSignal{SessionDescriptionSignal::Type::kOffer, SecretSdp(id_)});
      client_->SendSignal(id, CandidateSignal{"candidate:1 1 udp 1 127.0.0.1 5000 typ host", "0", 0});
    };
    cb.on_signal = [this](const std::string& id, const signaling::ywebrtc::PeerSignal& s, const std::string&) {
      if (auto* d = std::get_if<SessionDescriptionSignal>(&s)) {
        const bool offer = d->type == SessionDescriptionSignal::Type::kOffer;
        Record(std::string(offer ? "offer " : "answer ") + id + " " + d->sdp);
        if (offer) {
          client_->SendSignal(id, SessionDescriptionSignal{SessionDescriptionSignal::Type::kAnswer, SecretSdp(id_)});
          client_->SendSignal(id, CandidateSignal{"candidate:2 1 udp 1 127.0.0.1 5001 typ host", "0", 0});
        }
      } else if (auto* c = std::get_if<CandidateSignal>(&s)) {
        Record("candidate " + id + " " + c->candidate);
      }
    };
    cb.on_error = [this](const signaling::ClientError& e) { Record("error " + e.message); };
    cb.on_connection = [this](size_t index, bool up, std::string_view reason) {
      Record("conn " + std::to_string(index) + (up ? " up" : " down ") + std::string(reason));
    };
    client_ = std::make_unique<SignalingClient>(io_, std::move(o), std::move(cb));
    id_ = client_->peer_id();
    thread_ = std::thread([this] { io_.run(); });
    client_->Start();
  }
  ~Peer() {
    client_->Stop();
    work_.reset();
    io_.stop();
    thread_.join();
    client_.reset();
  }

  const std::string& id() const { return id_; }
  // Number of recorded events starting with `prefix`.
  size_t Count(const std::string& prefix) {
    std::lock_guard<std::mutex> lock(mu_);
    size_t n = 0;
    for (const auto& e : events_)
      n += e.rfind(prefix, 0) == 0 ? 1 : 0;
    return n;
  }
  bool WaitFor(const std::string& prefix, size_t n = 1, Ms timeout = Ms(10000)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      size_t k = 0;
      for (const auto& e : events_)
        k += e.rfind(prefix, 0) == 0 ? 1 : 0;
      return k >= n;
    });
  }
  std::string Dump() {
    std::lock_guard<std::mutex> lock(mu_);
    std::string s;
    for (const auto& e : events_)
      s += e + "\n";
    return s;
  }
  signaling::ClientCounters Counters() {
    std::promise<signaling::ClientCounters> p;
    client_->GetCounters([&](const signaling::ClientCounters& c) { p.set_value(c); });
    return p.get_future().get();
  }

 private:
  void Record(std::string e) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(e));
    cv_.notify_all();
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::unique_ptr<SignalingClient> client_;
  std::string id_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> events_;
};

SignalingClientOptions Options(std::vector<std::string> urls, const std::string& room = "room") {
  SignalingClientOptions o;
  o.core.urls = std::move(urls);
  o.core.room = room;
  return o;
}

// a and b have discovered each other and completed offer/answer/candidates in the right direction.
void ExpectExchanged(Peer& a, Peer& b) {
  Peer& caller = a.id() < b.id() ? a : b;
  Peer& callee = a.id() < b.id() ? b : a;
  ASSERT_TRUE(caller.WaitFor("answer " + callee.id())) << caller.Dump();
  ASSERT_TRUE(caller.WaitFor("candidate " + callee.id())) << caller.Dump();
  ASSERT_TRUE(callee.WaitFor("offer " + caller.id() + " " + SecretSdp(caller.id()))) << callee.Dump();
  ASSERT_TRUE(callee.WaitFor("candidate " + caller.id())) << callee.Dump();
  EXPECT_EQ(caller.Count("caller " + callee.id()), 1u);
  EXPECT_EQ(callee.Count("callee " + caller.id()), 1u);
  EXPECT_EQ(caller.Count("offer " + callee.id()), 0u);
  EXPECT_EQ(callee.Count("answer " + caller.id()), 0u);
}

// Everything the server relayed to a room subscriber until it has been quiet for `quiet`.
std::vector<std::string> Drain(signaling::testing::WsClient& observer, Ms quiet = Ms(500)) {
  std::vector<std::string> frames;
  while (auto m = observer.Read(quiet))
    frames.push_back(*m);
  return frames;
}

TEST(WebSocketUrl, Parses) {
  auto u = ParseWebSocketUrl("wss://example.org/signal?token=x");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "example.org");
  EXPECT_EQ(u->port, "443");
  EXPECT_EQ(u->target, "/signal?token=x");
  u = ParseWebSocketUrl("ws://[::1]:4444");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, "4444");
  EXPECT_EQ(u->target, "/");
  u = ParseWebSocketUrl("ws://h?x=1");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->target, "/?x=1");
  EXPECT_FALSE(ParseWebSocketUrl("http://h/"));
  EXPECT_FALSE(ParseWebSocketUrl("ws://h:0/"));
  EXPECT_FALSE(ParseWebSocketUrl("ws://h:99999/"));
  EXPECT_FALSE(ParseWebSocketUrl("ws://:80/"));
  EXPECT_FALSE(ParseWebSocketUrl("ws://u@h/"));
}

class SignalingClientRoom : public ::testing::TestWithParam<bool> {};

TEST_P(SignalingClientRoom, TwoClientsDiscoverAndExchangeOfferAnswerCandidates) {
  const bool password = GetParam();
  Server server;
  ASSERT_EQ(server.error_, "");
  signaling::testing::WsClient observer;
  ASSERT_TRUE(observer.Connect(server.port_));
  ASSERT_TRUE(observer.Send(R"({"type":"subscribe","topics":["room"]})"));
  ASSERT_TRUE(observer.Send(R"({"type":"ping"})"));
  ASSERT_EQ(observer.Read(), R"({"type":"pong"})");

  auto oa = Options({server.url()});
  auto ob = Options({server.url()});
  if (password) {
    oa.core.password = "correct horse";                                    // derived by the client
    ob.core.room_key = signaling::DeriveRoomKey("room", "correct horse");  // pre-derived
  }
  Peer a(oa), b(ob);
  ExpectExchanged(a, b);
  EXPECT_EQ(a.Count("error"), 0u);

  const auto frames = Drain(observer);
  ASSERT_GE(frames.size(), 6u);  // 2 announces, 1+ addressed announce, offer, answer, 2 candidates
  size_t with_secret = 0;
  for (const auto& f : frames) {
    const json j = json::parse(f);
    EXPECT_EQ(j["type"], "publish");
    EXPECT_EQ(j["topic"], "room");
    with_secret += f.find("SDP-SECRET") != std::string::npos ? 1 : 0;
    if (password) {
      EXPECT_TRUE(j["data"].is_string()) << f;
      EXPECT_EQ(f.find("candidate"), std::string::npos) << f;
      EXPECT_EQ(f.find(a.id()), std::string::npos) << f;
      EXPECT_EQ(f.find(b.id()), std::string::npos) << f;
    }
  }
  EXPECT_EQ(with_secret, password ? 0u : 2u);
}

INSTANTIATE_TEST_SUITE_P(PlainAndPassword, SignalingClientRoom, ::testing::Bool());

TEST(SignalingClient, WrongPasswordPeersNeverMeet) {
  Server server;
  auto oa = Options({server.url()});
  oa.core.room_key = signaling::DeriveRoomKey("room", "one");
  auto ob = Options({server.url()});
  ob.core.room_key = signaling::DeriveRoomKey("room", "two");
  Peer a(oa), b(ob);
  ASSERT_TRUE(a.WaitFor("conn 0 up"));
  ASSERT_TRUE(b.WaitFor("conn 0 up"));
  EXPECT_FALSE(a.WaitFor("discovered", 1, Ms(1000)));
  EXPECT_EQ(b.Count("discovered"), 0u);
  EXPECT_GT(a.Counters().dropped_undecryptable + b.Counters().dropped_undecryptable, 0u);
}

TEST(SignalingClient, ServerRestartReconnectsWithBackoffKeepsPeersAndFindsALateJoiner) {
  auto server = std::make_unique<Server>();
  ASSERT_EQ(server->error_, "");
  const uint16_t port = server->port_;
  const std::string url = server->url();
  Peer a(Options({url})), b(Options({url}));
  ExpectExchanged(a, b);

  server.reset();  // the process "dies": sockets closed
  ASSERT_TRUE(a.WaitFor("conn 0 down"));
  ASSERT_TRUE(b.WaitFor("conn 0 down"));
  std::this_thread::sleep_for(Ms(800));  // reconnects fail meanwhile (connection refused)
  EXPECT_GE(a.Count("conn 0 down"), 2u) << a.Dump();

  server = std::make_unique<Server>(port);
  ASSERT_EQ(server->error_, "");
  // Backoff ceiling after ~3-4 failures is 2-4 s.
  ASSERT_TRUE(a.WaitFor("conn 0 up", 2, Ms(15000))) << a.Dump();
  ASSERT_TRUE(b.WaitFor("conn 0 up", 2, Ms(15000))) << b.Dump();
  EXPECT_EQ(a.Count("left"), 0u);
  EXPECT_EQ(b.Count("left"), 0u);

  Peer c(Options({url}));
  ExpectExchanged(a, c);
  ExpectExchanged(b, c);
  // a and b met once; the restart did not make them meet again.
  EXPECT_EQ(a.Count("discovered " + b.id()), 1u);
  EXPECT_EQ(b.Count("discovered " + a.id()), 1u);
  EXPECT_GE(a.Counters().reconnects, 2u);
}

TEST(SignalingClient, ThreeIndependentServersDeliverEachMessageOnce) {
  Server s1, s2, s3;
  const std::vector<std::string> urls = {s1.url(), s2.url(), s3.url()};
  Peer a(Options(urls)), b(Options(urls));
  ExpectExchanged(a, b);
  std::this_thread::sleep_for(Ms(500));  // let the copies through the other servers arrive
  for (Peer* p : {&a, &b}) {
    EXPECT_EQ(p->Count("conn"), 3u) << p->Dump();
    EXPECT_EQ(p->Count("discovered"), 1u);
    EXPECT_EQ(p->Count("offer") + p->Count("answer"), 1u) << p->Dump();
    EXPECT_EQ(p->Count("candidate"), 1u) << p->Dump();
  }
  EXPECT_GT(a.Counters().dropped_duplicate, 0u);
  EXPECT_GT(b.Counters().dropped_duplicate, 0u);
}

TEST(SignalingClient, WssVerifiesTheCertificateAndTrustsAGivenCa) {
  const auto dir = std::filesystem::temp_directory_path() / ("peerlink-sigclient-tls-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  const std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost "
      "-addext subjectAltName=DNS:localhost -keyout " +
      key + " -out " + cert + " 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl CLI missing?";
  SignalingServerOptions so;
  so.tls_cert_file = cert;
  so.tls_key_file = key;
  Server server(0, so);
  ASSERT_EQ(server.error_, "");
  const std::string url = "wss://localhost:" + std::to_string(server.port_) + "/";
  {
    // Not trusted: the handshake fails and the client keeps retrying, never connected.
    Peer untrusted(Options({url}));
    ASSERT_TRUE(untrusted.WaitFor("conn 0 down")) << untrusted.Dump();
    EXPECT_NE(untrusted.Dump().find("tls"), std::string::npos) << untrusted.Dump();
    EXPECT_EQ(untrusted.Count("conn 0 up"), 0u);
  }
  {
    // Trusted CA but the wrong name (127.0.0.1 is not in the certificate).
    auto o = Options({"wss://127.0.0.1:" + std::to_string(server.port_) + "/"});
    o.ca_file = cert;
    Peer wrong_name(o);
    ASSERT_TRUE(wrong_name.WaitFor("conn 0 down")) << wrong_name.Dump();
    EXPECT_EQ(wrong_name.Count("conn 0 up"), 0u);
  }
  auto o = Options({url});
  o.ca_file = cert;
  Peer a(o), b(o);
  ExpectExchanged(a, b);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace peerlink::runtime
