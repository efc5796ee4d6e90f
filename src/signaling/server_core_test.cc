#include "src/signaling/server_core.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

namespace peerlink::signaling {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr std::string_view kSecret = "s3cret";

// Drives a ServerCore by hand: inputs in, outputs drained into per-connection
// inboxes, IsConsistent() asserted after every call.
class Harness {
 public:
  explicit Harness(ServerOptions o = {}) : core_(std::move(o)) {}

  ConnId Connect(std::string_view ip = "10.0.0.1:5000", TokenInfo token = {}) {
    const ConnId id(next_++);
    core_.HandleConnect(now_, id, *SocketAddress::Parse(ip), std::move(token));
    Drain();
    return id;
  }
  void Message(ConnId id, std::string_view text) {
    core_.HandleMessage(now_, id, text);
    Drain();
  }
  void Message(ConnId id, const char* text) { Message(id, std::string_view(text)); }
  void Message(ConnId id, const std::string& text) { Message(id, std::string_view(text)); }
  void Message(ConnId id, const json& j) { Message(id, std::string_view(j.dump())); }
  void Advance(Duration d) {
    now_ += d;
    core_.HandleTimeout(now_);
    Drain();
  }
  void Drain() {
    ASSERT_TRUE(core_.IsConsistent());
    for (int i = 0; i < 1000000; ++i) {
      Output o = core_.PollOutput(now_);
      if (auto* d = std::get_if<Deadline>(&o)) {
        deadline_ = d->at;
        return;
      }
      if (auto* s = std::get_if<Send>(&o)) sent_[s->conn.value()].push_back(s->text);
      if (auto* c = std::get_if<Close>(&o)) closed_[c->conn.value()] = *c;
      if (auto* p = std::get_if<Ping>(&o)) pings_[p->conn.value()]++;
      if (auto* b = std::get_if<BrokerSubscribe>(&o)) broker_.push_back("sub " + b->topic);
      if (auto* b = std::get_if<BrokerUnsubscribe>(&o)) broker_.push_back("unsub " + b->topic);
      if (auto* b = std::get_if<BrokerPublish>(&o)) broker_.push_back("pub " + b->topic + " " + *b->payload);
    }
    FAIL() << "PollOutput never returned a Deadline";
  }
  std::vector<json> Received(ConnId id) {
    std::vector<json> out;
    for (const auto& t : sent_[id.value()])
      out.push_back(json::parse(*t));
    sent_[id.value()].clear();
    return out;
  }
  std::optional<Close> Closed(ConnId id) {
    auto it = closed_.find(id.value());
    if (it == closed_.end()) return std::nullopt;
    return it->second;
  }

  ServerCore core_;
  Instant now_ = Instant::FromNanos(1'000'000'000);
  Instant deadline_ = Instant::Max();
  uint64_t next_ = 1;
  std::map<uint64_t, std::vector<std::shared_ptr<const std::string>>> sent_;
  std::map<uint64_t, Close> closed_;
  std::map<uint64_t, int> pings_;
  std::vector<std::string> broker_;
};

json Sub(std::vector<std::string> topics) {
  return {{"type", "subscribe"}, {"topics", topics}};
}
json Unsub(std::vector<std::string> topics) {
  return {{"type", "unsubscribe"}, {"topics", topics}};
}
json Pub(std::string topic, json data = "x") {
  return {{"type", "publish"}, {"topic", topic}, {"data", data}};
}

TEST(ServerCore, PublishFansOutToEverySubscriberIncludingTheSenderWithClientCount) {
  Harness h;
  auto a = h.Connect(), b = h.Connect(), c = h.Connect(), outsider = h.Connect();
  for (auto id : {a, b, c})
    h.Message(id, Sub({"room"}));
  h.Message(a, Pub("room", {{"k", 1}}));
  for (auto id : {a, b, c}) {
    auto got = h.Received(id);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0]["type"], "publish");
    EXPECT_EQ(got[0]["topic"], "room");
    EXPECT_EQ(got[0]["data"]["k"], 1);
    EXPECT_EQ(got[0]["clients"], 3);
  }
  EXPECT_TRUE(h.Received(outsider).empty());
  EXPECT_EQ(h.core_.metrics().messages_out_total, 3u);
}

TEST(ServerCore, FanOutSharesOnePayloadBuffer) {
  Harness h;
  auto a = h.Connect(), b = h.Connect();
  h.Message(a, Sub({"r"}));
  h.Message(b, Sub({"r"}));
  h.Message(a, Pub("r"));
  ASSERT_EQ(h.sent_[a.value()].size(), 1u);
  ASSERT_EQ(h.sent_[b.value()].size(), 1u);
  EXPECT_EQ(h.sent_[a.value()][0].get(), h.sent_[b.value()][0].get());
}

TEST(ServerCore, PublishKeepsTheClientsBytesAndAppendsClients) {
  Harness h;
  auto a = h.Connect();
  h.Message(a, Sub({"r"}));
  h.Message(a, R"({"type":"publish", "topic":"r","n":1.50,"z":{"a":[1,2]}} )");
  ASSERT_EQ(h.sent_[a.value()].size(), 1u);
  EXPECT_EQ(*h.sent_[a.value()][0], R"({"type":"publish", "topic":"r","n":1.50,"z":{"a":[1,2]},"clients":1})");
}

TEST(ServerCore, ClientSuppliedClientsIsReplaced) {
  Harness h;
  auto a = h.Connect(), b = h.Connect();
  h.Message(a, Sub({"r"}));
  h.Message(b, Sub({"r"}));
  h.Message(b, R"({"type":"publish","topic":"r","clients":99})");
  auto got = h.Received(a);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]["clients"], 2);
}

TEST(ServerCore, PublisherNeedNotBeSubscribed) {
  Harness h;
  auto a = h.Connect(), b = h.Connect();
  h.Message(b, Sub({"r"}));
  h.Message(a, Pub("r"));
  EXPECT_TRUE(h.Received(a).empty());
  auto got = h.Received(b);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]["clients"], 1);
}

TEST(ServerCore, UnsubscribeStopsDeliveryAndDropsEmptyRooms) {
  Harness h;
  auto a = h.Connect(), b = h.Connect();
  h.Message(a, Sub({"r", "s"}));
  h.Message(b, Sub({"r"}));
  EXPECT_EQ(h.core_.metrics().rooms, 2u);
  h.Message(a, Unsub({"r", "never-joined"}));
  h.Message(b, Pub("r"));
  EXPECT_TRUE(h.Received(a).empty());
  EXPECT_EQ(h.Received(b).size(), 1u);
  h.Message(a, Unsub({"s"}));
  EXPECT_EQ(h.core_.metrics().rooms, 1u);
  EXPECT_EQ(h.core_.subscriber_count("s"), 0u);
}

TEST(ServerCore, DisconnectLeavesAllRooms) {
  Harness h;
  auto a = h.Connect(), b = h.Connect();
  h.Message(a, Sub({"r", "s"}));
  h.Message(b, Sub({"r"}));
  h.core_.HandleDisconnect(h.now_, a);
  h.Drain();
  EXPECT_EQ(h.core_.subscriber_count("r"), 1u);
  EXPECT_EQ(h.core_.metrics().rooms, 1u);
  EXPECT_EQ(h.core_.metrics().connections, 1u);
  h.Message(a, Pub("r"));  // a stale id is ignored
  EXPECT_TRUE(h.Received(b).empty());
}

TEST(ServerCore, NonStringTopicsAndUnknownTypesAreIgnoredLikeYWebrtc) {
  Harness h;
  auto a = h.Connect();
  h.Message(a, R"({"type":"subscribe","topics":[1,null,{"x":1},"ok"]})");
  EXPECT_EQ(h.core_.subscriber_count("ok"), 1u);
  EXPECT_EQ(h.core_.metrics().rooms, 1u);
  h.Message(a, R"({"type":"dance"})");
  h.Message(a, R"([1,2,3])");
  h.Message(a, R"(null)");
  h.Message(a, R"({"type":"subscribe","topics":"ok"})");
  h.Message(a, R"({"type":"publish","topic":""})");
  h.Message(a, R"({"type":"publish","topic":5})");
  EXPECT_FALSE(h.Closed(a));
  EXPECT_TRUE(h.Received(a).empty());
  EXPECT_EQ(h.core_.metrics().drops_of(DropReason::kIgnored), 5u);
}

TEST(ServerCore, PingMessageIsAnsweredWithPong) {
  Harness h;
  auto a = h.Connect();
  h.Message(a, R"({"type":"ping"})");
  auto got = h.Received(a);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], json({{"type", "pong"}}));
}

TEST(ServerCore, WebSocketPingEveryIntervalAndCloseWithoutPong) {
  ServerOptions o;
  o.ping_interval = Duration::Seconds(30);
  o.idle_timeout = Duration::Zero();
  Harness h(o);
  auto a = h.Connect(), b = h.Connect();
  EXPECT_EQ(h.deadline_, h.now_ + Duration::Seconds(30));
  h.Advance(Duration::Seconds(30));
  EXPECT_EQ(h.pings_[a.value()], 1);
  EXPECT_EQ(h.pings_[b.value()], 1);
  h.core_.HandlePong(h.now_, a);
  h.Advance(Duration::Seconds(30));
  EXPECT_EQ(h.pings_[a.value()], 2);
  EXPECT_FALSE(h.Closed(a));
  ASSERT_TRUE(h.Closed(b));
  EXPECT_EQ(h.Closed(b)->reason, "ping timeout");
  EXPECT_EQ(h.core_.metrics().drops_of(DropReason::kPingTimeout), 1u);
}

TEST(ServerCore, OversizedMessageClosesWith1009AndOthersAreUndisturbed) {
  ServerOptions o;
  o.max_message_size = 100;
  Harness h(o);
  auto a = h.Connect(), b = h.Connect();
  h.Message(b, Sub({"r"}));
  h.Message(a, std::string(101, ' '));
  ASSERT_TRUE(h.Closed(a));
  EXPECT_EQ(h.Closed(a)->code, kCloseTooBig);
  EXPECT_THAT(h.Closed(a)->reason, HasSubstr("too big"));
  EXPECT_FALSE(h.Closed(b));
  h.Message(b, Pub("r"));
  EXPECT_EQ(h.Received(b).size(), 1u);
  EXPECT_EQ(h.core_.metrics().drops_of(DropReason::kTooBig), 1u);
}

TEST(ServerCore, MalformedJsonClosesWith1003) {
  Harness h;
  auto a = h.Connect(), b = h.Connect();
  h.Message(a, R"({"type":"publish","topic":)");
  ASSERT_TRUE(h.Closed(a));
  EXPECT_EQ(h.Closed(a)->code, kCloseUnsupportedData);
  EXPECT_EQ(h.Closed(a)->reason, "malformed JSON");
  EXPECT_FALSE(h.Closed(b));
  EXPECT_EQ(h.core_.connection_count(), 1u);
}

TEST(ServerCore, BinaryFrameClosesWith1003) {
  Harness h;
  auto a = h.Connect();
  h.core_.HandleBinary(h.now_, a, 10);
  h.Drain();
  ASSERT_TRUE(h.Closed(a));
  EXPECT_EQ(h.Closed(a)->code, kCloseUnsupportedData);
}

TEST(ServerCore, FloodIsClosedByTheTokenBucketButASteadyRateIsNot) {
  ServerOptions o;
  o.rate_per_second = 10;
  o.rate_burst = 20;
  Harness h(o);
  auto flooder = h.Connect(), steady = h.Connect();
  for (int i = 0; i < 20; ++i)
    h.Message(flooder, R"({"type":"ping"})");
  EXPECT_FALSE(h.Closed(flooder));
  h.Message(flooder, R"({"type":"ping"})");
  ASSERT_TRUE(h.Closed(flooder));
  EXPECT_EQ(h.Closed(flooder)->code, kClosePolicyViolation);
  EXPECT_THAT(h.Closed(flooder)->reason, HasSubstr("rate limit"));
  // 10/s sustained for 10 s (100 messages, 5x the burst) stays open.
  for (int i = 0; i < 100; ++i) {
    h.now_ += Duration::Millis(100);
    h.Message(steady, R"({"type":"ping"})");
  }
  EXPECT_FALSE(h.Closed(steady));
  EXPECT_EQ(h.core_.metrics().drops_of(DropReason::kRate), 1u);
}

TEST(ServerCore, TooManyTopicsCloses) {
  ServerOptions o;
  o.max_topics = 3;
  Harness h(o);
  auto a = h.Connect();
  h.Message(a, Sub({"1", "2", "3", "3"}));
  EXPECT_FALSE(h.Closed(a));
  h.Message(a, Sub({"1"}));  // already subscribed: no new topic
  EXPECT_FALSE(h.Closed(a));
  h.Message(a, Sub({"4"}));
  ASSERT_TRUE(h.Closed(a));
  EXPECT_THAT(h.Closed(a)->reason, HasSubstr("too many topics"));
  EXPECT_EQ(h.core_.metrics().rooms, 0u);
}

TEST(ServerCore, TooManyConnectionsPerAddress) {
  ServerOptions o;
  o.max_conns_per_ip = 2;
  Harness h(o);
  auto a = h.Connect("10.0.0.1:1"), b = h.Connect("10.0.0.1:2"), c = h.Connect("10.0.0.1:3");
  auto other = h.Connect("10.0.0.2:1");
  EXPECT_FALSE(h.Closed(a));
  EXPECT_FALSE(h.Closed(b));
  ASSERT_TRUE(h.Closed(c));
  EXPECT_THAT(h.Closed(c)->reason, HasSubstr("too many connections"));
  EXPECT_FALSE(h.Closed(other));
  h.core_.HandleDisconnect(h.now_, a);
  auto d = h.Connect("10.0.0.1:4");
  EXPECT_FALSE(h.Closed(d));
  EXPECT_EQ(h.core_.metrics().drops_of(DropReason::kConnsPerIp), 1u);
}

TEST(ServerCore, IdleTimeoutClosesSilentConnections) {
  ServerOptions o;
  o.idle_timeout = Duration::Seconds(60);
  o.ping_interval = Duration::Seconds(25);
  Harness h(o);
  auto quiet = h.Connect(), chatty = h.Connect();
  for (int i = 0; i < 12; ++i) {
    h.Message(chatty, R"({"type":"ping"})");
    h.core_.HandlePong(h.now_, quiet);
    h.core_.HandlePong(h.now_, chatty);
    h.Advance(Duration::Seconds(10));
  }
  ASSERT_TRUE(h.Closed(quiet));
  EXPECT_THAT(h.Closed(quiet)->reason, HasSubstr("idle timeout"));
  EXPECT_FALSE(h.Closed(chatty));
  EXPECT_EQ(h.core_.metrics().drops_of(DropReason::kIdle), 1u);
}

TEST(ServerCore, ShutdownClosesEveryoneWithGoingAwayAndRefusesNewConnections) {
  Harness h;
  auto a = h.Connect(), b = h.Connect();
  h.Message(a, Sub({"r"}));
  h.core_.HandleShutdown(h.now_);
  h.Drain();
  for (auto id : {a, b}) {
    ASSERT_TRUE(h.Closed(id));
    EXPECT_EQ(h.Closed(id)->code, kCloseGoingAway);
  }
  auto c = h.Connect();
  ASSERT_TRUE(h.Closed(c));
  EXPECT_EQ(h.core_.connection_count(), 0u);
  EXPECT_EQ(h.deadline_, Instant::Max());
}

TEST(ServerCore, WriteOverflowClosesTheSlowReader) {
  Harness h;
  auto a = h.Connect();
  h.core_.HandleWriteOverflow(h.now_, a);
  h.Drain();
  ASSERT_TRUE(h.Closed(a));
  EXPECT_EQ(h.core_.metrics().drops_of(DropReason::kSlowReader), 1u);
}

TEST(ServerCore, ProtocolErrorClosesWithTheFramingCodeAndCounts) {
  Harness h;
  auto a = h.Connect();
  auto b = h.Connect();
  h.core_.HandleProtocolError(h.now_, a, 1007, "text message is not valid UTF-8");
  h.Drain();
  auto c = h.Closed(a);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->code, 1007);
  EXPECT_EQ(c->reason, "text message is not valid UTF-8");
  EXPECT_FALSE(h.Closed(b));
  EXPECT_EQ(h.core_.metrics().drops_of(DropReason::kProtocol), 1u);
  EXPECT_EQ(h.core_.connection_count(), 1u);
  // The connection is forgotten: a second report changes nothing.
  h.core_.HandleProtocolError(h.now_, a, 1002, "again");
  EXPECT_EQ(h.core_.metrics().drops_of(DropReason::kProtocol), 1u);
}

// Tokens.
TokenInfo Token(std::vector<std::string> rooms, int64_t ttl, Instant now, std::string_view secret = kSecret) {
  const int64_t unix_now = 1'700'000'000;
  return InspectToken(kSecret, MintToken(secret, rooms, unix_now + ttl), unix_now, now);
}

ServerOptions Secured() {
  ServerOptions o;
  o.require_token = true;
  return o;
}

TEST(ServerCoreTokens, ValidTokenSubscribesAndPublishesInScope) {
  Harness h(Secured());
  auto a = h.Connect("10.0.0.1:1", Token({"r", "s"}, 3600, h.now_));
  h.Message(a, Sub({"r", "s"}));
  h.Message(a, Pub("r"));
  EXPECT_FALSE(h.Closed(a));
  EXPECT_EQ(h.Received(a).size(), 1u);
}

TEST(ServerCoreTokens, NoTokenRefusesSubscribeWithAClearReason) {
  Harness h(Secured());
  auto a = h.Connect();
  h.Message(a, R"({"type":"ping"})");  // allowed: no room involved
  EXPECT_FALSE(h.Closed(a));
  h.Message(a, Sub({"r"}));
  ASSERT_TRUE(h.Closed(a));
  EXPECT_EQ(h.Closed(a)->code, kClosePolicyViolation);
  EXPECT_EQ(h.Closed(a)->reason, "unauthorized: token required");
}

TEST(ServerCoreTokens, NoTokenRefusesPublish) {
  Harness h(Secured());
  auto member = h.Connect("10.0.0.1:1", Token({"r"}, 3600, h.now_));
  h.Message(member, Sub({"r"}));
  auto intruder = h.Connect();
  h.Message(intruder, Pub("r"));
  ASSERT_TRUE(h.Closed(intruder));
  EXPECT_TRUE(h.Received(member).empty());
}

TEST(ServerCoreTokens, WrongRoomIsRefused) {
  Harness h(Secured());
  auto a = h.Connect("10.0.0.1:1", Token({"r"}, 3600, h.now_));
  h.Message(a, Sub({"other"}));
  ASSERT_TRUE(h.Closed(a));
  EXPECT_EQ(h.Closed(a)->reason, "unauthorized: token does not cover room 'other'");
  EXPECT_EQ(h.core_.metrics().drops_of(DropReason::kUnauthorized), 1u);
}

TEST(ServerCoreTokens, ExpiredAtConnectIsClosedImmediately) {
  Harness h(Secured());
  auto a = h.Connect("10.0.0.1:1", Token({"r"}, -1, h.now_));
  ASSERT_TRUE(h.Closed(a));
  EXPECT_EQ(h.Closed(a)->reason, "unauthorized: token expired");
}

TEST(ServerCoreTokens, ExpiryDuringTheConnectionRefusesLaterSubscribes) {
  Harness h(Secured());
  auto a = h.Connect("10.0.0.1:1", Token({"r", "s"}, 10, h.now_));
  h.Message(a, Sub({"r"}));
  h.Advance(Duration::Seconds(11));
  h.Message(a, Sub({"s"}));
  ASSERT_TRUE(h.Closed(a));
  EXPECT_EQ(h.Closed(a)->reason, "unauthorized: token expired");
}

TEST(ServerCoreTokens, ForgedTokenIsClosedAtConnect) {
  Harness h(Secured());
  auto a = h.Connect("10.0.0.1:1", Token({"r"}, 3600, h.now_, "not-the-secret"));
  ASSERT_TRUE(h.Closed(a));
  EXPECT_EQ(h.Closed(a)->reason, "unauthorized: token signature invalid");
}

// Broker (Redis scale-out) outputs.
ServerOptions Brokered(std::string id) {
  ServerOptions o;
  o.broker = true;
  o.server_id = std::move(id);
  return o;
}

TEST(ServerCoreBroker, SubscribesOnFirstLocalMemberAndUnsubscribesOnLast) {
  Harness h(Brokered("A"));
  auto a = h.Connect(), b = h.Connect();
  h.Message(a, Sub({"r"}));
  h.Message(b, Sub({"r"}));
  h.Message(a, Unsub({"r"}));
  h.core_.HandleDisconnect(h.now_, b);
  h.Drain();
  EXPECT_EQ(h.broker_, (std::vector<std::string>{"sub r", "unsub r"}));
}

TEST(ServerCoreBroker, LocalPublishGoesToBrokerTaggedAndRemoteIsDeliveredOnce) {
  Harness h(Brokered("A"));
  auto a = h.Connect();
  h.Message(a, Sub({"r"}));
  h.broker_.clear();
  h.Message(a, R"({"type":"publish","topic":"r","clients":7})");
  ASSERT_EQ(h.broker_.size(), 1u);
  EXPECT_EQ(h.broker_[0], "pub r A\n{\"topic\":\"r\",\"type\":\"publish\"}");
  EXPECT_EQ(h.Received(a).size(), 1u);
  // Our own message coming back from Redis is not delivered again.
  h.core_.HandleBrokerMessage(h.now_, "r", "A\n{\"type\":\"publish\",\"topic\":\"r\"}");
  h.Drain();
  EXPECT_TRUE(h.Received(a).empty());
  // Another server's is, with our local count.
  h.core_.HandleBrokerMessage(h.now_, "r", "B\n{\"type\":\"publish\",\"topic\":\"r\"}");
  h.Drain();
  auto got = h.Received(a);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]["clients"], 1);
  h.core_.HandleBrokerMessage(h.now_, "r", "no-origin");
  h.core_.HandleBrokerMessage(h.now_, "r", "B\n[1]");
  h.Drain();
  EXPECT_TRUE(h.Received(a).empty());
}

}  // namespace
}  // namespace peerlink::signaling
