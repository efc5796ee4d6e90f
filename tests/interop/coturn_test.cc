// TurnClientRunner against a real coturn started by the test on 127.0.0.1:
// allocation, data through the relay (Send indications and ChannelData),
// refresh, deallocation and authentication failures, over UDP, TCP and TLS,
// with long-term (static user) and TURN REST (shared secret) credentials.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "src/base/rng.h"
#include "src/runtime/clock.h"
#include "src/runtime/turn_client_runner.h"
#include "src/runtime/udp_socket.h"
#include "src/stun/credentials.h"
#include "tests/interop/coturn_fixture.h"
#include "tests/interop/test_util.h"

namespace peerlink::interop {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using runtime::TurnClientRunner;

// One coturn per configuration, started on first use and stopped at exit.
struct ServerSlot {
  std::unique_ptr<Coturn> server;
  std::string error;
  bool tried = false;
};
Coturn* GetServer(ServerSlot& slot, const CoturnConfig& config) {
  if (!slot.tried) {
    slot.tried = true;
    slot.server = Coturn::Start(config, &slot.error);
  }
  return slot.server.get();
}
ServerSlot& StaticSlot() {
  static ServerSlot slot;
  return slot;
}
ServerSlot& SecretSlot() {
  static ServerSlot slot;
  return slot;
}
ServerSlot& ShortLifetimeSlot() {
  static ServerSlot slot;
  return slot;
}

// The client side of one allocation, with everything its events reported.
struct Allocation {
  std::unique_ptr<TurnClientRunner> runner;
  std::optional<turn::AllocatedEvent> allocated;
  std::optional<turn::AllocationFailedEvent> failed;
  std::vector<turn::PeerDataEvent> data;
  std::vector<turn::PermissionEvent> permissions;
  bool closed = false;
};

std::unique_ptr<Allocation> MakeAllocation(asio::io_context& io,
                                           Rng& rng,
                                           const Coturn& server,
                                           TransportProtocol t,
                                           const std::string& user,
                                           const std::string& pass,
                                           void (*tweak)(runtime::TurnClientRunnerOptions&) = nullptr) {
  runtime::TurnClientRunnerOptions options;
  options.client.server = server.address(t);
  options.client.transport = t;
  options.client.username = user;
  options.client.password = pass;
  // Verify the self-signed certificate properly: it is the trust anchor, and
  // its SAN carries the name we ask for.
  options.tls.ca_file = server.cert_file();
  options.tls.server_name = Coturn::kTlsName;
  options.local_ip = IpAddress::Loopback(IpFamily::kV4);
  if (tweak) tweak(options);
  auto a = std::make_unique<Allocation>();
  a->runner = std::make_unique<TurnClientRunner>(io, options, rng);
  Allocation* raw = a.get();
  a->runner->set_on_event([raw](const turn::ClientEvent& ev) {
    if (auto* x = std::get_if<turn::AllocatedEvent>(&ev)) raw->allocated = *x;
    if (auto* x = std::get_if<turn::AllocationFailedEvent>(&ev)) raw->failed = *x;
    if (auto* x = std::get_if<turn::PeerDataEvent>(&ev)) raw->data.push_back(*x);
    if (auto* x = std::get_if<turn::PermissionEvent>(&ev)) raw->permissions.push_back(*x);
    if (std::holds_alternative<turn::ClosedEvent>(ev)) raw->closed = true;
  });
  a->runner->Start();
  return a;
}

// A plain UDP peer on 127.0.0.1 that records what it receives.
struct Peer {
  explicit Peer(asio::io_context& io) : socket(io) {
    EXPECT_FALSE(socket.Bind(SocketAddress(IpAddress::Loopback(IpFamily::kV4), 0)));
    socket.StartReceiving([this](const SocketAddress&, const SocketAddress& from, ByteView data) {
      received.emplace_back(from, std::string(AsString(data)));
    });
  }
  runtime::UdpSocket socket;
  std::vector<std::pair<SocketAddress, std::string>> received;
};

std::string ServerLog(const Coturn* s) {
  return s ? "\n---- coturn log\n" + s->ReadLog() : "";
}

class CoturnStaticTest : public ::testing::TestWithParam<TransportProtocol> {
 protected:
  void SetUp() override {
    server_ = GetServer(StaticSlot(), CoturnConfig{});
    ASSERT_NE(server_, nullptr) << "coturn did not start:\n" << StaticSlot().error;
  }
  // Allocates as alice over the test's transport; asserts success.
  std::unique_ptr<Allocation> Allocate(void (*tweak)(runtime::TurnClientRunnerOptions&) = nullptr) {
    auto a = MakeAllocation(io_, rng_, *server_, GetParam(), Coturn::kUser, Coturn::kPassword, tweak);
    EXPECT_TRUE(RunUntil(io_, [&] { return a->allocated || a->failed; }))
        << "no allocation result within 10 s" << ServerLog(server_);
    EXPECT_FALSE(a->failed) << (a->failed ? a->failed->reason : "") << ServerLog(server_);
    return a;
  }
  void CloseAndWait(Allocation& a) {
    a.runner->Close();
    EXPECT_TRUE(RunUntil(
        io_, [&] { return a.closed; }, 5s))
        << "no ClosedEvent" << ServerLog(server_);
  }

  asio::io_context io_;
  CryptoRng rng_;
  Coturn* server_ = nullptr;
};

TEST_P(CoturnStaticTest, AllocatesARelayedAddressOnLoopback) {
  auto a = Allocate();
  ASSERT_TRUE(a->allocated);
  const SocketAddress relayed = a->allocated->relayed;
  EXPECT_EQ(relayed.ip(), IpAddress::Loopback(IpFamily::kV4));
  EXPECT_GE(relayed.port(), server_->min_relay_port());
  EXPECT_LE(relayed.port(), server_->max_relay_port());
  // XOR-MAPPED-ADDRESS is our socket as coturn sees it: on loopback, our local address.
  EXPECT_EQ(a->allocated->mapped, a->runner->local_address());
  EXPECT_EQ(a->runner->client().state(), turn::State::kAllocated);
  EXPECT_GT(a->allocated->lifetime, Duration::Zero());
  CloseAndWait(*a);
}

void NoChannels(runtime::TurnClientRunnerOptions& o) {
  o.client.use_channels = false;
}

TEST_P(CoturnStaticTest, RelaysBothWaysWithPermissionAndSendIndications) {
  auto a = Allocate(&NoChannels);
  ASSERT_TRUE(a->allocated);
  Peer peer(io_);
  const SocketAddress relayed = a->allocated->relayed;
  a->runner->CreatePermission(peer.socket.local_address().ip());
  ASSERT_TRUE(RunUntil(io_, [&] { return !a->permissions.empty(); })) << ServerLog(server_);
  EXPECT_TRUE(a->permissions[0].ok);
  EXPECT_NE(a->runner->SendToPeer(peer.socket.local_address(), AsBytes("hello peer")), turn::SendStatus::kNotAllocated);
  ASSERT_TRUE(RunUntil(io_, [&] { return !peer.received.empty(); })) << ServerLog(server_);
  EXPECT_EQ(peer.received[0].first, relayed);  // it came out of the relay
  EXPECT_EQ(peer.received[0].second, "hello peer");

  ASSERT_FALSE(peer.socket.SendTo(relayed, AsBytes("hello client")));
  ASSERT_TRUE(RunUntil(io_, [&] { return !a->data.empty(); })) << ServerLog(server_);
  EXPECT_EQ(a->data[0].peer, peer.socket.local_address());
  EXPECT_EQ(AsString(a->data[0].data), "hello client");
  EXPECT_GT(a->runner->client().stats().send_indications_sent, 0u);
  EXPECT_EQ(a->runner->client().stats().channel_data_sent, 0u);
  CloseAndWait(*a);
}

TEST_P(CoturnStaticTest, RelaysOverAChannelOnceBound) {
  auto a = Allocate();
  ASSERT_TRUE(a->allocated);
  Peer peer(io_);
  const SocketAddress relayed = a->allocated->relayed;
  // The first send triggers ChannelBind (data meanwhile goes in Send
  // indications); keep sending until ChannelData is used, bounded.
  int sent = 0;
  for (int i = 0; i < 50 && a->runner->client().stats().channel_data_sent == 0; ++i) {
    (void)a->runner->SendToPeer(peer.socket.local_address(), AsBytes("msg " + std::to_string(sent++)));
    RunFor(io_, 50ms);
  }
  ASSERT_GT(a->runner->client().stats().channel_data_sent, 0u) << ServerLog(server_);
  ASSERT_TRUE(RunUntil(
      io_, [&] { return peer.received.size() == static_cast<size_t>(sent); }, 3s))
      << "peer got " << peer.received.size() << " of " << sent << ServerLog(server_);
  for (const auto& [from, text] : peer.received)
    EXPECT_EQ(from, relayed);
  EXPECT_EQ(peer.received.back().second, "msg " + std::to_string(sent - 1));

  // Data from the peer now arrives as ChannelData (the channel is bound both ways).
  ASSERT_FALSE(peer.socket.SendTo(relayed, AsBytes("via channel")));
  ASSERT_TRUE(RunUntil(io_, [&] { return !a->data.empty(); })) << ServerLog(server_);
  EXPECT_EQ(AsString(a->data.back().data), "via channel");
  EXPECT_EQ(a->data.back().peer, peer.socket.local_address());
  CloseAndWait(*a);
}

TEST_P(CoturnStaticTest, DeallocatesOnClose) {
  auto a = Allocate();
  ASSERT_TRUE(a->allocated);
  const SocketAddress relayed = a->allocated->relayed;
  const uint64_t requests_before = a->runner->client().stats().requests_sent;
  auto zero_refreshes = [&] {
    const std::string log = server_->ReadLog();
    size_t n = 0;
    // "refreshed, ..., lifetime=0" then end of line (UDP/TCP) or ", cipher=..." (TLS).
    for (size_t at = log.find("lifetime=0"); at != std::string::npos; at = log.find("lifetime=0", at + 1)) {
      const char next = at + 10 < log.size() ? log[at + 10] : '\n';
      if (next == '\n' || next == ',') ++n;
    }
    return n;
  };
  const size_t zero_refreshes_before = zero_refreshes();
  CloseAndWait(*a);
  EXPECT_EQ(a->runner->client().state(), turn::State::kClosed);
  EXPECT_GT(a->runner->client().stats().requests_sent, requests_before);  // the Refresh(LIFETIME=0)
  // coturn logs the zero-lifetime refresh that deletes the allocation.
  ASSERT_TRUE(RunUntil(
      io_, [&] { return zero_refreshes() > zero_refreshes_before; }, 3s))
      << ServerLog(server_);
  // And the relayed port no longer forwards: a datagram to it reaches nobody.
  Peer peer(io_);
  ASSERT_FALSE(peer.socket.SendTo(relayed, AsBytes("anyone?")));
  RunFor(io_, 200ms);
  EXPECT_TRUE(a->data.empty());
}

TEST_P(CoturnStaticTest, WrongPasswordFailsWith401) {
  auto a = MakeAllocation(io_, rng_, *server_, GetParam(), Coturn::kUser, "not-the-password");
  ASSERT_TRUE(RunUntil(io_, [&] { return a->allocated || a->failed; })) << ServerLog(server_);
  ASSERT_TRUE(a->failed);
  EXPECT_EQ(a->failed->code, 401) << a->failed->reason;
  EXPECT_NE(a->failed->reason.find("401"), std::string::npos) << a->failed->reason;
  EXPECT_EQ(a->runner->client().state(), turn::State::kFailed);
}

INSTANTIATE_TEST_SUITE_P(Transports,
                         CoturnStaticTest,
                         ::testing::Values(TransportProtocol::kUdp, TransportProtocol::kTcp, TransportProtocol::kTls),
                         [](const auto& info) { return std::string(ToString(info.param)); });

// Allocations live 8 s here (coturn's max-allocate-lifetime), so the client
// must refresh within the test's runtime.
class CoturnRefreshTest : public ::testing::TestWithParam<TransportProtocol> {
 protected:
  static constexpr int kLifetimeS = 8;
  void SetUp() override {
    server_ = GetServer(ShortLifetimeSlot(), CoturnConfig{CoturnConfig::Auth::kStatic, kLifetimeS});
    ASSERT_NE(server_, nullptr) << "coturn did not start:\n" << ShortLifetimeSlot().error;
  }
  asio::io_context io_;
  CryptoRng rng_;
  Coturn* server_ = nullptr;
};

void ShortLifetime(runtime::TurnClientRunnerOptions& o) {
  o.client.requested_lifetime = Duration::Seconds(8);
}

TEST_P(CoturnRefreshTest, RefreshesBeforeTheGrantedLifetimeEndsAndKeepsRelaying) {
  auto a = MakeAllocation(io_, rng_, *server_, GetParam(), Coturn::kUser, Coturn::kPassword, &ShortLifetime);
  ASSERT_TRUE(RunUntil(io_, [&] { return a->allocated || a->failed; })) << ServerLog(server_);
  ASSERT_FALSE(a->failed) << a->failed->reason << ServerLog(server_);
  const Duration granted = a->allocated->lifetime;
  ASSERT_LE(granted, Duration::Seconds(kLifetimeS)) << "coturn ignored max-allocate-lifetime";
  // The refresh is scheduled before expiry.
  ASSERT_TRUE(a->runner->next_deadline());
  EXPECT_LT(*a->runner->next_deadline(), runtime::Now() + granted);
  const uint64_t requests = a->runner->client().stats().requests_sent;
  // Run past the original lifetime (+2 s): the allocation must still be there.
  RunFor(io_, std::chrono::milliseconds(granted.millis() + 2000));
  EXPECT_GT(a->runner->client().stats().requests_sent, requests) << "no Refresh sent" << ServerLog(server_);
  EXPECT_EQ(a->runner->client().state(), turn::State::kAllocated);
  EXPECT_FALSE(a->failed);
  Peer peer(io_);
  a->runner->CreatePermission(peer.socket.local_address().ip());
  ASSERT_TRUE(RunUntil(io_, [&] { return !a->permissions.empty(); }));
  ASSERT_TRUE(a->permissions.back().ok);
  ASSERT_FALSE(peer.socket.SendTo(a->allocated->relayed, AsBytes("still here")));
  ASSERT_TRUE(RunUntil(
      io_, [&] { return !a->data.empty(); }, 3s))
      << "relay gone after refresh" << ServerLog(server_);
  a->runner->Close();
  EXPECT_TRUE(RunUntil(
      io_, [&] { return a->closed; }, 5s));
}

INSTANTIATE_TEST_SUITE_P(Transports,
                         CoturnRefreshTest,
                         ::testing::Values(TransportProtocol::kUdp, TransportProtocol::kTls),
                         [](const auto& info) { return std::string(ToString(info.param)); });

class CoturnTlsTest : public CoturnStaticTest {};

void Insecure(runtime::TurnClientRunnerOptions& o) {
  o.tls.ca_file.clear();
  o.tls.insecure_skip_verify = true;
}
void SystemTrustStore(runtime::TurnClientRunnerOptions& o) {
  o.tls.ca_file.clear();
}
void WrongName(runtime::TurnClientRunnerOptions& o) {
  o.tls.server_name = "other.peerlink.test";
}
void VerifyByIp(runtime::TurnClientRunnerOptions& o) {
  o.tls.server_name.clear();  // match 127.0.0.1 against the IP SAN
}

TEST_P(CoturnTlsTest, InsecureSkipVerifyAcceptsTheSelfSignedCertificate) {
  auto a = Allocate(&Insecure);
  ASSERT_TRUE(a->allocated);
  CloseAndWait(*a);
}

TEST_P(CoturnTlsTest, VerifiesTheServerIpAgainstTheCertificateSan) {
  auto a = Allocate(&VerifyByIp);
  ASSERT_TRUE(a->allocated);
  CloseAndWait(*a);
}

TEST_P(CoturnTlsTest, RejectsACertificateOutsideTheTrustStore) {
  auto a =
      MakeAllocation(io_, rng_, *server_, TransportProtocol::kTls, Coturn::kUser, Coturn::kPassword, &SystemTrustStore);
  ASSERT_TRUE(RunUntil(io_, [&] { return a->allocated || a->failed; }));
  ASSERT_TRUE(a->failed) << "allocated although the certificate is self-signed";
  EXPECT_EQ(a->failed->code, 0);
  EXPECT_NE(a->failed->reason.find("certificate"), std::string::npos) << a->failed->reason;
}

TEST_P(CoturnTlsTest, RejectsACertificateForAnotherName) {
  auto a = MakeAllocation(io_, rng_, *server_, TransportProtocol::kTls, Coturn::kUser, Coturn::kPassword, &WrongName);
  ASSERT_TRUE(RunUntil(io_, [&] { return a->allocated || a->failed; }));
  ASSERT_TRUE(a->failed) << "allocated although the certificate names another host";
  EXPECT_EQ(a->failed->code, 0);
  EXPECT_NE(a->failed->reason.find("TLS"), std::string::npos) << a->failed->reason;
}

INSTANTIATE_TEST_SUITE_P(Tls, CoturnTlsTest, ::testing::Values(TransportProtocol::kTls), [](const auto& info) {
  return std::string(ToString(info.param));
});

class CoturnSecretTest : public ::testing::TestWithParam<TransportProtocol> {
 protected:
  void SetUp() override {
    server_ = GetServer(SecretSlot(), CoturnConfig{CoturnConfig::Auth::kSecret});
    ASSERT_NE(server_, nullptr) << "coturn did not start:\n" << SecretSlot().error;
  }
  asio::io_context io_;
  CryptoRng rng_;
  Coturn* server_ = nullptr;
};

TEST_P(CoturnSecretTest, AllocatesWithTurnRestCredentials) {
  const auto creds = stun::MakeTurnRestCredentials(Coturn::kSharedSecret, "bob", runtime::UnixSeconds() + 600);
  auto a = MakeAllocation(io_, rng_, *server_, GetParam(), creds.username, creds.password);
  ASSERT_TRUE(RunUntil(io_, [&] { return a->allocated || a->failed; })) << ServerLog(server_);
  ASSERT_FALSE(a->failed) << a->failed->reason << ServerLog(server_);
  EXPECT_EQ(a->allocated->relayed.ip(), IpAddress::Loopback(IpFamily::kV4));
  a->runner->Close();
  EXPECT_TRUE(RunUntil(
      io_, [&] { return a->closed; }, 5s));
}

TEST_P(CoturnSecretTest, RejectsExpiredTurnRestCredentialsWith401) {
  const auto creds = stun::MakeTurnRestCredentials(Coturn::kSharedSecret, "bob", runtime::UnixSeconds() - 60);
  auto a = MakeAllocation(io_, rng_, *server_, GetParam(), creds.username, creds.password);
  ASSERT_TRUE(RunUntil(io_, [&] { return a->allocated || a->failed; })) << ServerLog(server_);
  ASSERT_TRUE(a->failed) << "allocated with expired credentials";
  EXPECT_EQ(a->failed->code, 401) << a->failed->reason;
}

TEST_P(CoturnSecretTest, RejectsCredentialsMintedWithAnotherSecretWith401) {
  const auto creds = stun::MakeTurnRestCredentials("wrong-secret", "bob", runtime::UnixSeconds() + 600);
  auto a = MakeAllocation(io_, rng_, *server_, GetParam(), creds.username, creds.password);
  ASSERT_TRUE(RunUntil(io_, [&] { return a->allocated || a->failed; })) << ServerLog(server_);
  ASSERT_TRUE(a->failed) << "allocated with a forged password";
  EXPECT_EQ(a->failed->code, 401) << a->failed->reason;
  EXPECT_NE(a->failed->reason.find("401"), std::string::npos) << a->failed->reason;
}

INSTANTIATE_TEST_SUITE_P(Transports,
                         CoturnSecretTest,
                         ::testing::Values(TransportProtocol::kUdp, TransportProtocol::kTcp, TransportProtocol::kTls),
                         [](const auto& info) { return std::string(ToString(info.param)); });

}  // namespace
}  // namespace peerlink::interop
