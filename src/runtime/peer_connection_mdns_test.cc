// Remote mDNS candidates in PeerConnection, over real multicast: two connections on 127.0.0.1
// whose candidates reach each other only as "<uuid>.local" names (as browsers send them), and a
// publisher (MdnsService) answering for that name. Runs in a network namespace this test process
// creates (unshare(CLONE_NEWNET)), where lo gets the MULTICAST flag and a 224.0.0.0/4 route, so
// port 5353 of the host is never touched. Needs root; fails, never skips, without it.
#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "include/peerlink/peer_connection.h"
#include "src/base/rng.h"
#include "src/runtime/mdns_service.h"

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

// Log lines of one connection, readable from the test thread.
struct Log {
  std::mutex mu;
  std::vector<std::string> lines;
  std::function<void(std::string_view)> Sink() {
    return [this](std::string_view l) {
      std::lock_guard lock(mu);
      lines.emplace_back(l);
    };
  }
  bool Has(const std::string& text) {
    std::lock_guard lock(mu);
    for (const auto& l : lines)
      if (l.find(text) != std::string::npos) return true;
    return false;
  }
  std::string All() {
    std::lock_guard lock(mu);
    std::string out;
    for (const auto& l : lines)
      out += "  " + l + "\n";
    return out;
  }
};

// Publishes 127.0.0.1 under a random name from its own io thread.
class Publisher {
 public:
  Publisher() : service_(io_, Options(), rng_) {
    std::string error;
    started_ = service_.Start(&error);
    EXPECT_TRUE(started_) << error;
    if (auto n = service_.Publish(IpAddress::Loopback(IpFamily::kV4))) name_ = *n;
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Publisher() {
    boost::asio::post(io_, [this] { service_.Stop(); });
    guard_.reset();
    io_.stop();
    thread_.join();
  }
  const std::string& name() const { return name_; }

 private:
  static runtime::MdnsServiceOptions Options() {
    runtime::MdnsServiceOptions o;
    o.interface_address = IpAddress::Loopback(IpFamily::kV4);
    return o;
  }
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_ = boost::asio::make_work_guard(io_);
  CryptoRng rng_;
  runtime::MdnsService service_;
  bool started_ = false;
  std::string name_;
  std::thread thread_;
};

// A one-shot resolver on its own io thread, with a fresh cache: Lookup(name) returns the
// addresses it resolved to, or nothing when no answer came within 1.5 s.
class Lookup {
 public:
  explicit Lookup(const std::string& name) : service_(io_, Options(), rng_) {
    std::string error;
    EXPECT_TRUE(service_.Start(&error)) << error;
    service_.set_on_event([this](const mdns::ResolverEvent& e) {
      std::lock_guard lock(mu_);
      if (const auto* ok = std::get_if<mdns::Resolved>(&e)) {
        for (const IpAddress& ip : ok->addresses)
          addresses_.push_back(ip.ToString());
      }
      done_ = true;
    });
    thread_ = std::thread([this] { io_.run(); });
    service_.Post([name](runtime::MdnsService& s) { s.Resolve(name); });
  }
  ~Lookup() {
    boost::asio::post(io_, [this] { service_.Stop(); });
    guard_.reset();
    io_.stop();
    thread_.join();
  }
  std::optional<std::vector<std::string>> Result(std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      {
        std::lock_guard lock(mu_);
        if (done_) return addresses_;
      }
      std::this_thread::sleep_for(5ms);
    }
    return std::nullopt;
  }

 private:
  static runtime::MdnsServiceOptions Options() {
    runtime::MdnsServiceOptions o;
    o.interface_address = IpAddress::Loopback(IpFamily::kV4);
    o.resolver.timeout = Duration::Millis(1500);
    return o;
  }
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_ = boost::asio::make_work_guard(io_);
  CryptoRng rng_;
  runtime::MdnsService service_;
  std::mutex mu_;
  bool done_ = false;
  std::vector<std::string> addresses_;
  std::thread thread_;
};

// "candidate:... 127.0.0.1 PORT typ host ..." with the address replaced by `name`.
std::string Obfuscate(const std::string& candidate, const std::string& name) {
  const std::string ip = " 127.0.0.1 ";
  const size_t at = candidate.find(ip);
  if (at == std::string::npos) return candidate;
  return candidate.substr(0, at) + " " + name + " " + candidate.substr(at + ip.size());
}

class PeerConnectionMdnsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Each test runs in its own ctest process (gtest_discover_tests), so this is once per process.
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET) needs root";
    ASSERT_EQ(std::system("ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo"), 0);
  }

  // Candidates pass through the test thread: rewritten by `map` (empty result: dropped).
  struct Queue {
    std::mutex mu;
    std::deque<std::pair<PeerConnection*, IceCandidate>> q;
    void Push(PeerConnection* to, IceCandidate c) {
      std::lock_guard lock(mu);
      q.emplace_back(to, std::move(c));
    }
    // Delivers what is queued; every AddIceCandidate must succeed.
    void Flush() {
      std::deque<std::pair<PeerConnection*, IceCandidate>> out;
      {
        std::lock_guard lock(mu);
        out.swap(q);
      }
      for (auto& [to, c] : out) {
        auto r = to->AddIceCandidate(c);
        EXPECT_TRUE(r.ok()) << c.candidate << ": " << r.error().message;
      }
    }
  };

  // Two connections on 127.0.0.1 logging into log_a/log_b; a has a channel ("x") and b counts
  // the messages it receives on it in `got`.
  void MakePeers(std::function<void(Configuration&)> tweak = nullptr) {
    Configuration ca, cb;
    ca.bind_addresses = cb.bind_addresses = {"127.0.0.1"};
    if (tweak) {
      tweak(ca);
      tweak(cb);
    }
    ca.log = log_a.Sink();
    cb.log = log_b.Sink();
    a = std::make_unique<PeerConnection>(ca, runtime);
    b = std::make_unique<PeerConnection>(cb, runtime);
    b->OnDataChannel([this](std::shared_ptr<DataChannel> ch) {
      ch->OnMessage([this](std::span<const uint8_t>, bool) { ++got; });
      incoming = std::move(ch);
    });
    auto made = a->CreateDataChannel("x");
    ASSERT_TRUE(made.ok());
    channel = *made;
  }

  // a's offer, set as its local description (gathering starts).
  Description Offer() {
    auto offer = a->CreateOffer();
    EXPECT_TRUE(offer.ok());
    if (!offer.ok()) return {};
    EXPECT_TRUE(a->SetLocalDescription(*offer).ok());
    return *offer;
  }

  // b takes `offer` and answers; a takes the answer.
  void Answer(const Description& offer) {
    ASSERT_TRUE(b->SetRemoteDescription(offer).ok()) << offer.sdp;
    auto answer = b->CreateAnswer();
    ASSERT_TRUE(answer.ok());
    ASSERT_TRUE(b->SetLocalDescription(*answer).ok());
    ASSERT_TRUE(a->SetRemoteDescription(*answer).ok());
  }

  // Offer/answer; trickled candidates pass through `queue`, rewritten by a_to_b / b_to_a (an
  // empty result drops the candidate).
  void Connect(std::function<std::string(const std::string&)> a_to_b,
               std::function<std::string(const std::string&)> b_to_a,
               std::function<void(Configuration&)> tweak = nullptr) {
    MakePeers(std::move(tweak));
    a->OnIceCandidate([this, a_to_b](IceCandidate c) {
      if (!c.candidate.empty()) {
        c.candidate = a_to_b(c.candidate);
        if (c.candidate.empty()) return;
      }
      queue.Push(b.get(), c);
    });
    b->OnIceCandidate([this, b_to_a](IceCandidate c) {
      if (!c.candidate.empty()) {
        c.candidate = b_to_a(c.candidate);
        if (c.candidate.empty()) return;
      }
      queue.Push(a.get(), c);
    });
    Answer(Offer());
  }

  // Both connections reach "connected" within 10 s (delivering queued candidates meanwhile).
  bool BothConnected() {
    const bool connected = WaitFor(
        [&] {
          queue.Flush();
          return a->connection_state() == PeerConnectionState::kConnected &&
                 b->connection_state() == PeerConnectionState::kConnected;
        },
        10s);
    if (!connected) ADD_FAILURE() << "a:\n" << log_a.All() << "b:\n" << log_b.All();
    return connected;
  }

  // The channel opens and one message sent on it arrives.
  void ExpectAMessageArrives(std::string_view text) {
    ASSERT_TRUE(WaitFor([&] { return channel->ready_state() == DataChannelState::kOpen; }, 5s));
    ASSERT_TRUE(channel->Send(text).ok());
    EXPECT_TRUE(WaitFor([&] { return got.load() == 1; }, 5s));
  }

  void TearDown() override {
    channel.reset();
    incoming.reset();
    a.reset();
    b.reset();
  }

  Log log_a, log_b;
  Queue queue;
  std::shared_ptr<Runtime> runtime = Runtime::Create(1);
  std::unique_ptr<PeerConnection> a, b;
  std::shared_ptr<DataChannel> channel, incoming;
  std::atomic<int> got{0};
};

TEST_F(PeerConnectionMdnsTest, ConnectsWhenBothSidesOnlyKnowTheOthersMdnsName) {
  Publisher publisher;
  ASSERT_FALSE(publisher.name().empty());
  const std::string name = publisher.name();
  auto hide = [name](const std::string& c) { return Obfuscate(c, name); };
  Connect(hide, hide);
  // Neither side learns an address from signaling, so until one resolves the name no check can
  // be sent and nobody can be learned as peer-reflexive: connecting proves the resolution.
  ASSERT_TRUE(BothConnected());
  EXPECT_TRUE(log_a.Has("pc: mdns: resolved " + name + " -> 127.0.0.1")) << log_a.All();
  EXPECT_TRUE(log_b.Has("pc: mdns: resolved " + name + " -> 127.0.0.1")) << log_b.All();
  // At least one side selected the resolved candidate as a host candidate (the other may have
  // learned it as peer-reflexive from the first side's checks, before its own answer arrived).
  const Stats sa = a->GetStats(), sb = b->GetStats();
  ASSERT_TRUE(sa.selectedCandidatePair && sb.selectedCandidatePair);
  EXPECT_TRUE(sa.selectedCandidatePair->remoteCandidateType == "host" ||
              sb.selectedCandidatePair->remoteCandidateType == "host");
  // And data moves.
  ExpectAMessageArrives("over a resolved name");
}

TEST_F(PeerConnectionMdnsTest, MdnsCandidatesInsideTheRemoteDescriptionAreResolved) {
  // A peer that does not trickle: a's candidates reach b only as "<uuid>.local" lines in the
  // offer's SDP, followed by end-of-candidates; b's candidates are never given to a. b can only
  // send checks after resolving the name from the description, so connecting proves it did.
  Publisher publisher;
  ASSERT_FALSE(publisher.name().empty());
  const std::string name = publisher.name();
  MakePeers();
  std::mutex mu;
  std::vector<std::string> gathered;
  std::atomic<bool> complete{false};
  a->OnIceCandidate([&](IceCandidate c) {
    if (c.candidate.empty()) {
      complete = true;
      return;
    }
    std::lock_guard lock(mu);
    gathered.push_back(c.candidate);
  });
  Description sent = Offer();
  ASSERT_TRUE(WaitFor([&] { return complete.load(); }, 5s));
  {
    std::lock_guard lock(mu);
    ASSERT_FALSE(gathered.empty());
    for (const std::string& c : gathered)
      sent.sdp += "a=" + Obfuscate(c, name) + "\r\n";
  }
  sent.sdp += "a=end-of-candidates\r\n";
  ASSERT_EQ(sent.sdp.find(" 127.0.0.1 "), std::string::npos) << sent.sdp;  // no candidate address
  Answer(sent);
  ASSERT_TRUE(BothConnected());  // nothing is ever queued: b never trickles to a
  EXPECT_TRUE(log_b.Has("pc: mdns: resolved " + name + " -> 127.0.0.1")) << log_b.All();
  const Stats sb = b->GetStats();
  ASSERT_TRUE(sb.selectedCandidatePair);
  EXPECT_EQ(sb.selectedCandidatePair->remoteCandidateType, "host");
  ExpectAMessageArrives("described by name");
}

TEST_F(PeerConnectionMdnsTest, PublishedHostCandidatesAreSignaledByNameAndWithdrawnOnClose) {
  // Both sides publish their host candidates under .local names, as browsers do: no address
  // goes through signaling, each side resolves the other's name, and the name stops resolving
  // once its connection is closed (goodbye).
  std::mutex mu;
  std::vector<std::string> signaled;
  auto record = [&](const std::string& c) {
    std::lock_guard lock(mu);
    signaled.push_back(c);
    return c;
  };
  Connect(record, record, [](Configuration& c) { c.publish_mdns_host_candidates = true; });
  ASSERT_TRUE(BothConnected());
  std::string a_name;
  {
    std::lock_guard lock(mu);
    ASSERT_GE(signaled.size(), 2u);
    for (const std::string& c : signaled) {
      EXPECT_EQ(c.find("127.0.0.1"), std::string::npos) << c;
      EXPECT_NE(c.find(".local "), std::string::npos) << c;
    }
  }
  // a's local description (for peers that do not trickle) names its candidates the same way.
  const auto local = a->local_description();
  ASSERT_TRUE(local);
  EXPECT_EQ(local->sdp.find(" 127.0.0.1 "), std::string::npos) << local->sdp;
  std::istringstream lines(local->sdp);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("a=candidate:")) continue;
    std::istringstream fields(line);
    std::string field;
    for (int i = 0; i < 5 && fields >> field; ++i) {
    }
    a_name = field;  // the connection-address
    break;
  }
  ASSERT_TRUE(a_name.ends_with(".local")) << local->sdp;
  EXPECT_TRUE(log_a.Has("pc: mdns: publishing 127.0.0.1 as " + a_name)) << log_a.All();
  EXPECT_TRUE(log_b.Has("pc: mdns: resolved " + a_name + " -> 127.0.0.1")) << log_b.All();
  ExpectAMessageArrives("between two names");
  {
    Lookup live(a_name);
    auto r = live.Result(5s);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, std::vector<std::string>{"127.0.0.1"});
  }
  a->Close();
  Lookup gone(a_name);
  auto r = gone.Result(5s);
  ASSERT_TRUE(r) << "the lookup neither resolved nor failed";
  EXPECT_TRUE(r->empty()) << "still answered after Close";
}

TEST_F(PeerConnectionMdnsTest, EndOfCandidatesWaitsForAnUnansweredNameThenIceFails) {
  // No publisher: a's only candidates for b carry a name nobody answers for; b hears nothing
  // from a. The end-of-candidates a receives must wait for the query to time out (5 s), after
  // which a fails ICE, bounded.
  const auto started = std::chrono::steady_clock::now();
  Connect([](const std::string&) { return std::string(); },
          [](const std::string& c) { return Obfuscate(c, "3f0c2a1e-8d5b-4c1a-9e7f-0b6d2c4a8e1f.local"); });
  bool failed_first = false;
  ASSERT_TRUE(WaitFor(
      [&] {
        queue.Flush();
        // The state first: the log line is written before the failure it leads to.
        const bool failed = a->ice_connection_state() == IceConnectionState::kFailed;
        const bool given_up = log_a.Has("not resolved");
        if (failed && !given_up) failed_first = true;
        return given_up;
      },
      10s))
      << log_a.All();
  EXPECT_FALSE(failed_first) << "ICE failed before the name was given up:\n" << log_a.All();
  const auto gave_up = std::chrono::steady_clock::now();
  EXPECT_GE(gave_up - started, 4s) << "the query should have had its full timeout";
  EXPECT_TRUE(WaitFor([&] { return a->ice_connection_state() == IceConnectionState::kFailed; }, 5s)) << log_a.All();
}

TEST_F(PeerConnectionMdnsTest, OffRefusesMdnsCandidatesAsUnsupported) {
  Configuration c;
  c.bind_addresses = {"127.0.0.1"};
  c.resolve_mdns_candidates = false;
  PeerConnection pc(c, runtime);
  PeerConnection other(c, runtime);
  auto offer = other.CreateOffer();
  ASSERT_TRUE(offer.ok());
  ASSERT_TRUE(pc.SetRemoteDescription(*offer).ok());
  auto r = pc.AddIceCandidate(
      {"candidate:1 1 udp 2122260223 0a1b2c3d-1111-2222-3333-444455556666.local 50000 typ host", "0", 0});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kUnsupported);
}

}  // namespace
}  // namespace peerlink
