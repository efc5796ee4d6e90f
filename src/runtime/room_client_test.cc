// RoomClient: real SignalingServers and real PeerConnections on loopback. Two peers meet in a
// room and open a channel; the connection outlives a signaling server restart; a peer that
// leaves is reported gone; and a relay that bridges two rooms as a man in the middle reads
// everything without identity mode and gets no connection at all with it.
#include "src/runtime/room_client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "src/runtime/signaling_server.h"
#include "tests/signaling/loopback_server.h"

namespace peerlink::runtime {
namespace {

namespace asio = boost::asio;
using Ms = std::chrono::milliseconds;

using Server = signaling::testing::LoopbackServer;

// A RoomClient whose channels greet ("hello from <name>") on open and record what arrives.
class Member {
 public:
  Member(std::string name,
         const std::string& url,
         const std::string& room,
         std::shared_ptr<const signaling::IdentityKey> identity = nullptr,
         std::vector<signaling::IdentityPublicKey> trusted = {},
         std::shared_ptr<Runtime> runtime = nullptr)
      : name_(std::move(name)) {
    RoomClientOptions o;
    o.signaling.core.urls = {url};
    o.signaling.core.room = room;
    o.signaling.core.backoff_base = Duration::Millis(50);
    o.signaling.core.backoff_cap = Duration::Millis(300);
    o.signaling.core.identity = std::move(identity);
    o.signaling.core.trusted_identities = std::move(trusted);
    o.peer.bind_addresses = {"127.0.0.1"};
    o.channel_label = "room-test";
    RoomClientCallbacks cb;
    cb.on_channel = [this](const RoomPeerInfo& peer, std::shared_ptr<DataChannel> ch) {
      DataChannel* c = ch.get();
      const std::string id = peer.peer_id;
      {
        std::lock_guard lock(mu_);
        channels_[id] = ch;
      }
      Record("channel " + id + (peer.caller ? " caller" : " callee"));
      c->OnOpen([this, c, id] {
        (void)c->Send("hello from " + name_);
        Record("open " + id);
      });
      c->OnMessage([this, id](std::span<const uint8_t> d, bool) {
        const std::string text(reinterpret_cast<const char*>(d.data()), d.size());
        Record("message " + id + " " + text);
        if (on_message) on_message(id, text);
      });
    };
    cb.on_peer_gone = [this](const std::string& id, std::string_view why) {
      Record("gone " + id + " " + std::string(why));
    };
    cb.on_state = [this](const RoomPeerInfo& peer, PeerConnectionState st) {
      Record("state " + peer.peer_id + " " + std::string(ToString(st)) + " identity=" + peer.verified_identity);
    };
    cb.on_signaling = [this](size_t, bool up, std::string_view) { Record(up ? "signaling up" : "signaling down"); };
    cb.on_error = [this](const signaling::ClientError& e) {
      Record("error " + std::string(signaling::ToString(e.code)) + " " + e.message);
    };
    room_ = std::make_unique<RoomClient>(std::move(o), std::move(cb), nullptr, std::move(runtime));
  }
  ~Member() { room_->Stop(); }

  void Start() { room_->Start(); }
  RoomClient& room() { return *room_; }
  const std::string& id() const { return room_->peer_id(); }
  std::shared_ptr<DataChannel> channel(const std::string& peer) {
    std::lock_guard lock(mu_);
    auto it = channels_.find(peer);
    return it == channels_.end() ? nullptr : it->second;
  }
  size_t Count(const std::string& prefix) {
    std::lock_guard lock(mu_);
    return CountLocked(prefix);
  }
  bool WaitFor(const std::string& prefix, size_t n = 1, Ms timeout = Ms(15000)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return CountLocked(prefix) >= n; });
  }
  std::string Dump() {
    std::lock_guard lock(mu_);
    std::string s = name_ + ":";
    for (const auto& e : events_)
      s += "\n  " + e;
    return s;
  }

  // Called on the connection's thread for every message (after it is recorded).
  std::function<void(const std::string& peer, const std::string& text)> on_message;

 private:
  void Record(std::string e) {
    {
      std::lock_guard lock(mu_);
      events_.push_back(std::move(e));
    }
    cv_.notify_all();
  }
  size_t CountLocked(const std::string& prefix) const {
    size_t n = 0;
    for (const auto& e : events_)
      n += e.rfind(prefix, 0) == 0 ? 1 : 0;
    return n;
  }

  std::string name_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> events_;
  std::map<std::string, std::shared_ptr<DataChannel>> channels_;
  std::unique_ptr<RoomClient> room_;
};

TEST(RoomClientTest, TwoPeersMeetOpenOneChannelAndTheSmallerIdCalls) {
  Server server;
  ASSERT_EQ(server.error_, "");
  Member a("a", server.url(), "room-1"), b("b", server.url(), "room-1");
  a.Start();
  b.Start();
  ASSERT_TRUE(a.WaitFor("message " + b.id() + " hello from b")) << a.Dump() << "\n" << b.Dump();
  ASSERT_TRUE(b.WaitFor("message " + a.id() + " hello from a")) << a.Dump() << "\n" << b.Dump();
  // Exactly one connection and one channel per side; the smaller peer id offered.
  const bool a_calls = a.id() < b.id();
  EXPECT_EQ(a.Count("channel " + b.id() + (a_calls ? " caller" : " callee")), 1u) << a.Dump();
  EXPECT_EQ(b.Count("channel " + a.id() + (a_calls ? " callee" : " caller")), 1u) << b.Dump();
  EXPECT_EQ(a.Count("channel"), 1u);
  EXPECT_EQ(b.Count("channel"), 1u);
  EXPECT_EQ(a.room().connection_count(), 1u);
  ASSERT_NE(a.room().connection(b.id()), nullptr);
  EXPECT_EQ(a.room().connection(b.id())->connection_state(), PeerConnectionState::kConnected);
  EXPECT_EQ(a.room().connection("nobody"), nullptr);
}

// Glare with real connections: both peers of a pair start at the same moment, so both announce
// at once and each learns of the other from the other's announce. 100 pairs (10 rounds of 10
// rooms started together on one server): every pair must end with exactly one connection and
// one channel on each side, created by the peer with the smaller id.
TEST(RoomClientTest, SimultaneousStartsGiveExactlyOneConnection100Times) {
  Server server;
  auto runtime = Runtime::Create(1);
  int pairs = 0;
  for (int round = 0; round < 10; ++round) {
    std::vector<std::unique_ptr<Member>> as, bs;
    for (int r = 0; r < 10; ++r) {
      const std::string room = "glare-" + std::to_string(round) + "-" + std::to_string(r);
      as.push_back(std::make_unique<Member>("a", server.url(), room, nullptr,
                                            std::vector<signaling::IdentityPublicKey>{}, runtime));
      bs.push_back(std::make_unique<Member>("b", server.url(), room, nullptr,
                                            std::vector<signaling::IdentityPublicKey>{}, runtime));
    }
    for (int r = 0; r < 10; ++r) {
      as[r]->Start();
      bs[r]->Start();
    }
    for (int r = 0; r < 10; ++r) {
      Member& a = *as[r];
      Member& b = *bs[r];
      ASSERT_TRUE(a.WaitFor("message " + b.id() + " hello from b")) << a.Dump() << "\n" << b.Dump();
      ASSERT_TRUE(b.WaitFor("message " + a.id() + " hello from a")) << a.Dump() << "\n" << b.Dump();
    }
    std::this_thread::sleep_for(Ms(200));  // a second attempt, if any, would have shown up by now
    for (int r = 0; r < 10; ++r) {
      Member& a = *as[r];
      Member& b = *bs[r];
      const bool a_calls = a.id() < b.id();
      EXPECT_EQ(a.Count("channel"), 1u) << a.Dump();
      EXPECT_EQ(b.Count("channel"), 1u) << b.Dump();
      EXPECT_EQ(a.Count(std::string("channel ") + b.id() + (a_calls ? " caller" : " callee")), 1u) << a.Dump();
      EXPECT_EQ(a.room().connection_count(), 1u);
      EXPECT_EQ(b.room().connection_count(), 1u);
      EXPECT_EQ(a.Count("gone") + b.Count("gone"), 0u) << a.Dump() << "\n" << b.Dump();
      ++pairs;
    }
  }
  EXPECT_EQ(pairs, 100);
}

TEST(RoomClientTest, ConnectionOutlivesASignalingServerRestart) {
  auto server = std::make_unique<Server>();
  const uint16_t port = server->port_;
  Member a("a", server->url(), "room-2"), b("b", server->url(), "room-2");
  a.Start();
  b.Start();
  ASSERT_TRUE(a.WaitFor("open")) << a.Dump();
  ASSERT_TRUE(b.WaitFor("open")) << b.Dump();
  server.reset();  // the server dies
  ASSERT_TRUE(a.WaitFor("signaling down")) << a.Dump();
  // The peer connection does not depend on signaling: messages still flow both ways.
  ASSERT_TRUE(a.channel(b.id())->Send(std::string("while the server is down")).ok());
  ASSERT_TRUE(b.WaitFor("message " + a.id() + " while the server is down")) << b.Dump();
  server = std::make_unique<Server>(port);
  ASSERT_EQ(server->error_, "");
  ASSERT_TRUE(a.WaitFor("signaling up", 2)) << a.Dump();
  ASSERT_TRUE(b.WaitFor("signaling up", 2)) << b.Dump();
  // Re-announcing after the reconnect does not start a second connection.
  std::this_thread::sleep_for(Ms(500));
  ASSERT_TRUE(b.channel(a.id())->Send(std::string("after the restart")).ok());
  ASSERT_TRUE(a.WaitFor("message " + b.id() + " after the restart")) << a.Dump();
  EXPECT_EQ(a.Count("channel"), 1u) << a.Dump();
  EXPECT_EQ(b.Count("channel"), 1u) << b.Dump();
  EXPECT_EQ(a.Count("gone"), 0u) << a.Dump();
}

TEST(RoomClientTest, APeerThatLeavesIsReportedGoneAndAComebackConnectsAgain) {
  Server server;
  Member a("a", server.url(), "room-3");
  a.Start();
  std::string first_b;
  {
    Member b("b", server.url(), "room-3");
    b.Start();
    ASSERT_TRUE(a.WaitFor("open")) << a.Dump();
    first_b = b.id();
  }  // b stops: its connection closes (SCTP shutdown), a hears it
  ASSERT_TRUE(a.WaitFor("gone " + first_b)) << a.Dump();
  // The closed connection is gone. (A closed connection makes a announce itself again so that a
  // peer that restarts is found; if b's signaling was still up for that moment, a may already
  // be trying b again, a connection that never opens: CI saw that once, so the count is not
  // asserted here.)
  auto old = a.room().connection(first_b);
  EXPECT_TRUE(old == nullptr || old->connection_state() != PeerConnectionState::kConnected) << a.Dump();
  Member b2("b2", server.url(), "room-3");
  b2.Start();
  ASSERT_TRUE(a.WaitFor("message " + b2.id() + " hello from b2")) << a.Dump();
  auto fresh = a.room().connection(b2.id());
  ASSERT_NE(fresh, nullptr);
  EXPECT_EQ(fresh->connection_state(), PeerConnectionState::kConnected);
  EXPECT_LE(a.room().connection_count(), 2u);
}

// The relay as a man in the middle: it bridges room "mitm" on two servers, one per victim, and
// meets each victim as a peer of its own (it cannot show the victim's own identity signature on
// its own certificate). Without identity mode the victims connect to it and it reads and
// forwards everything (both halves share one runtime thread, so forwarding from one's callback
// into the other's channel runs inline); with identity mode (each victim trusts only the other's key) the relay's
// offers/answers fail verification, no channel opens and both victims report identity errors.
struct Bridge {
  Bridge(const std::string& url_a, const std::string& url_b)
      : runtime(Runtime::Create(1)),
        to_a("mitm-a", url_a, "mitm", nullptr, {}, runtime),
        to_b("mitm-b", url_b, "mitm", nullptr, {}, runtime) {
    to_a.on_message = [this](const std::string&, const std::string& text) { Forward(to_b, text); };
    to_b.on_message = [this](const std::string&, const std::string& text) { Forward(to_a, text); };
  }
  void Forward(Member& to, const std::string& text) {
    if (text.rfind("hello from mitm", 0) == 0) return;
    // The victim on the other side is the only peer of `to`.
    for (const std::string& id : {peer_a, peer_b}) {
      if (auto ch = to.channel(id)) (void)ch->Send("relayed: " + text);
    }
  }
  std::string peer_a, peer_b;
  std::shared_ptr<Runtime> runtime;
  Member to_a, to_b;
};

TEST(RoomClientTest, WithoutIdentityARelayInTheMiddleReadsEverything) {
  Server sa, sb;
  Member alice("alice", sa.url(), "mitm"), bob("bob", sb.url(), "mitm");
  Bridge relay(sa.url(), sb.url());
  relay.peer_a = alice.id();
  relay.peer_b = bob.id();
  relay.to_a.Start();
  relay.to_b.Start();
  alice.Start();
  bob.Start();
  // Each victim has a channel, to the relay; once both are open, what Alice sends reaches Bob
  // through the relay, which read it in the clear.
  ASSERT_TRUE(alice.WaitFor("open " + relay.to_a.id())) << alice.Dump();
  ASSERT_TRUE(bob.WaitFor("open " + relay.to_b.id())) << bob.Dump();
  ASSERT_TRUE(relay.to_b.WaitFor("open " + bob.id())) << relay.to_b.Dump();
  ASSERT_TRUE(alice.channel(relay.to_a.id())->Send(std::string("secret for bob")).ok());
  ASSERT_TRUE(relay.to_a.WaitFor("message " + alice.id() + " secret for bob")) << relay.to_a.Dump();
  ASSERT_TRUE(bob.WaitFor("message " + relay.to_b.id() + " relayed: secret for bob")) << bob.Dump();
}

TEST(RoomClientTest, WithIdentityARelayInTheMiddleGetsNoConnection) {
  auto alice_key = std::make_shared<const signaling::IdentityKey>(signaling::IdentityKey::Generate());
  auto bob_key = std::make_shared<const signaling::IdentityKey>(signaling::IdentityKey::Generate());
  Server sa, sb;
  Member alice("alice", sa.url(), "mitm", alice_key, {bob_key->public_key()});
  Member bob("bob", sb.url(), "mitm", bob_key, {alice_key->public_key()});
  Bridge relay(sa.url(), sb.url());
  relay.peer_a = alice.id();
  relay.peer_b = bob.id();
  relay.to_a.Start();
  relay.to_b.Start();
  alice.Start();
  bob.Start();
  // Whichever side offers, the relay's description reaching a victim is unsigned by the
  // expected identity: dropped with an identity error. No channel opens anywhere.
  const auto deadline = std::chrono::steady_clock::now() + Ms(15000);
  while (alice.Count("error identity") + bob.Count("error identity") == 0 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(Ms(50));
  ASSERT_GT(alice.Count("error identity") + bob.Count("error identity"), 0u) << alice.Dump() << bob.Dump();
  std::this_thread::sleep_for(Ms(2000));
  EXPECT_EQ(alice.Count("open"), 0u) << alice.Dump();
  EXPECT_EQ(bob.Count("open"), 0u) << bob.Dump();
  EXPECT_EQ(relay.to_a.Count("message"), 0u) << relay.to_a.Dump();
  EXPECT_EQ(relay.to_b.Count("message"), 0u) << relay.to_b.Dump();
}

TEST(RoomClientTest, WithIdentityTheRealPeersConnectAndNameEachOther) {
  auto alice_key = std::make_shared<const signaling::IdentityKey>(signaling::IdentityKey::Generate());
  auto bob_key = std::make_shared<const signaling::IdentityKey>(signaling::IdentityKey::Generate());
  Server server;
  Member alice("alice", server.url(), "id-room", alice_key, {bob_key->public_key()});
  Member bob("bob", server.url(), "id-room", bob_key, {alice_key->public_key()});
  alice.Start();
  bob.Start();
  ASSERT_TRUE(alice.WaitFor("message " + bob.id() + " hello from bob")) << alice.Dump();
  ASSERT_TRUE(bob.WaitFor("message " + alice.id() + " hello from alice")) << bob.Dump();
  EXPECT_EQ(alice.Count("error"), 0u) << alice.Dump();
  // Each side names the identity that signed the other's description (the state event is posted
  // to the room's thread, so it may be recorded after the first message).
  EXPECT_TRUE(alice.WaitFor("state " + bob.id() + " connected identity=" + bob_key->id())) << alice.Dump();
  EXPECT_TRUE(bob.WaitFor("state " + alice.id() + " connected identity=" + alice_key->id())) << bob.Dump();
}

}  // namespace
}  // namespace peerlink::runtime
