// Two real Controllers wired back to back through FakeSctp, a test double
// for the transport only: it delivers SctpSend outputs as HandleMessage on
// the other side (in order), models RFC 6525 outgoing resets (the peer sees
// StreamsResetByPeer, then the sender sees StreamsResetDone) and reports
// buffered amounts (instantly acknowledged unless acks are held).
#include "src/datachannel/controller.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace peerlink::datachannel {
namespace {

const Instant kNow = Instant::FromNanos(1'000'000'000);

struct Side {
  explicit Side(const Config& config) : c(config) {}
  Controller c;
  std::vector<Event> events;
  std::vector<SctpSend> sent;                 // everything handed to "SCTP"
  std::vector<std::vector<StreamId>> resets;  // every SctpReset
  std::map<uint16_t, size_t> sctp_buffered;   // modelled per-stream buffer
  bool hold_acks = false;

  template <typename T>
  std::vector<T> Events() const {
    std::vector<T> out;
    for (const Event& e : events)
      if (const T* t = std::get_if<T>(&e)) out.push_back(*t);
    return out;
  }
  template <typename T>
  size_t Count() const {
    return Events<T>().size();
  }
  std::vector<SctpSend> SentWithPpid(Ppid p) const {
    std::vector<SctpSend> out;
    for (const SctpSend& s : sent)
      if (s.ppid == p) out.push_back(s);
    return out;
  }
  ChannelId IncomingId(std::string_view label) const {
    for (const auto& ic : Events<IncomingChannel>())
      if (ic.label == label) return ic.id;
    ADD_FAILURE() << "no incoming channel " << label;
    return ChannelId();
  }
  // Makes the "SCTP" acknowledge everything sent on `stream`.
  void Ack(uint16_t stream) {
    sctp_buffered[stream] = 0;
    c.HandleBufferedAmount(kNow, StreamId(stream), 0);
  }
  void AckBytes(uint16_t stream, size_t bytes) {
    sctp_buffered[stream] -= std::min(bytes, sctp_buffered[stream]);
    c.HandleBufferedAmount(kNow, StreamId(stream), sctp_buffered[stream]);
  }
};

class FakeSctp {
 public:
  FakeSctp(const Config& a_config = {}, const Config& b_config = {}) : a(a_config), b(b_config) {
    a.c.SetDtlsRole(/*client=*/true);
    b.c.SetDtlsRole(/*client=*/false);
  }
  void Connect() {
    a.c.HandleSctpConnected(kNow);
    b.c.HandleSctpConnected(kNow);
    Pump();
  }
  // Drains both sides until neither has output.
  void Pump() {
    bool progress = true;
    while (progress) {
      progress = Drain(a, b);
      progress = Drain(b, a) || progress;
      EXPECT_TRUE(a.c.IsConsistent());
      EXPECT_TRUE(b.c.IsConsistent());
    }
  }
  // Drains one side; its SCTP outputs reach `to`.
  bool Drain(Side& from, Side& to) {
    bool any = false;
    for (;;) {
      Output out = from.c.PollOutput(kNow);
      if (auto* d = std::get_if<Deadline>(&out)) {
        EXPECT_EQ(d->at, Instant::Max());
        return any;
      }
      any = true;
      if (auto* e = std::get_if<Event>(&out)) {
        from.events.push_back(std::move(*e));
      } else if (auto* s = std::get_if<SctpSend>(&out)) {
        from.sent.push_back(*s);
        const uint16_t sid = s->stream.value();
        from.sctp_buffered[sid] += s->payload.size();
        if (!from.hold_acks) from.sctp_buffered[sid] = 0;
        from.c.HandleBufferedAmount(kNow, s->stream, from.sctp_buffered[sid]);
        to.c.HandleMessage(kNow, s->stream, s->ppid, s->payload);
      } else if (auto* r = std::get_if<SctpReset>(&out)) {
        from.resets.push_back(r->streams);
        to.c.HandleStreamsResetByPeer(kNow, r->streams);
        from.c.HandleStreamsResetDone(kNow, r->streams);
      }
    }
  }

  Side a;  // DTLS client: even stream ids
  Side b;  // DTLS server: odd stream ids
};

// ChannelOptions builders (designated initializers would trip
// -Wmissing-field-initializers).
ChannelOptions Opts() {
  return ChannelOptions{};
}
ChannelOptions Unordered() {
  ChannelOptions o;
  o.ordered = false;
  return o;
}
ChannelOptions Negotiated(uint16_t id, bool ordered = true) {
  ChannelOptions o;
  o.negotiated = true;
  o.id = id;
  o.ordered = ordered;
  return o;
}
ChannelOptions WithProtocol(std::string protocol) {
  ChannelOptions o;
  o.protocol = std::move(protocol);
  return o;
}
ChannelOptions WithPriority(Priority p) {
  ChannelOptions o;
  o.priority = p;
  return o;
}
ChannelOptions WithLifetime(Duration d) {
  ChannelOptions o;
  o.max_packet_lifetime = d;
  return o;
}

ChannelId Create(Side& s, std::string_view label, const ChannelOptions& o = Opts()) {
  auto r = s.c.CreateChannel(kNow, label, o);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : ToString(r.error()));
  return r.ok() ? *r : ChannelId();
}

std::vector<uint8_t> Open(uint8_t type, uint32_t reliability, std::string_view label) {
  DataChannelOpen open;
  open.channel_type = static_cast<ChannelType>(type);
  open.reliability_parameter = reliability;
  open.label = label;
  return open.Serialize();
}

std::string Text(const Message& m) {
  return std::string(AsString(m.payload));
}

TEST(DataChannelTest, OpenAckHandshakeOnAnEvenIdFromTheDtlsClient) {
  FakeSctp net;
  net.Connect();
  const ChannelId id = Create(net.a, "chat", WithProtocol("proto"));
  net.Pump();
  const Channel* ch = net.a.c.Find(id);
  ASSERT_NE(ch, nullptr);
  EXPECT_EQ(ch->id(), 0);
  EXPECT_EQ(ch->ready_state(), ReadyState::kOpen);
  EXPECT_EQ(net.a.Count<ChannelOpened>(), 1u);

  ASSERT_EQ(net.a.sent.size(), 1u);
  EXPECT_EQ(net.a.sent[0].ppid, Ppid::kDcep);
  EXPECT_EQ(net.a.sent[0].stream, StreamId(0));
  auto open = DataChannelOpen::Parse(net.a.sent[0].payload);
  ASSERT_TRUE(open.ok());
  EXPECT_EQ(open->label, "chat");
  EXPECT_EQ(open->protocol, "proto");

  ASSERT_EQ(net.b.sent.size(), 1u);
  EXPECT_EQ(net.b.sent[0].ppid, Ppid::kDcep);
  EXPECT_EQ(net.b.sent[0].payload, DataChannelAck{}.Serialize());
  EXPECT_EQ(net.b.sent[0].stream, StreamId(0));

  const auto incoming = net.b.Events<IncomingChannel>();
  ASSERT_EQ(incoming.size(), 1u);
  EXPECT_EQ(incoming[0].label, "chat");
  EXPECT_EQ(incoming[0].protocol, "proto");
  EXPECT_EQ(incoming[0].options.id, 0);
  EXPECT_FALSE(incoming[0].options.negotiated);
  // "datachannel" first, then "open".
  ASSERT_EQ(net.b.events.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<IncomingChannel>(net.b.events[0]));
  EXPECT_TRUE(std::holds_alternative<ChannelOpened>(net.b.events[1]));
  EXPECT_EQ(net.b.c.ready_state(incoming[0].id), ReadyState::kOpen);
  EXPECT_EQ(net.a.c.stats().dcep_unexpected, 0u);
}

TEST(DataChannelTest, DtlsServerOpensOnOddIdsLowestFirst) {
  FakeSctp net;
  net.Connect();
  const ChannelId x = Create(net.b, "x");
  const ChannelId y = Create(net.b, "y");
  net.Pump();
  EXPECT_EQ(net.b.c.Find(x)->id(), 1);
  EXPECT_EQ(net.b.c.Find(y)->id(), 3);
  const ChannelId z = Create(net.a, "z");
  net.Pump();
  EXPECT_EQ(net.a.c.Find(z)->id(), 0);
  EXPECT_EQ(net.a.Count<IncomingChannel>(), 2u);
  EXPECT_EQ(net.b.Count<IncomingChannel>(), 1u);
}

TEST(DataChannelTest, ChannelsCreatedBeforeConnectOpenOnConnect) {
  FakeSctp net;
  const ChannelId id = Create(net.a, "early");
  EXPECT_EQ(net.a.c.ready_state(id), ReadyState::kConnecting);
  EXPECT_FALSE(net.a.c.Find(id)->id().has_value());
  EXPECT_EQ(net.a.c.Send(kNow, id, "too early"), SendStatus::kNotOpen);
  net.Pump();
  EXPECT_TRUE(net.a.sent.empty());
  net.Connect();
  EXPECT_EQ(net.a.c.ready_state(id), ReadyState::kOpen);
  EXPECT_EQ(net.a.c.Find(id)->id(), 0);
  EXPECT_EQ(net.b.Count<IncomingChannel>(), 1u);
}

TEST(DataChannelTest, IdsWaitForTheDtlsRole) {
  Controller c;
  c.HandleSctpConnected(kNow);
  auto id = c.CreateChannel(kNow, "x");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(c.ready_state(*id), ReadyState::kConnecting);
  EXPECT_TRUE(std::holds_alternative<Deadline>(c.PollOutput(kNow)));
  c.SetDtlsRole(false);
  EXPECT_EQ(c.Find(*id)->id(), 1);
  EXPECT_TRUE(std::holds_alternative<SctpSend>(c.PollOutput(kNow)));
}

struct TypeCase {
  bool ordered;
  std::optional<uint16_t> rexmit;
  std::optional<Duration> lifetime;
  uint8_t wire_type;
  uint32_t wire_param;
};

TEST(DataChannelTest, EveryChannelTypeIsEncodedInTheOpenAndMirroredRemotely) {
  const TypeCase cases[] = {
      {true, std::nullopt, std::nullopt, 0x00, 0},
      {false, std::nullopt, std::nullopt, 0x80, 0},
      {true, 7, std::nullopt, 0x01, 7},
      {false, 0, std::nullopt, 0x81, 0},
      {true, std::nullopt, Duration::Millis(1500), 0x02, 1500},
      {false, std::nullopt, Duration::Millis(70000), 0x82, 70000},
  };
  for (const TypeCase& tc : cases) {
    FakeSctp net;
    net.Connect();
    ChannelOptions o;
    o.ordered = tc.ordered;
    o.max_retransmits = tc.rexmit;
    o.max_packet_lifetime = tc.lifetime;
    Create(net.a, "t", o);
    net.Pump();
    ASSERT_FALSE(net.a.sent.empty());
    const SctpSend& open_msg = net.a.sent[0];
    // DCEP itself is always ordered and reliable (RFC 8832 section 6).
    EXPECT_FALSE(open_msg.unordered);
    EXPECT_FALSE(open_msg.max_retransmits.has_value());
    EXPECT_FALSE(open_msg.lifetime.has_value());
    ASSERT_GE(open_msg.payload.size(), 12u);
    EXPECT_EQ(open_msg.payload[1], tc.wire_type);
    auto open = DataChannelOpen::Parse(open_msg.payload);
    ASSERT_TRUE(open.ok());
    EXPECT_EQ(open->reliability_parameter, tc.wire_param);

    const auto incoming = net.b.Events<IncomingChannel>();
    ASSERT_EQ(incoming.size(), 1u);
    EXPECT_EQ(incoming[0].options.ordered, tc.ordered);
    EXPECT_EQ(incoming[0].options.max_retransmits, tc.rexmit);
    EXPECT_EQ(incoming[0].options.max_packet_lifetime, tc.lifetime);
    const Channel* remote = net.b.c.Find(incoming[0].id);
    ASSERT_NE(remote, nullptr);
    EXPECT_EQ(remote->ordered(), tc.ordered);
    EXPECT_EQ(remote->max_retransmits(), tc.rexmit);
    EXPECT_EQ(remote->max_packet_lifetime(), tc.lifetime);

    // After the ACK, user data carries the channel's reliability.
    ASSERT_EQ(net.a.c.Send(kNow, ChannelId(1), "x"), SendStatus::kOk);
    net.Pump();
    const SctpSend& data = net.a.sent.back();
    EXPECT_EQ(data.ppid, Ppid::kString);
    EXPECT_EQ(data.unordered, !tc.ordered);
    EXPECT_EQ(data.max_retransmits, tc.rexmit);
    EXPECT_EQ(data.lifetime, tc.lifetime);
  }
}

TEST(DataChannelTest, PriorityTravelsInTheOpen) {
  FakeSctp net;
  net.Connect();
  const ChannelId id = Create(net.a, "p", WithPriority(Priority::kHigh));
  net.Pump();
  EXPECT_EQ(net.a.c.Find(id)->priority(), Priority::kHigh);
  auto open = DataChannelOpen::Parse(net.a.sent[0].payload);
  ASSERT_TRUE(open.ok());
  EXPECT_EQ(open->priority, 1024);
  EXPECT_EQ(net.b.Events<IncomingChannel>()[0].options.priority, Priority::kHigh);
  EXPECT_EQ(PriorityFromWire(0), Priority::kVeryLow);
  EXPECT_EQ(PriorityFromWire(200), Priority::kLow);
  EXPECT_EQ(PriorityFromWire(300), Priority::kMedium);
  EXPECT_EQ(PriorityFromWire(65535), Priority::kHigh);
}

TEST(DataChannelTest, NegotiatedChannelsOpenWithoutDcepOnBothSides) {
  FakeSctp net;
  const ChannelOptions o = Negotiated(42, /*ordered=*/false);
  const ChannelId a_id = Create(net.a, "neg", o);
  const ChannelId b_id = Create(net.b, "neg", o);
  EXPECT_EQ(net.a.c.Find(a_id)->id(), 42);
  EXPECT_EQ(net.a.c.ready_state(a_id), ReadyState::kConnecting);
  net.Connect();
  EXPECT_EQ(net.a.c.ready_state(a_id), ReadyState::kOpen);
  EXPECT_EQ(net.b.c.ready_state(b_id), ReadyState::kOpen);
  EXPECT_TRUE(net.a.c.Find(a_id)->negotiated());
  ASSERT_EQ(net.a.c.Send(kNow, a_id, "hi"), SendStatus::kOk);
  ASSERT_EQ(net.b.c.Send(kNow, b_id, "yo"), SendStatus::kOk);
  net.Pump();
  EXPECT_TRUE(net.a.SentWithPpid(Ppid::kDcep).empty());
  EXPECT_TRUE(net.b.SentWithPpid(Ppid::kDcep).empty());
  EXPECT_EQ(net.a.Count<IncomingChannel>() + net.b.Count<IncomingChannel>(), 0u);
  // Unordered from the first message: nobody waits for an ACK.
  EXPECT_TRUE(net.a.sent[0].unordered);
  ASSERT_EQ(net.b.Count<Message>(), 1u);
  EXPECT_EQ(Text(net.b.Events<Message>()[0]), "hi");
  EXPECT_EQ(net.b.Events<Message>()[0].id, b_id);
  EXPECT_EQ(Text(net.a.Events<Message>()[0]), "yo");
}

TEST(DataChannelTest, NegotiatedChannelCreatedAfterConnectOpensAtOnce) {
  FakeSctp net;
  net.Connect();
  const ChannelId id = Create(net.a, "neg", Negotiated(3));
  EXPECT_EQ(net.a.c.ready_state(id), ReadyState::kOpen);
  net.Pump();
  EXPECT_EQ(net.a.Count<ChannelOpened>(), 1u);
  // The id is ours now: a DCEP channel skips it... (odd ids are B's anyway)
  const ChannelId dcep = Create(net.b, "dcep");
  net.Pump();
  EXPECT_EQ(net.b.c.Find(dcep)->id(), 1);
}

TEST(DataChannelTest, StringBinaryEmptyAndLargeMessages) {
  FakeSctp net;
  net.Connect();
  const ChannelId id = Create(net.a, "m");
  net.Pump();
  const std::vector<uint8_t> bin = {0, 1, 2, 255};
  const std::vector<uint8_t> large(60000, 0xab);
  ASSERT_EQ(net.a.c.Send(kNow, id, "hello"), SendStatus::kOk);
  ASSERT_EQ(net.a.c.Send(kNow, id, bin, true), SendStatus::kOk);
  ASSERT_EQ(net.a.c.Send(kNow, id, ""), SendStatus::kOk);
  ASSERT_EQ(net.a.c.Send(kNow, id, {}, true), SendStatus::kOk);
  ASSERT_EQ(net.a.c.Send(kNow, id, large, true), SendStatus::kOk);
  net.Pump();
  ASSERT_EQ(net.a.sent.size(), 6u);
  EXPECT_EQ(net.a.sent[1].ppid, Ppid::kString);
  EXPECT_EQ(net.a.sent[2].ppid, Ppid::kBinary);
  // RFC 8831 section 6.6: empty messages are one zero byte, PPID 56/57.
  EXPECT_EQ(net.a.sent[3].ppid, Ppid::kStringEmpty);
  EXPECT_EQ(net.a.sent[3].payload, std::vector<uint8_t>{0});
  EXPECT_EQ(net.a.sent[4].ppid, Ppid::kBinaryEmpty);
  EXPECT_EQ(net.a.sent[4].payload, std::vector<uint8_t>{0});
  EXPECT_EQ(net.a.sent[5].ppid, Ppid::kBinary);

  const auto msgs = net.b.Events<Message>();
  ASSERT_EQ(msgs.size(), 5u);
  EXPECT_EQ(Text(msgs[0]), "hello");
  EXPECT_FALSE(msgs[0].binary);
  EXPECT_EQ(msgs[1].payload, bin);
  EXPECT_TRUE(msgs[1].binary);
  EXPECT_TRUE(msgs[2].payload.empty());
  EXPECT_FALSE(msgs[2].binary);
  EXPECT_TRUE(msgs[3].payload.empty());
  EXPECT_TRUE(msgs[3].binary);
  EXPECT_EQ(msgs[4].payload, large);
  EXPECT_EQ(net.b.c.stats().messages_received, 5u);
}

TEST(DataChannelTest, MessagesSentBeforeTheAckFollowTheOpenOrdered) {
  FakeSctp net;
  net.Connect();
  const ChannelId id = Create(net.a, "u", Unordered());
  // Nothing pumped yet: the ACK cannot have arrived.
  for (const char* m : {"one", "two", "three"})
    ASSERT_EQ(net.a.c.Send(kNow, id, m), SendStatus::kOk);
  net.Pump();
  ASSERT_EQ(net.a.sent.size(), 4u);
  EXPECT_EQ(net.a.sent[0].ppid, Ppid::kDcep);
  for (size_t i = 1; i < 4; ++i) {
    EXPECT_EQ(net.a.sent[i].stream, net.a.sent[0].stream);
    EXPECT_FALSE(net.a.sent[i].unordered) << i;  // RFC 8832 section 6
  }
  const auto msgs = net.b.Events<Message>();
  ASSERT_EQ(msgs.size(), 3u);
  EXPECT_EQ(Text(msgs[0]), "one");
  EXPECT_EQ(Text(msgs[2]), "three");
  // The channel was announced before its first message.
  EXPECT_TRUE(std::holds_alternative<IncomingChannel>(net.b.events[0]));
  // Now that the ACK is in, the channel's own ordering applies.
  ASSERT_EQ(net.a.c.Send(kNow, id, "four"), SendStatus::kOk);
  net.Pump();
  EXPECT_TRUE(net.a.sent.back().unordered);
}

TEST(DataChannelTest, AnyMessageFromThePeerAlsoCountsAsAnAck) {
  Controller c;
  c.SetDtlsRole(true);
  c.HandleSctpConnected(kNow);
  auto id = c.CreateChannel(kNow, "u", Unordered());
  ASSERT_TRUE(id.ok());
  while (!std::holds_alternative<Deadline>(c.PollOutput(kNow))) {
  }
  c.HandleMessage(kNow, StreamId(0), Ppid::kString, {'h'});
  ASSERT_EQ(c.Send(kNow, *id, "x"), SendStatus::kOk);
  Output out = c.PollOutput(kNow);
  while (!std::holds_alternative<SctpSend>(out))
    out = c.PollOutput(kNow);
  EXPECT_TRUE(std::get<SctpSend>(out).unordered);
}

TEST(DataChannelTest, HundredChannelsAtOnce) {
  FakeSctp net;
  net.Connect();
  std::vector<ChannelId> a_ids, b_ids;
  for (int i = 0; i < 50; ++i) {
    a_ids.push_back(Create(net.a, "a" + std::to_string(i)));
    b_ids.push_back(Create(net.b, "b" + std::to_string(i)));
  }
  net.Pump();
  EXPECT_EQ(net.a.Count<IncomingChannel>(), 50u);
  EXPECT_EQ(net.b.Count<IncomingChannel>(), 50u);
  EXPECT_EQ(net.a.c.channel_count(), 100u);
  EXPECT_EQ(net.b.c.channel_count(), 100u);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(net.a.c.Find(a_ids[i])->id(), 2 * i);
    EXPECT_EQ(net.b.c.Find(b_ids[i])->id(), 2 * i + 1);
    ASSERT_EQ(net.a.c.Send(kNow, a_ids[i], "from a" + std::to_string(i)), SendStatus::kOk);
    ASSERT_EQ(net.b.c.Send(kNow, b_ids[i], "from b" + std::to_string(i)), SendStatus::kOk);
  }
  net.Pump();
  const auto b_msgs = net.b.Events<Message>();
  ASSERT_EQ(b_msgs.size(), 50u);
  for (int i = 0; i < 50; ++i) {
    const ChannelId on_b = net.b.IncomingId("a" + std::to_string(i));
    bool found = false;
    for (const Message& m : b_msgs)
      if (m.id == on_b) found = Text(m) == "from a" + std::to_string(i);
    EXPECT_TRUE(found) << i;
  }
  EXPECT_EQ(net.a.Count<Message>(), 50u);
}

void ExpectClosedOnBoth(FakeSctp& net, ChannelId a_id, ChannelId b_id) {
  EXPECT_EQ(net.a.Count<ChannelClosing>(), 1u);
  EXPECT_EQ(net.b.Count<ChannelClosing>(), 1u);
  ASSERT_EQ(net.a.Count<ChannelClosed>(), 1u);
  ASSERT_EQ(net.b.Count<ChannelClosed>(), 1u);
  EXPECT_EQ(net.a.Events<ChannelClosed>()[0].id, a_id);
  EXPECT_EQ(net.b.Events<ChannelClosed>()[0].id, b_id);
  EXPECT_EQ(net.a.c.ready_state(a_id), ReadyState::kClosed);
  EXPECT_EQ(net.b.c.ready_state(b_id), ReadyState::kClosed);
  EXPECT_EQ(net.a.c.Find(a_id), nullptr);
  EXPECT_EQ(net.a.c.channel_count(), 0u);
  EXPECT_EQ(net.b.c.channel_count(), 0u);
  EXPECT_EQ(net.a.Count<ChannelError>() + net.b.Count<ChannelError>(), 0u);
}

TEST(DataChannelTest, CloseFromTheOpenerClosesBothSides) {
  FakeSctp net;
  net.Connect();
  const ChannelId id = Create(net.a, "c");
  net.Pump();
  const ChannelId remote = net.b.IncomingId("c");
  ASSERT_EQ(net.a.c.Send(kNow, id, "last words"), SendStatus::kOk);
  net.a.c.Close(kNow, id);
  EXPECT_EQ(net.a.c.ready_state(id), ReadyState::kClosing);
  EXPECT_EQ(net.a.c.Send(kNow, id, "too late"), SendStatus::kClosing);
  net.Pump();
  // The message queued before Close() still went out, before the reset.
  ASSERT_EQ(net.b.Count<Message>(), 1u);
  EXPECT_EQ(Text(net.b.Events<Message>()[0]), "last words");
  ASSERT_EQ(net.a.resets.size(), 1u);
  EXPECT_EQ(net.a.resets[0], std::vector<StreamId>{StreamId(0)});
  ASSERT_EQ(net.b.resets.size(), 1u);  // the peer answered with its own reset
  ExpectClosedOnBoth(net, id, remote);
  EXPECT_EQ(net.a.c.Send(kNow, id, "after close"), SendStatus::kUnknownChannel);
  net.a.c.Close(kNow, id);  // a no-op
  net.Pump();
  EXPECT_EQ(net.a.Count<ChannelClosed>(), 1u);
}

TEST(DataChannelTest, CloseFromTheAccepterClosesBothSides) {
  FakeSctp net;
  net.Connect();
  const ChannelId id = Create(net.a, "c");
  net.Pump();
  const ChannelId remote = net.b.IncomingId("c");
  net.b.c.Close(kNow, remote);
  net.Pump();
  ExpectClosedOnBoth(net, id, remote);
  EXPECT_EQ(net.a.c.Send(kNow, id, "x"), SendStatus::kUnknownChannel);
}

TEST(DataChannelTest, SimultaneousCloseFromBothSides) {
  FakeSctp net;
  net.Connect();
  const ChannelId id = Create(net.a, "c");
  net.Pump();
  const ChannelId remote = net.b.IncomingId("c");
  net.a.c.Close(kNow, id);
  net.b.c.Close(kNow, remote);
  net.Pump();
  ExpectClosedOnBoth(net, id, remote);
  EXPECT_EQ(net.a.resets.size(), 1u);
  EXPECT_EQ(net.b.resets.size(), 1u);
}

TEST(DataChannelTest, ClosingStaysUntilBothDirectionsAreReset) {
  Controller c;
  c.SetDtlsRole(true);
  c.HandleSctpConnected(kNow);
  auto id = c.CreateChannel(kNow, "x");
  ASSERT_TRUE(id.ok());
  c.Close(kNow, *id);
  bool saw_reset = false;
  for (Output o = c.PollOutput(kNow); !std::holds_alternative<Deadline>(o); o = c.PollOutput(kNow))
    saw_reset |= std::holds_alternative<SctpReset>(o);
  EXPECT_TRUE(saw_reset);
  const StreamId s0[] = {StreamId(0)};
  c.HandleStreamsResetDone(kNow, s0);
  EXPECT_EQ(c.ready_state(*id), ReadyState::kClosing);
  c.HandleStreamsResetByPeer(kNow, s0);
  EXPECT_EQ(c.ready_state(*id), ReadyState::kClosed);
}

TEST(DataChannelTest, StreamIdIsReusedOnlyAfterTheCloseCompletes) {
  FakeSctp net;
  net.Connect();
  const ChannelId first = Create(net.a, "first");
  net.Pump();
  net.a.c.Close(kNow, first);
  const ChannelId second = Create(net.a, "second");  // 0 is still resetting
  net.Pump();
  EXPECT_EQ(net.a.c.Find(second)->id(), 2);
  const ChannelId third = Create(net.a, "third");
  net.Pump();
  EXPECT_EQ(net.a.c.Find(third)->id(), 0);
  EXPECT_NE(third, first);  // handles are never reused
}

TEST(DataChannelTest, CloseWhileConnectingClosesAtOnce) {
  FakeSctp net;
  const ChannelId id = Create(net.a, "never");
  net.a.c.Close(kNow, id);
  net.Pump();
  EXPECT_EQ(net.a.Count<ChannelClosing>(), 1u);
  EXPECT_EQ(net.a.Count<ChannelClosed>(), 1u);
  net.Connect();
  EXPECT_TRUE(net.a.sent.empty());
}

TEST(DataChannelTest, OpenOnAStreamInUseClosesThatChannelWithoutAck) {
  FakeSctp net;
  net.Connect();
  const ChannelId id = Create(net.a, "mine");
  net.Pump();
  const size_t a_sent = net.a.sent.size();
  // The peer (wrongly) opens a channel on stream 0, which is ours.
  net.a.c.HandleMessage(kNow, StreamId(0), Ppid::kDcep, Open(0x00, 0, "intruder"));
  net.Pump();
  ASSERT_EQ(net.a.Count<ChannelError>(), 1u);
  EXPECT_NE(net.a.Events<ChannelError>()[0].reason.find("already in use"), std::string::npos);
  EXPECT_EQ(net.a.Events<ChannelError>()[0].id, id);
  EXPECT_EQ(net.a.sent.size(), a_sent);  // no DATA_CHANNEL_ACK
  EXPECT_EQ(net.a.Count<IncomingChannel>(), 0u);
  EXPECT_EQ(net.a.c.stats().opens_rejected, 1u);
  // Closing went through the normal reset handshake.
  EXPECT_EQ(net.a.Count<ChannelClosed>(), 1u);
  EXPECT_EQ(net.b.Count<ChannelClosed>(), 1u);
}

TEST(DataChannelTest, OpenBreakingTheOddEvenRuleIsRefusedByAReset) {
  FakeSctp net;
  net.Connect();
  // A is the DTLS client: the peer must open on odd ids. Stream 2 is ours.
  net.a.c.HandleMessage(kNow, StreamId(2), Ppid::kDcep, Open(0x00, 0, "bad"));
  Output out = net.a.c.PollOutput(kNow);
  ASSERT_TRUE(std::holds_alternative<SctpReset>(out));
  EXPECT_EQ(std::get<SctpReset>(out).streams, std::vector<StreamId>{StreamId(2)});
  EXPECT_TRUE(std::holds_alternative<Deadline>(net.a.c.PollOutput(kNow)));
  EXPECT_EQ(net.a.c.stats().opens_rejected, 1u);
  // Stream 2 stays reserved until the peer resets its side too.
  const ChannelId x = Create(net.a, "x");
  const ChannelId y = Create(net.a, "y");
  EXPECT_EQ(net.a.c.Find(x)->id(), 0);
  EXPECT_EQ(net.a.c.Find(y)->id(), 4);
  EXPECT_EQ(net.a.c.CreateChannel(kNow, "n", Negotiated(2)).error(), CreateError::kIdInUse);
  const StreamId s2[] = {StreamId(2)};
  net.a.c.HandleStreamsResetDone(kNow, s2);
  net.a.c.HandleStreamsResetByPeer(kNow, s2);
  EXPECT_TRUE(net.a.c.CreateChannel(kNow, "n", Negotiated(2)).ok());
}

TEST(DataChannelTest, MalformedOpenIsRefusedByAReset) {
  Controller c;
  c.SetDtlsRole(false);
  c.HandleSctpConnected(kNow);
  std::vector<uint8_t> open = Open(0x00, 0, "abc");
  open.pop_back();
  c.HandleMessage(kNow, StreamId(4), Ppid::kDcep, open);
  c.HandleMessage(kNow, StreamId(6), Ppid::kDcep, Open(0x05, 0, "abc"));  // unknown channel type
  Output out = c.PollOutput(kNow);
  ASSERT_TRUE(std::holds_alternative<SctpReset>(out));
  EXPECT_EQ(std::get<SctpReset>(out).streams, (std::vector<StreamId>{StreamId(4), StreamId(6)}));
  EXPECT_EQ(c.stats().dcep_malformed, 2u);
  EXPECT_EQ(c.channel_count(), 0u);
}

TEST(DataChannelTest, PeerRefusingOurOpenIsAnError) {
  Controller c;
  c.SetDtlsRole(true);
  c.HandleSctpConnected(kNow);
  auto id = c.CreateChannel(kNow, "x");
  ASSERT_TRUE(id.ok());
  while (!std::holds_alternative<Deadline>(c.PollOutput(kNow))) {
  }
  const StreamId s0[] = {StreamId(0)};
  c.HandleStreamsResetByPeer(kNow, s0);  // reset instead of DATA_CHANNEL_ACK
  std::vector<Output> outs;
  for (Output o = c.PollOutput(kNow); !std::holds_alternative<Deadline>(o); o = c.PollOutput(kNow))
    outs.push_back(o);
  ASSERT_EQ(outs.size(), 3u);
  const auto& err = std::get<ChannelError>(std::get<Event>(outs[0]));
  EXPECT_NE(err.reason.find("refused"), std::string::npos);
  EXPECT_TRUE(std::holds_alternative<ChannelClosing>(std::get<Event>(outs[1])));
  EXPECT_EQ(std::get<SctpReset>(outs[2]).streams, std::vector<StreamId>{StreamId(0)});
  c.HandleStreamsResetDone(kNow, s0);
  EXPECT_EQ(c.ready_state(*id), ReadyState::kClosed);
}

TEST(DataChannelTest, CreateChannelMisuseGivesClearErrors) {
  Config config;
  config.max_channels = 3;
  config.max_label_length = 8;
  config.max_protocol_length = 4;
  Controller c(config);
  c.SetDtlsRole(true);
  EXPECT_EQ(c.CreateChannel(kNow, "x",
                            [] {
                              ChannelOptions o = WithLifetime(Duration::Millis(5));
                              o.max_retransmits = 1;
                              return o;
                            }())
                .error(),
            CreateError::kBothReliabilityLimits);
  EXPECT_EQ(c.CreateChannel(kNow, "x", WithLifetime(Duration::Millis(-1))).error(), CreateError::kLifetimeOutOfRange);
  EXPECT_EQ(c.CreateChannel(kNow, "x", WithLifetime(Duration::Seconds(5'000'000))).error(),
            CreateError::kLifetimeOutOfRange);
  EXPECT_EQ(c.CreateChannel(kNow, "x",
                            [] {
                              ChannelOptions o;
                              o.negotiated = true;
                              return o;
                            }())
                .error(),
            CreateError::kNegotiatedWithoutId);
  EXPECT_EQ(c.CreateChannel(kNow, "x",
                            [] {
                              ChannelOptions o;
                              o.id = 4;
                              return o;
                            }())
                .error(),
            CreateError::kIdRequiresNegotiated);
  EXPECT_EQ(c.CreateChannel(kNow, "x", Negotiated(65535)).error(), CreateError::kIdOutOfRange);
  EXPECT_EQ(c.CreateChannel(kNow, "123456789").error(), CreateError::kLabelTooLong);
  EXPECT_EQ(c.CreateChannel(kNow, "x", WithProtocol("12345")).error(), CreateError::kProtocolTooLong);
  ASSERT_TRUE(c.CreateChannel(kNow, "x", Negotiated(65534)).ok());
  EXPECT_EQ(c.CreateChannel(kNow, "x", Negotiated(65534)).error(), CreateError::kIdInUse);
  ASSERT_TRUE(c.CreateChannel(kNow, "12345678", WithProtocol("1234")).ok());
  ASSERT_TRUE(c.CreateChannel(kNow, "x").ok());
  EXPECT_EQ(c.CreateChannel(kNow, "x").error(), CreateError::kTooManyChannels);
  c.HandleSctpClosed(kNow, "");
  EXPECT_EQ(c.CreateChannel(kNow, "x").error(), CreateError::kTransportClosed);

  Config small_config;
  small_config.num_streams = 4;
  Controller small(small_config);
  small.SetDtlsRole(true);
  small.HandleSctpConnected(kNow);
  EXPECT_EQ(small.CreateChannel(kNow, "x", Negotiated(4)).error(), CreateError::kIdOutOfRange);
  ASSERT_TRUE(small.CreateChannel(kNow, "a").ok());
  ASSERT_TRUE(small.CreateChannel(kNow, "b").ok());
  EXPECT_EQ(small.CreateChannel(kNow, "c").error(), CreateError::kNoFreeStreamId);

  // Every error has its own readable message.
  std::set<std::string_view> messages;
  for (int e = 0; e <= static_cast<int>(CreateError::kNoFreeStreamId); ++e)
    messages.insert(ToString(static_cast<CreateError>(e)));
  EXPECT_EQ(messages.size(), static_cast<size_t>(CreateError::kNoFreeStreamId) + 1);
}

TEST(DataChannelTest, SendMisuseGivesClearStatuses) {
  Config config;
  config.max_buffered_amount = 100;
  FakeSctp net(config);
  net.Connect();
  const ChannelId id = Create(net.a, "s");
  EXPECT_EQ(net.a.c.Send(kNow, ChannelId(999), "x"), SendStatus::kUnknownChannel);
  net.a.c.SetMaxMessageSize(10);
  EXPECT_EQ(net.a.c.Send(kNow, id, "0123456789a"), SendStatus::kMessageTooLarge);
  EXPECT_EQ(net.a.c.Send(kNow, id, "0123456789"), SendStatus::kOk);
  net.a.c.SetMaxMessageSize(0);  // a=max-message-size:0 means no limit
  net.a.hold_acks = true;
  net.Pump();
  // OPEN (13 bytes) + 10 bytes are unacknowledged; 77 more fit, 78 do not.
  EXPECT_EQ(net.a.c.buffered_amount(id), 23u);
  EXPECT_EQ(net.a.c.Send(kNow, id, std::string(78, 'x')), SendStatus::kBufferFull);
  EXPECT_EQ(net.a.c.Send(kNow, id, std::string(77, 'x')), SendStatus::kOk);
  EXPECT_EQ(ToString(SendStatus::kMessageTooLarge), "message is larger than the remote's max message size");
  EXPECT_EQ(ToString(SendStatus::kNotOpen), "channel is still connecting");
}

TEST(DataChannelTest, BufferedAmountCountsUntilSctpAcknowledges) {
  FakeSctp net;
  net.Connect();
  const ChannelId id = Create(net.a, "b");
  net.Pump();
  net.a.hold_acks = true;
  ASSERT_EQ(net.a.c.Send(kNow, id, std::string(100, 'x')), SendStatus::kOk);
  EXPECT_EQ(net.a.c.buffered_amount(id), 100u);  // still in the Controller's queue
  Output out = net.a.c.PollOutput(kNow);
  ASSERT_TRUE(std::holds_alternative<SctpSend>(out));
  EXPECT_EQ(net.a.c.buffered_amount(id), 100u);  // polled, not yet reported
  net.a.c.HandleBufferedAmount(kNow, StreamId(0), 100);
  EXPECT_EQ(net.a.c.buffered_amount(id), 100u);  // SCTP holds it
  net.a.c.HandleBufferedAmount(kNow, StreamId(0), 40);
  EXPECT_EQ(net.a.c.Find(id)->buffered_amount(), 40u);
  net.a.c.HandleBufferedAmount(kNow, StreamId(0), 0);
  EXPECT_EQ(net.a.c.buffered_amount(id), 0u);
}

TEST(DataChannelTest, BufferedAmountLowFiresOnlyWhenCrossingTheThreshold) {
  FakeSctp net;
  net.Connect();
  const ChannelId id = Create(net.a, "b");
  net.Pump();
  net.a.hold_acks = true;
  ASSERT_TRUE(net.a.c.SetBufferedAmountLowThreshold(id, 10));
  EXPECT_EQ(net.a.c.Find(id)->buffered_amount_low_threshold(), 10u);
  EXPECT_FALSE(net.a.c.SetBufferedAmountLowThreshold(ChannelId(77), 10));
  ASSERT_EQ(net.a.c.Send(kNow, id, std::string(8, 'x')), SendStatus::kOk);
  net.Pump();
  net.a.Ack(0);  // 8 -> 0: never was above 10
  net.Pump();
  EXPECT_EQ(net.a.Count<BufferedAmountLow>(), 0u);

  ASSERT_EQ(net.a.c.Send(kNow, id, std::string(20, 'x')), SendStatus::kOk);
  net.Pump();
  EXPECT_EQ(net.a.c.buffered_amount(id), 20u);
  net.a.AckBytes(0, 5);  // 15: still above
  net.Pump();
  EXPECT_EQ(net.a.Count<BufferedAmountLow>(), 0u);
  net.a.AckBytes(0, 5);  // 10: at the threshold counts as low
  net.Pump();
  ASSERT_EQ(net.a.Count<BufferedAmountLow>(), 1u);
  EXPECT_EQ(net.a.Events<BufferedAmountLow>()[0].id, id);
  net.a.Ack(0);  // 0: already low, no second event
  net.Pump();
  EXPECT_EQ(net.a.Count<BufferedAmountLow>(), 1u);

  // Threshold 0 (the default): fires when everything is acknowledged.
  ASSERT_TRUE(net.a.c.SetBufferedAmountLowThreshold(id, 0));
  ASSERT_EQ(net.a.c.Send(kNow, id, "abc"), SendStatus::kOk);
  net.Pump();
  net.a.Ack(0);
  net.Pump();
  EXPECT_EQ(net.a.Count<BufferedAmountLow>(), 2u);
}

TEST(DataChannelTest, UnsupportedPpidClosesTheChannel) {
  FakeSctp net;
  net.Connect();
  const ChannelId id = Create(net.a, "p");
  net.Pump();
  net.a.c.HandleMessage(kNow, StreamId(0), static_cast<Ppid>(55), {1, 2});
  net.Pump();
  ASSERT_EQ(net.a.Count<ChannelError>(), 1u);
  EXPECT_NE(net.a.Events<ChannelError>()[0].reason.find("PPID 55"), std::string::npos);
  EXPECT_EQ(net.a.c.ready_state(id), ReadyState::kClosed);
  EXPECT_EQ(net.b.Count<ChannelClosed>(), 1u);
}

TEST(DataChannelTest, DeprecatedPartialPpidsAreReassembled) {
  FakeSctp net;
  net.Connect();
  Create(net.a, "p");
  net.Pump();
  Controller& c = net.a.c;
  c.HandleMessage(kNow, StreamId(0), Ppid::kStringPartial, {'h', 'e', 'l'});
  c.HandleMessage(kNow, StreamId(0), Ppid::kStringPartial, {'l', 'o', ' '});
  c.HandleMessage(kNow, StreamId(0), Ppid::kString, {'w', 'o', 'r', 'l', 'd'});
  c.HandleMessage(kNow, StreamId(0), Ppid::kBinaryPartial, {1});
  c.HandleMessage(kNow, StreamId(0), Ppid::kBinary, {2});
  net.Pump();
  const auto msgs = net.a.Events<Message>();
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(Text(msgs[0]), "hello world");
  EXPECT_FALSE(msgs[0].binary);
  EXPECT_EQ(msgs[1].payload, (std::vector<uint8_t>{1, 2}));
  EXPECT_TRUE(msgs[1].binary);
  EXPECT_EQ(net.a.Count<ChannelError>(), 0u);

  c.HandleMessage(kNow, StreamId(0), Ppid::kStringPartial, {'a'});
  c.HandleMessage(kNow, StreamId(0), Ppid::kBinary, {'b'});  // type switched mid-message
  net.Pump();
  EXPECT_EQ(net.a.Count<ChannelError>(), 1u);
  EXPECT_EQ(net.a.Count<ChannelClosed>(), 1u);
}

TEST(DataChannelTest, DeprecatedPartialPpidsAreBounded) {
  Config config;
  config.max_reassembled_message_size = 4;
  FakeSctp net(config);
  net.Connect();
  Create(net.a, "p");
  net.Pump();
  net.a.c.HandleMessage(kNow, StreamId(0), Ppid::kBinaryPartial, {1, 2, 3});
  net.a.c.HandleMessage(kNow, StreamId(0), Ppid::kBinaryPartial, {4, 5});
  net.Pump();
  ASSERT_EQ(net.a.Count<ChannelError>(), 1u);
  EXPECT_NE(net.a.Events<ChannelError>()[0].reason.find("reassembl"), std::string::npos);
}

TEST(DataChannelTest, DeprecatedPartialPpidOnAnUnorderedChannelIsAnError) {
  FakeSctp net;
  net.Connect();
  Create(net.a, "u", Unordered());
  net.Pump();
  net.a.c.HandleMessage(kNow, StreamId(0), Ppid::kStringPartial, {'a'});
  net.Pump();
  EXPECT_EQ(net.a.Count<ChannelError>(), 1u);
  EXPECT_EQ(net.a.Count<Message>(), 0u);
}

TEST(DataChannelTest, OpenFloodIsBoundedByMaxChannels) {
  Config config;
  config.max_channels = 8;
  Controller c(config);
  c.SetDtlsRole(false);  // the peer is the client: even ids
  c.HandleSctpConnected(kNow);
  size_t resets = 0;
  for (uint32_t s = 0; s < 2000; s += 2) {
    c.HandleMessage(kNow, StreamId(static_cast<uint16_t>(s)), Ppid::kDcep, Open(0x00, 0, "flood"));
    for (Output o = c.PollOutput(kNow); !std::holds_alternative<Deadline>(o); o = c.PollOutput(kNow))
      if (auto* r = std::get_if<SctpReset>(&o)) resets += r->streams.size();
    ASSERT_TRUE(c.IsConsistent());
  }
  EXPECT_EQ(c.channel_count(), 8u);
  EXPECT_EQ(c.stats().opens_received, 1000u);
  EXPECT_EQ(c.stats().opens_rejected, 992u);
  EXPECT_EQ(resets, 992u);
  // A repeated OPEN on a stream already being refused adds no second reset.
  c.HandleMessage(kNow, StreamId(100), Ppid::kDcep, Open(0x00, 0, "again"));
  EXPECT_TRUE(std::holds_alternative<Deadline>(c.PollOutput(kNow)));
}

TEST(DataChannelTest, OpenWithATooLongLabelIsRefused) {
  Config config;
  config.max_label_length = 3;
  Controller c(config);
  c.SetDtlsRole(true);
  c.HandleSctpConnected(kNow);
  c.HandleMessage(kNow, StreamId(1), Ppid::kDcep, Open(0x00, 0, "four"));
  EXPECT_TRUE(std::holds_alternative<SctpReset>(c.PollOutput(kNow)));
  EXPECT_EQ(c.channel_count(), 0u);
  c.HandleMessage(kNow, StreamId(3), Ppid::kDcep, Open(0x00, 0, "abc"));
  EXPECT_EQ(c.channel_count(), 1u);
}

TEST(DataChannelTest, SctpClosedErrorsAndClosesEveryChannel) {
  FakeSctp net;
  net.Connect();
  const ChannelId x = Create(net.a, "x");
  const ChannelId y = Create(net.a, "y");
  net.Pump();
  ASSERT_EQ(net.a.c.Send(kNow, x, "unsent"), SendStatus::kOk);
  net.a.c.HandleSctpClosed(kNow, "abort from peer");
  std::vector<Output> outs;
  for (Output o = net.a.c.PollOutput(kNow); !std::holds_alternative<Deadline>(o); o = net.a.c.PollOutput(kNow))
    outs.push_back(o);
  ASSERT_EQ(outs.size(), 4u);  // the queued send is dropped
  for (const Output& o : outs)
    ASSERT_TRUE(std::holds_alternative<Event>(o));
  const auto& err = std::get<ChannelError>(std::get<Event>(outs[0]));
  EXPECT_EQ(err.id, x);
  EXPECT_NE(err.reason.find("abort from peer"), std::string::npos);
  EXPECT_EQ(std::get<ChannelClosed>(std::get<Event>(outs[3])).id, y);
  EXPECT_EQ(net.a.c.Send(kNow, x, "x"), SendStatus::kUnknownChannel);
  EXPECT_TRUE(net.a.c.transport_closed());
}

TEST(DataChannelTest, UserDataWithoutAChannelIsDropped) {
  FakeSctp net;
  net.Connect();
  net.a.c.HandleMessage(kNow, StreamId(9), Ppid::kString, {'x'});
  net.a.c.HandleMessage(kNow, StreamId(0), Ppid::kDcep, DataChannelAck{}.Serialize());
  net.Pump();
  EXPECT_EQ(net.a.c.stats().messages_dropped, 1u);
  EXPECT_EQ(net.a.c.stats().dcep_unexpected, 1u);
  EXPECT_TRUE(net.a.events.empty());
}

TEST(DataChannelTest, PeerResetOfAnUnknownStreamIsAnswered) {
  Controller c;
  c.SetDtlsRole(true);
  c.HandleSctpConnected(kNow);
  const StreamId s9[] = {StreamId(9)};
  c.HandleStreamsResetByPeer(kNow, s9);
  Output out = c.PollOutput(kNow);
  ASSERT_TRUE(std::holds_alternative<SctpReset>(out));
  EXPECT_EQ(std::get<SctpReset>(out).streams, std::vector<StreamId>{StreamId(9)});
  c.HandleStreamsResetDone(kNow, s9);
  EXPECT_TRUE(c.CreateChannel(kNow, "n", Negotiated(9)).ok());
}

TEST(DataChannelTest, ResetDoneForAResetNotYetHandedOutIsIgnored) {
  Controller c;
  c.SetDtlsRole(true);
  c.HandleSctpConnected(kNow);
  auto id = c.CreateChannel(kNow, "x");
  ASSERT_TRUE(id.ok());
  c.Close(kNow, *id);
  const StreamId s0[] = {StreamId(0)};
  c.HandleStreamsResetDone(kNow, s0);  // the SctpReset is still queued
  c.HandleStreamsResetByPeer(kNow, s0);
  EXPECT_EQ(c.ready_state(*id), ReadyState::kClosing);
}

// The controller's per-stream bookkeeping costs nothing until a stream is pending, holds at
// most one 8 KiB bitset per set whatever a peer sends, and is freed once empty.
TEST(DataChannelTest, StreamSetAllocatesOnlyWhileNonEmpty) {
  StreamSet set;
  EXPECT_EQ(set.allocated_bytes(), 0u);
  EXPECT_FALSE(set.test(7));
  set.reset(7);  // absent: no effect, no allocation
  EXPECT_EQ(set.allocated_bytes(), 0u);
  set.set(7);
  set.set(7);
  set.set(65535);
  EXPECT_TRUE(set.test(7));
  EXPECT_TRUE(set.test(65535));
  EXPECT_FALSE(set.test(8));
  EXPECT_EQ(set.count(), 2u);
  EXPECT_EQ(set.allocated_bytes(), 8192u);
  for (uint32_t s = 0; s < 65536; ++s)
    set.set(static_cast<uint16_t>(s));
  EXPECT_EQ(set.count(), 65536u);
  EXPECT_EQ(set.allocated_bytes(), 8192u);  // the bound
  for (uint32_t s = 0; s < 65536; ++s)
    set.reset(static_cast<uint16_t>(s));
  EXPECT_TRUE(set.empty());
  EXPECT_EQ(set.allocated_bytes(), 0u);
  set.set(1);
  set.reset();
  EXPECT_TRUE(set.empty());
  EXPECT_FALSE(set.test(1));
  EXPECT_EQ(set.allocated_bytes(), 0u);
}

TEST(DataChannelTest, EnumsHaveReadableNames) {
  EXPECT_EQ(ToString(ReadyState::kClosing), "closing");
  EXPECT_EQ(ToString(Priority::kMedium), "medium");
  EXPECT_EQ(ToString(Ppid::kStringEmpty), "WebRTC String Empty");
  EXPECT_EQ(ToString(ChannelType::kReliableUnordered), "DATA_CHANNEL_RELIABLE_UNORDERED");
}

}  // namespace
}  // namespace peerlink::datachannel
