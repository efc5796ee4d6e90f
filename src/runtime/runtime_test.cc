#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "src/base/rng.h"
#include "src/runtime/clock.h"
#include "src/runtime/core_timer.h"
#include "src/runtime/endpoint.h"
#include "src/runtime/interfaces.h"
#include "src/runtime/stun_server_runner.h"
#include "src/runtime/turn_url.h"
#include "src/runtime/udp_socket.h"
#include "src/stun/message.h"

namespace peerlink::runtime {
namespace {

// Runs `io` until `done()` or `timeout` passes; returns done().
template <typename Pred>
bool RunUntil(boost::asio::io_context& io, Pred done, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!done() && std::chrono::steady_clock::now() < end) {
    if (io.stopped()) io.restart();
    io.run_one_for(std::chrono::milliseconds(20));
  }
  return done();
}

bool HasIpv6Loopback() {
  boost::asio::io_context io;
  UdpSocket s(io);
  return !s.Bind(SocketAddress(IpAddress::Loopback(IpFamily::kV6), 0));
}

TEST(CoreTimer, FiresOnceAtTheArmedInstant) {
  boost::asio::io_context io;
  int fired = 0;
  CoreTimer t(io, [&] { ++fired; });
  const Instant at = Now() + Duration::Millis(20);
  t.Arm(at);
  EXPECT_EQ(t.armed(), at);
  ASSERT_TRUE(RunUntil(io, [&] { return fired == 1; }));
  EXPECT_GE(Now(), at);
  EXPECT_FALSE(t.armed());
  RunUntil(
      io, [] { return false; }, std::chrono::milliseconds(50));
  EXPECT_EQ(fired, 1);
}

TEST(CoreTimer, RearmingReplacesAndDisarmingCancels) {
  boost::asio::io_context io;
  int fired = 0;
  CoreTimer t(io, [&] { ++fired; });
  t.Arm(Now() + Duration::Millis(10));
  t.Arm(Now() + Duration::Seconds(60));  // replaces the earlier expiry
  RunUntil(
      io, [] { return false; }, std::chrono::milliseconds(60));
  EXPECT_EQ(fired, 0);
  t.Arm(Now() + Duration::Millis(10));
  t.Arm(Instant::Max());  // disarms
  EXPECT_FALSE(t.armed());
  RunUntil(
      io, [] { return false; }, std::chrono::milliseconds(60));
  EXPECT_EQ(fired, 0);
}

TEST(CoreTimer, ADeadlineMovedLaterFiresAtTheLaterInstantOnly) {
  boost::asio::io_context io;
  int fired = 0;
  Instant fired_at;
  CoreTimer t(io, [&] {
    ++fired;
    fired_at = Now();
  });
  const Instant first = Now() + Duration::Millis(10);
  t.Arm(first);
  // Pushed later many times (as a restarted retransmission timer is), the last one wins.
  Instant last = first;
  for (int i = 1; i <= 50; ++i) {
    last = first + Duration::Millis(i);
    t.Arm(last);
  }
  EXPECT_EQ(t.armed(), last);
  ASSERT_TRUE(RunUntil(io, [&] { return fired == 1; }));
  EXPECT_GE(fired_at, last);
  // Moved earlier again: the earlier instant is honoured.
  const Instant late = Now() + Duration::Seconds(60);
  t.Arm(late);
  const Instant soon = Now() + Duration::Millis(5);
  t.Arm(soon);
  ASSERT_TRUE(RunUntil(io, [&] { return fired == 2; }));
  EXPECT_GE(fired_at, soon);
  EXPECT_LT(fired_at, late);
  RunUntil(
      io, [] { return false; }, std::chrono::milliseconds(30));
  EXPECT_EQ(fired, 2);
}

TEST(CoreTimer, DestroyedWhilePendingNeverRunsTheCallback) {
  boost::asio::io_context io;
  int fired = 0;
  {
    CoreTimer t(io, [&] { ++fired; });
    t.Arm(Now() + Duration::Millis(5));
  }
  RunUntil(
      io, [] { return false; }, std::chrono::milliseconds(40));
  EXPECT_EQ(fired, 0);
}

TEST(ClockTest, NowIsMonotonicAndRoundTripsThroughTimePoints) {
  const Instant a = Now();
  const Instant b = Now();
  EXPECT_LE(a, b);
  EXPECT_EQ(FromTimePoint(ToTimePoint(a)), a);
  EXPECT_GT(UnixSeconds(), 1600000000);  // after 2020: the wall clock is sane
}

TEST(EndpointTest, ConvertsV4AndV6AndUnmapsV4MappedAddresses) {
  const SocketAddress v4 = *SocketAddress::Parse("192.0.2.7:3478");
  EXPECT_EQ(FromEndpoint(ToUdpEndpoint(v4)), v4);
  EXPECT_EQ(ToUdpEndpoint(v4).address().to_string(), "192.0.2.7");
  const SocketAddress v6 = *SocketAddress::Parse("[2001:db8::1]:5349");
  EXPECT_EQ(FromEndpoint(ToTcpEndpoint(v6)), v6);
  const auto mapped = boost::asio::ip::udp::endpoint(boost::asio::ip::make_address("::ffff:10.1.2.3"), 9);
  EXPECT_EQ(FromEndpoint(mapped), *SocketAddress::Parse("10.1.2.3:9"));
}

TEST(EndpointTest, SplitsHostPortAndRejectsBadPorts) {
  auto a = SplitHostPort("stun.example.org:3478");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "stun.example.org");
  EXPECT_EQ(a->port, 3478);
  auto b = SplitHostPort("[::1]:19302");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_FALSE(SplitHostPort("::1:3478"));  // IPv6 needs brackets
  EXPECT_FALSE(SplitHostPort("host:0"));
  EXPECT_FALSE(SplitHostPort("host:70000"));
  EXPECT_FALSE(SplitHostPort("host"));
  std::string error;
  auto r = Resolve("127.0.0.1", 3478, std::nullopt, &error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(*r, *SocketAddress::Parse("127.0.0.1:3478"));
}

TEST(TurnUrlTest, ParsesSchemesPortsAndTransports) {
  std::string error;
  auto a = ParseTurnUrl("turn:127.0.0.1", &error);
  ASSERT_TRUE(a) << error;
  EXPECT_EQ(a->port, 3478);
  EXPECT_EQ(a->transport, TransportProtocol::kUdp);
  auto b = ParseTurnUrl("turn:turn.example.org:3479?transport=tcp", &error);
  ASSERT_TRUE(b) << error;
  EXPECT_EQ(b->host, "turn.example.org");
  EXPECT_EQ(b->port, 3479);
  EXPECT_EQ(b->transport, TransportProtocol::kTcp);
  auto c = ParseTurnUrl("turns:[::1]", &error);
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->port, 5349);
  EXPECT_EQ(c->transport, TransportProtocol::kTls);
  EXPECT_FALSE(ParseTurnUrl("stun:1.2.3.4", &error));
  EXPECT_FALSE(ParseTurnUrl("turns:1.2.3.4?transport=udp", &error));
  EXPECT_FALSE(ParseTurnUrl("turn:1.2.3.4:99999", &error));
  EXPECT_FALSE(ParseTurnUrl("turn:1.2.3.4?transport=sctp", &error));
  EXPECT_FALSE(ParseTurnUrl("turn::3478", &error));
}

// A request above net.core.rmem_max / wmem_max is granted in full with CAP_NET_ADMIN (the
// kernel reports twice the size); without the capability the capped size stays.
TEST(UdpSocketTest, BufferRequestsPastTheSysctlCapAreForcedWhenPrivileged) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (CAP_NET_ADMIN) to force buffer sizes";
  boost::asio::io_context io;
  UdpSocketOptions o;
  o.receive_buffer = o.send_buffer = 64 << 20;  // above any distribution's default cap
  UdpSocket a(io, o);
  ASSERT_FALSE(a.Bind(SocketAddress(IpAddress::Loopback(IpFamily::kV4), 0)));
  EXPECT_GE(a.granted_receive_buffer(), 64 << 20);
  EXPECT_GE(a.granted_send_buffer(), 64 << 20);
}

TEST(UdpSocketTest, SendsAndReceivesOnIpv4Loopback) {
  boost::asio::io_context io;
  UdpSocket a(io), b(io);
  ASSERT_FALSE(a.Bind(SocketAddress(IpAddress::Loopback(IpFamily::kV4), 0)));
  ASSERT_FALSE(b.Bind(SocketAddress(IpAddress::Loopback(IpFamily::kV4), 0)));
  EXPECT_NE(a.local_address().port(), 0);
  EXPECT_GT(a.granted_receive_buffer(), 0);
  EXPECT_GT(a.granted_send_buffer(), 0);

  std::vector<std::string> got;
  std::optional<SocketAddress> sender, receiver;
  b.StartReceiving([&](const SocketAddress& local, const SocketAddress& from, ByteView data) {
    got.emplace_back(AsString(data));
    sender = from;
    receiver = local;
  });
  for (int i = 0; i < 3; ++i)
    ASSERT_FALSE(a.SendTo(b.local_address(), AsBytes("datagram " + std::to_string(i))));
  ASSERT_TRUE(RunUntil(io, [&] { return got.size() == 3; }));
  EXPECT_EQ(got[0], "datagram 0");
  EXPECT_EQ(got[2], "datagram 2");
  EXPECT_EQ(*sender, a.local_address());
  EXPECT_EQ(*receiver, b.local_address());
  EXPECT_EQ(a.stats().datagrams_sent, 3u);
  EXPECT_EQ(b.stats().datagrams_received, 3u);
}

TEST(UdpSocketTest, QueuedDatagramsLeaveInGsoBatchesAndArriveOneByOne) {
  // 20 x 1200 bytes, then a 500-byte one (it ends that batch), then 3 x 800 bytes, then one
  // to another destination: every datagram must arrive whole and in order, whether the
  // receiver reads them coalesced (GRO) or not.
  for (bool gro : {true, false}) {
    boost::asio::io_context io;
    UdpSocketOptions ro;
    ro.gro = gro;
    UdpSocket a(io), b(io, ro), c(io);
    ASSERT_FALSE(a.Bind(SocketAddress(IpAddress::Loopback(IpFamily::kV4), 0)));
    ASSERT_FALSE(b.Bind(SocketAddress(IpAddress::Loopback(IpFamily::kV4), 0)));
    ASSERT_FALSE(c.Bind(SocketAddress(IpAddress::Loopback(IpFamily::kV4), 0)));
    std::vector<std::string> sent, got, got_c;
    int batch_ends = 0;
    size_t got_at_batch_end = 0;
    b.StartReceiving(
        [&](const SocketAddress&, const SocketAddress& from, ByteView data) {
          EXPECT_EQ(from, a.local_address());
          got.emplace_back(AsString(data));
        },
        [&] {
          ++batch_ends;
          got_at_batch_end = got.size();
        });
    c.StartReceiving(
        [&](const SocketAddress&, const SocketAddress&, ByteView data) { got_c.emplace_back(AsString(data)); });
    auto datagram = [&](size_t size, int i) {
      std::string d(size, static_cast<char>('a' + i % 26));
      d.replace(0, std::to_string(i).size(), std::to_string(i));
      sent.push_back(d);
      a.QueueSend(b.local_address(), AsBytes(sent.back()));
    };
    for (int i = 0; i < 20; ++i)
      datagram(1200, i);
    datagram(500, 20);
    for (int i = 21; i < 24; ++i)
      datagram(800, i);
    EXPECT_TRUE(a.has_queued_sends());
    a.QueueSend(c.local_address(), AsBytes(std::string("elsewhere")));
    a.FlushSends();
    EXPECT_FALSE(a.has_queued_sends());
    ASSERT_TRUE(RunUntil(io, [&] { return got.size() == sent.size() && got_c.size() == 1; })) << got.size();
    EXPECT_EQ(got, sent);
    EXPECT_EQ(got_c[0], "elsewhere");
    EXPECT_EQ(a.stats().datagrams_sent, 25u);
    // Two batches of several datagrams (20 + the short one; the three 800-byte ones), and the
    // one for c, all in one sendmmsg.
    EXPECT_EQ(a.stats().gso_sends, 2u);
    EXPECT_EQ(a.stats().send_calls, 1u);
    EXPECT_EQ(a.stats().mmsg_sends, 1u);
    EXPECT_EQ(a.stats().multi_destination_sends, 1u);
    EXPECT_EQ(b.stats().datagrams_received, 24u);
    // Everything was queued before the loop ran: one wake-up read it all, then one batch end.
    EXPECT_EQ(batch_ends, 1);
    EXPECT_EQ(got_at_batch_end, 24u);
    if (gro) {
      EXPECT_GE(b.stats().gro_reads, 1u);
    } else {
      EXPECT_EQ(b.stats().gro_reads, 0u);
    }
  }
}

// sendmmsg: datagrams queued for many destinations (a UdpMux answering its peers) leave up to
// send_batch destinations per system call; each destination gets its own, whole and in order,
// and a destination the kernel refuses (port 0) in the middle of a call costs only its own
// datagram. With send_batch = 1 each destination's batch is its own call.
TEST(UdpSocketTest, DatagramsToManyDestinationsLeaveSeveralPerCall) {
  for (int send_batch : {32, 1}) {
    SCOPED_TRACE("send_batch " + std::to_string(send_batch));
    boost::asio::io_context io;
    UdpSocketOptions so;
    so.send_batch = send_batch;
    UdpSocket a(io, so);
    ASSERT_FALSE(a.Bind(SocketAddress(IpAddress::Loopback(IpFamily::kV4), 0)));
    constexpr int kDestinations = 40;
    std::vector<std::unique_ptr<UdpSocket>> rx;
    std::vector<std::vector<std::string>> got(kDestinations), sent(kDestinations);
    for (int d = 0; d < kDestinations; ++d) {
      rx.push_back(std::make_unique<UdpSocket>(io));
      ASSERT_FALSE(rx.back()->Bind(SocketAddress(IpAddress::Loopback(IpFamily::kV4), 0)));
      rx.back()->StartReceiving([&got, d](const SocketAddress&, const SocketAddress&, ByteView data) {
        got[static_cast<size_t>(d)].emplace_back(AsString(data));
      });
    }
    // Two rounds over every destination: 2 x 40 batches of 1, then three same-size datagrams
    // to destination 7 (one GSO batch), with a datagram to port 0 queued after the 10th.
    const SocketAddress refused(IpAddress::Loopback(IpFamily::kV4), 0);
    size_t queued = 0;
    for (int round = 0; round < 2; ++round) {
      for (int d = 0; d < kDestinations; ++d) {
        const auto i = static_cast<size_t>(d);
        sent[i].push_back("round " + std::to_string(round) + " to " + std::to_string(d));
        a.QueueSend(rx[i]->local_address(), AsBytes(sent[i].back()));
        ++queued;
        if (round == 0 && d == 9) a.QueueSend(refused, AsBytes(std::string("nobody")));
      }
    }
    for (int k = 0; k < 3; ++k) {
      sent[7].push_back(std::string(300, static_cast<char>('x' + k)));
      a.QueueSend(rx[7]->local_address(), AsBytes(sent[7].back()));
      ++queued;
    }
    a.FlushSends();
    EXPECT_FALSE(a.has_queued_sends());
    auto all_arrived = [&] {
      for (int d = 0; d < kDestinations; ++d)
        if (got[static_cast<size_t>(d)].size() != sent[static_cast<size_t>(d)].size()) return false;
      return true;
    };
    ASSERT_TRUE(RunUntil(io, all_arrived));
    EXPECT_EQ(got, sent);
    EXPECT_EQ(a.stats().datagrams_sent, queued);
    EXPECT_EQ(a.stats().send_errors, 1u);
    EXPECT_EQ(a.stats().gso_sends, 1u);
    // 82 messages (80 single datagrams, the refused one, one GSO batch of 3).
    if (send_batch == 32) {
      // Flushes of 32, 32 and 18 messages. The first stops at the refused datagram (11th):
      // sendmmsg sends the 10 before it, a second call fails on it alone (it reports an error
      // only for its first message), and a third sends the other 21.
      EXPECT_EQ(a.stats().send_calls, 5u);
      EXPECT_EQ(a.stats().mmsg_sends, 4u);
      EXPECT_EQ(a.stats().multi_destination_sends, 4u);
    } else {
      EXPECT_EQ(a.stats().send_calls, 82u);
      EXPECT_EQ(a.stats().mmsg_sends, 0u);
      EXPECT_EQ(a.stats().multi_destination_sends, 0u);
    }
  }
}

// recvmmsg: datagrams from many senders (a UdpMux's peers; GRO cannot coalesce them) are read
// several per system call, each handed over whole, in order, with its own source; an oversized
// one in the middle of a batch is dropped and counted without disturbing its neighbours. With
// recv_batch = 1 every datagram is one recvmsg.
TEST(UdpSocketTest, DatagramsFromManySendersAreReadSeveralPerCall) {
  for (int batch : {16, 1}) {
    boost::asio::io_context io;
    UdpSocketOptions ro;
    ro.gro = false;
    ro.recv_batch = batch;
    ro.max_datagram = 1500;
    UdpSocket b(io, ro);
    ASSERT_FALSE(b.Bind(SocketAddress(IpAddress::Loopback(IpFamily::kV4), 0)));
    std::vector<std::unique_ptr<UdpSocket>> senders;
    std::vector<std::pair<SocketAddress, std::string>> sent, got;
    for (int i = 0; i < 40; ++i) {
      senders.push_back(std::make_unique<UdpSocket>(io));
      ASSERT_FALSE(senders.back()->Bind(SocketAddress(IpAddress::Loopback(IpFamily::kV4), 0)));
      std::string d(100 + i * 20, static_cast<char>('a' + i % 26));
      d.replace(0, std::to_string(i).size(), std::to_string(i));
      if (i == 17) d.assign(3000, 'x');  // larger than max_datagram
      ASSERT_FALSE(senders.back()->SendTo(b.local_address(), AsBytes(d)));
      if (i != 17) sent.emplace_back(senders.back()->local_address(), d);
    }
    int batch_ends = 0;
    b.StartReceiving(
        [&](const SocketAddress&, const SocketAddress& from, ByteView data) { got.emplace_back(from, AsString(data)); },
        [&] { ++batch_ends; });
    ASSERT_TRUE(RunUntil(io, [&] { return got.size() == sent.size(); })) << got.size();
    EXPECT_EQ(got, sent);
    EXPECT_EQ(b.stats().datagrams_received, 39u);
    EXPECT_EQ(b.stats().truncated, 1u);
    EXPECT_EQ(batch_ends, 1);  // all queued before the loop ran: one wake-up
    if (batch == 16) {
      EXPECT_EQ(b.stats().receive_calls, 3u);  // 16 + 16 + 8
      EXPECT_EQ(b.stats().mmsg_reads, 3u);
    } else {
      EXPECT_EQ(b.stats().receive_calls, 40u);
      EXPECT_EQ(b.stats().mmsg_reads, 0u);
    }
  }
}

TEST(UdpSocketTest, Ipv6SocketIsV6OnlyAndReceivesOnLoopback) {
  if (!HasIpv6Loopback()) GTEST_FAIL() << "no IPv6 loopback (::1) in this environment";
  boost::asio::io_context io;
  UdpSocket a(io), b(io);
  ASSERT_FALSE(a.Bind(SocketAddress(IpAddress::Loopback(IpFamily::kV6), 0)));
  ASSERT_FALSE(b.Bind(SocketAddress(IpAddress::Loopback(IpFamily::kV6), 0)));
  // V6ONLY: an IPv4 destination cannot be reached from an IPv6 socket.
  EXPECT_TRUE(a.SendTo(*SocketAddress::Parse("127.0.0.1:9"), AsBytes("x")));
  std::string got;
  b.StartReceiving([&](const SocketAddress&, const SocketAddress&, ByteView data) { got = AsString(data); });
  ASSERT_FALSE(a.SendTo(b.local_address(), AsBytes("over ::1")));
  ASSERT_TRUE(RunUntil(io, [&] { return !got.empty(); }));
  EXPECT_EQ(got, "over ::1");
}

TEST(UdpSocketTest, BindInRangeSkipsPortsInUse) {
  boost::asio::io_context io;
  UdpSocket first(io), second(io);
  // Occupy an ephemeral port below 65535 (bounded retries), then scan [taken, taken + 1].
  for (int i = 0; i < 5 && (i == 0 || first.local_address().port() == 65535); ++i)
    ASSERT_FALSE(first.Bind(SocketAddress(IpAddress::Loopback(IpFamily::kV4), 0)));
  const uint16_t taken = first.local_address().port();
  ASSERT_LT(taken, 65535);
  const std::error_code ec = second.BindInRange(IpAddress::Loopback(IpFamily::kV4), taken, taken + 1);
  if (ec) GTEST_FAIL() << "port " << taken + 1 << " busy too: " << ec.message();
  EXPECT_EQ(second.local_address().port(), taken + 1);
  UdpSocket third(io);
  EXPECT_TRUE(third.BindInRange(IpAddress::Loopback(IpFamily::kV4), taken, taken));
}

// Sends a Binding request from a fresh socket to `server` and returns the parsed XOR-MAPPED-ADDRESS.
void ExpectBindingAnswer(boost::asio::io_context& io, const SocketAddress& client_bind, const SocketAddress& server) {
  UdpSocket client(io);
  ASSERT_FALSE(client.Bind(client_bind));
  SeededRng rng(7);
  stun::StunMessageBuilder builder(stun::Method::kBinding, stun::StunClass::kRequest, stun::RandomTransactionId(rng));
  builder.AddFingerprint();
  const stun::TransactionId tid = builder.transaction_id();
  const std::vector<uint8_t> request = std::move(builder).Finish();
  std::optional<SocketAddress> mapped;
  bool tid_matched = false;
  client.StartReceiving([&](const SocketAddress&, const SocketAddress& from, ByteView data) {
    if (from != server) return;
    auto msg = stun::StunMessage::Parse(data);
    if (!msg || msg->cls() != stun::StunClass::kSuccessResponse) return;
    tid_matched = msg->transaction_id() == tid;
    mapped = msg->GetXorAddress(stun::attr::kXorMappedAddress);
  });
  ASSERT_FALSE(client.SendTo(server, request));
  ASSERT_TRUE(RunUntil(io, [&] { return mapped.has_value(); })) << "no Binding response from " << server.ToString();
  EXPECT_TRUE(tid_matched);
  EXPECT_EQ(*mapped, client.local_address());
}

TEST(StunServerRunnerTest, AnswersBindingRequestsOverIpv4AndIpv6Loopback) {
  boost::asio::io_context io;
  StunServerRunner server(io, "runtime-test");
  const SocketAddress v4(IpAddress::Loopback(IpFamily::kV4), 0);
  ASSERT_FALSE(server.Listen(v4));
  ExpectBindingAnswer(io, v4, server.local_addresses()[0]);
  EXPECT_EQ(server.stats().requests, 1u);

  if (!HasIpv6Loopback()) GTEST_FAIL() << "no IPv6 loopback (::1) in this environment";
  const SocketAddress v6(IpAddress::Loopback(IpFamily::kV6), 0);
  ASSERT_FALSE(server.Listen(v6));
  ASSERT_EQ(server.local_addresses().size(), 2u);
  ExpectBindingAnswer(io, v6, server.local_addresses()[1]);
  EXPECT_EQ(server.stats().requests, 2u);
}

TEST(StunServerRunnerTest, IgnoresNonStunDatagrams) {
  boost::asio::io_context io;
  StunServerRunner server(io);
  ASSERT_FALSE(server.Listen(SocketAddress(IpAddress::Loopback(IpFamily::kV4), 0)));
  UdpSocket client(io);
  ASSERT_FALSE(client.Bind(SocketAddress(IpAddress::Loopback(IpFamily::kV4), 0)));
  int answers = 0;
  client.StartReceiving([&](const SocketAddress&, const SocketAddress&, ByteView) { ++answers; });
  ASSERT_FALSE(client.SendTo(server.local_addresses()[0], AsBytes("definitely not a STUN message")));
  ASSERT_TRUE(RunUntil(io, [&] { return server.stats().dropped == 1; }));
  RunUntil(
      io, [] { return false; }, std::chrono::milliseconds(100));
  EXPECT_EQ(answers, 0);
}

TEST(InterfacesTest, ReturnsLoopbackOnlyWhenAsked) {
  InterfaceFilter loopback;
  loopback.loopback_only = true;
  const auto only = EnumerateInterfaces(loopback);
  ASSERT_FALSE(only.empty());
  bool has_127 = false;
  for (const auto& a : only) {
    EXPECT_TRUE(a.address.IsLoopback()) << a.address.ToString();
    has_127 |= a.address == IpAddress::Loopback(IpFamily::kV4);
  }
  EXPECT_TRUE(has_127);
  for (const auto& a : EnumerateInterfaces())
    EXPECT_FALSE(a.address.IsLoopback()) << a.address.ToString();
  InterfaceFilter v4_with_loopback;
  v4_with_loopback.ipv6 = false;
  v4_with_loopback.include_loopback = true;
  for (const auto& a : EnumerateInterfaces(v4_with_loopback))
    EXPECT_TRUE(a.address.is_v4());
}

}  // namespace
}  // namespace peerlink::runtime
