// Two Endpoints passing datagrams by hand. OpenSSL's retransmission timer reads the real clock,
// so `now` here is the real monotonic clock and the loss tests wait (about 100 ms) for it.
#include "src/dtls/endpoint.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "src/dtls/certificate.h"
#include "src/dtls/record_protection.h"

namespace peerlink::dtls {
namespace {

Instant Now() {
  return Instant::FromNanos(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

std::shared_ptr<const Certificate> MakeCert(uint64_t seed, std::string cn = "peerlink-test") {
  SeededRng rng(seed);
  auto cert = Certificate::Generate(rng, {.common_name = std::move(cn)});
  PL_CHECK(cert.ok());
  return *cert;
}

struct Side {
  std::unique_ptr<Endpoint> ep;
  std::shared_ptr<const Certificate> cert;
  std::vector<Event> events;
  std::vector<std::vector<uint8_t>> sent;
  Instant deadline = Instant::Max();

  template <typename T>
  const T* Find() const {
    for (const auto& e : events) {
      if (const T* t = std::get_if<T>(&e)) return t;
    }
    return nullptr;
  }
  std::vector<std::vector<uint8_t>> Received() const {
    std::vector<std::vector<uint8_t>> out;
    for (const auto& e : events) {
      if (const auto* d = std::get_if<ApplicationData>(&e)) out.push_back(d->data);
    }
    return out;
  }
};

// A client and a server; `drop(from_client, index_from_that_side, datagram)` decides loss.
class Pair {
 public:
  Pair(Options client_opts,
       Options server_opts,
       std::shared_ptr<const Certificate> client_cert = MakeCert(1),
       std::shared_ptr<const Certificate> server_cert = MakeCert(2),
       bool correct_fingerprints = true) {
    client_opts.role = Role::kClient;
    server_opts.role = Role::kServer;
    if (correct_fingerprints) {
      client_opts.expected_remote = {server_cert->GetFingerprint()};
      server_opts.expected_remote = {client_cert->GetFingerprint()};
    }
    client.cert = client_cert;
    server.cert = server_cert;
    client.ep = std::make_unique<Endpoint>(client_opts, client_cert, rng);
    server.ep = std::make_unique<Endpoint>(server_opts, server_cert, rng);
  }

  // Drains `s`; returns the datagrams it transmitted.
  std::vector<std::vector<uint8_t>> Drain(Side& s) {
    std::vector<std::vector<uint8_t>> out;
    for (int i = 0; i < 10000; ++i) {
      Output o = s.ep->PollOutput(Now());
      if (auto* t = std::get_if<Transmit>(&o)) {
        s.sent.push_back(t->datagram);
        out.push_back(std::move(t->datagram));
      } else if (auto* e = std::get_if<Event>(&o)) {
        s.events.push_back(std::move(*e));
      } else {
        s.deadline = std::get<Deadline>(o).at;
        EXPECT_TRUE(s.ep->IsConsistent());
        return out;
      }
    }
    ADD_FAILURE() << "PollOutput never returned a Deadline";
    return out;
  }

  void Deliver(bool from_client, std::vector<std::vector<uint8_t>> dgrams) {
    Side& to = from_client ? server : client;
    if (reverse) std::reverse(dgrams.begin(), dgrams.end());
    for (auto& d : dgrams) {
      size_t& idx = from_client ? client_index : server_index;
      const size_t i = idx++;
      if (drop && drop(from_client, i, d)) continue;
      to.ep->HandleDatagram(Now(), d);
    }
  }

  // Moves datagrams and fires timers until `done` or `limit` of real time passes.
  bool RunUntil(const std::function<bool()>& done, Duration limit = Duration::Seconds(5)) {
    const Instant end = Now() + limit;
    while (Now() < end) {
      bool moved = false;
      for (int round = 0; round < 100; ++round) {
        auto from_client = Drain(client);
        auto from_server = Drain(server);
        if (from_client.empty() && from_server.empty()) break;
        moved = true;
        Deliver(true, std::move(from_client));
        Deliver(false, std::move(from_server));
      }
      if (done()) return true;
      if (moved) continue;
      const Instant next = std::min({client.deadline, server.deadline, end});
      const Instant now = Now();
      if (next > now) {
        std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<int64_t>((next - now).nanos(), 20000000)));
      }
      if (Now() >= client.deadline) client.ep->HandleTimeout(Now());
      if (Now() >= server.deadline) server.ep->HandleTimeout(Now());
    }
    return done();
  }

  bool BothConnected() { return client.ep->state() == State::kConnected && server.ep->state() == State::kConnected; }
  // Both connected, or the outcome is decided: both failed, or one failed while the other never
  // heard anything.
  bool Settled() {
    auto failed = [](const Side& s) { return s.ep->state() == State::kFailed; };
    auto idle = [](const Side& s) { return s.ep->state() == State::kNew || s.ep->stats().datagrams_received == 0; };
    return BothConnected() || (failed(client) && (failed(server) || idle(server))) ||
           (failed(server) && (failed(client) || idle(client)));
  }
  bool Handshake(Duration limit = Duration::Seconds(5)) {
    client.ep->Start(Now());
    server.ep->Start(Now());
    RunUntil([&] { return Settled(); }, limit);
    return BothConnected();
  }

  SeededRng rng{7};
  Side client, server;
  std::function<bool(bool, size_t, const std::vector<uint8_t>&)> drop;
  bool reverse = false;
  size_t client_index = 0, server_index = 0;
};

Options Fast() {
  Options o;
  o.initial_retransmit_timeout = Duration::Millis(100);
  return o;
}

TEST(DtlsEndpoint, HandshakeConnectsAndReportsPeerFingerprint) {
  Pair p(Fast(), Fast());
  ASSERT_TRUE(p.Handshake());
  for (Side* s : {&p.client, &p.server}) {
    const Connected* c = s->Find<Connected>();
    ASSERT_NE(c, nullptr);
    const Side& other = s == &p.client ? p.server : p.client;
    EXPECT_EQ(c->remote_fingerprint, other.cert->GetFingerprint());
    EXPECT_EQ(c->cipher, "ECDHE-ECDSA-AES128-GCM-SHA256");
    EXPECT_EQ(c->srtp_profile, "SRTP_AEAD_AES_128_GCM");  // offered for Pion/werift/browser interop
    EXPECT_TRUE(c->extended_master_secret);
    EXPECT_EQ(s->Find<Failed>(), nullptr);
  }
  EXPECT_EQ(p.client.ep->role(), Role::kClient);
  EXPECT_EQ(p.server.ep->role(), Role::kServer);
  // No retransmission timer is left running once both sides are done: the only deadline is
  // the idle release of the record buffers.
  EXPECT_LE(p.client.deadline, Now() + Options{}.idle_buffer_release);
}

// RFC 8842: either side of the offer/answer may end up the DTLS client; swap which certificate
// (and which test "peer") holds each role.
TEST(DtlsEndpoint, HandshakeWithEitherRoleAssignment) {
  auto cert_a = MakeCert(11, "a");
  auto cert_b = MakeCert(12, "b");
  for (bool a_is_client : {true, false}) {
    Pair p(Fast(), Fast(), a_is_client ? cert_a : cert_b, a_is_client ? cert_b : cert_a);
    ASSERT_TRUE(p.Handshake()) << a_is_client;
    EXPECT_EQ(p.client.Find<Connected>()->remote_fingerprint, (a_is_client ? cert_b : cert_a)->GetFingerprint());
    EXPECT_EQ(p.server.Find<Connected>()->remote_fingerprint, (a_is_client ? cert_a : cert_b)->GetFingerprint());
  }
}

TEST(DtlsEndpoint, NegotiatesEachAllowedCipherSuite) {
  for (CipherSuite suite : {CipherSuite::kEcdheEcdsaAes128Gcm, CipherSuite::kEcdheEcdsaAes256Gcm,
                            CipherSuite::kEcdheEcdsaChacha20Poly1305}) {
    Options o = Fast();
    o.cipher_suites = {suite};
    Pair p(o, Fast());  // server accepts all three; the client offers only one
    ASSERT_TRUE(p.Handshake()) << ToString(suite);
    EXPECT_EQ(p.client.Find<Connected>()->cipher, ToString(suite));
    EXPECT_EQ(p.server.Find<Connected>()->cipher, ToString(suite));
    // Application data works with every suite.
    const std::vector<uint8_t> msg(1000, 0x5a);
    ASSERT_EQ(p.client.ep->Send(Now(), msg), SendResult::kOk);
    ASSERT_TRUE(p.RunUntil([&] { return !p.server.Received().empty(); }));
    EXPECT_EQ(p.server.Received().front(), msg);
  }
}

TEST(DtlsEndpoint, NoCommonSuiteFailsTheHandshake) {
  Options c = Fast(), s = Fast();
  c.cipher_suites = {CipherSuite::kEcdheEcdsaAes128Gcm};
  s.cipher_suites = {CipherSuite::kEcdheEcdsaChacha20Poly1305};
  Pair p(c, s);
  EXPECT_FALSE(p.Handshake(Duration::Millis(500)));
  ASSERT_NE(p.server.Find<Failed>(), nullptr);
  EXPECT_NE(p.server.Find<Failed>()->reason.find("no shared cipher"), std::string::npos)
      << p.server.Find<Failed>()->reason;
  ASSERT_NE(p.client.Find<Failed>(), nullptr);
}

TEST(DtlsEndpoint, ApplicationDataBothWaysOneRecordPerDatagram) {
  Pair p(Fast(), Fast());
  std::vector<uint8_t> early(10, 1);
  EXPECT_EQ(p.client.ep->Send(Now(), early), SendResult::kNotConnected);
  ASSERT_TRUE(p.Handshake());
  const size_t max = p.client.ep->max_application_payload();
  EXPECT_GE(max, 1100u);  // 1200 - 13 (header) - 8 (explicit nonce) - 16 (tag) = 1163
  EXPECT_LE(max, 1200u - 13u);
  std::vector<uint8_t> too_big(max + 1, 7);
  EXPECT_EQ(p.client.ep->Send(Now(), too_big), SendResult::kTooLarge);

  std::vector<std::vector<uint8_t>> c2s, s2c;
  SeededRng r(3);
  for (int i = 0; i < 50; ++i) {
    std::vector<uint8_t> m(1 + r.Below(max));
    r.Fill(m);
    c2s.push_back(m);
    ASSERT_EQ(p.client.ep->Send(Now(), m), SendResult::kOk);
    std::vector<uint8_t> n(1 + r.Below(max));
    r.Fill(n);
    s2c.push_back(n);
    ASSERT_EQ(p.server.ep->Send(Now(), n), SendResult::kOk);
  }
  const size_t client_sent_before = p.client.sent.size();
  // One Send, one datagram, never above the MTU.
  auto out = p.Drain(p.client);
  EXPECT_EQ(out.size(), 50u);
  for (const auto& d : out)
    EXPECT_LE(d.size(), 1200u);
  p.Deliver(true, std::move(out));
  ASSERT_TRUE(p.RunUntil([&] { return p.server.Received().size() == 50 && p.client.Received().size() == 50; }));
  EXPECT_EQ(p.server.Received(), c2s);
  EXPECT_EQ(p.client.Received(), s2c);
  EXPECT_EQ(p.client.sent.size(), client_sent_before + 50);
}

TEST(DtlsEndpoint, WrongFingerprintIsRefusedOnTheClientWithANamedError) {
  auto client_cert = MakeCert(1), server_cert = MakeCert(2), other = MakeCert(3);
  Options c = Fast(), s = Fast();
  c.expected_remote = {other->GetFingerprint()};
  s.expected_remote = {client_cert->GetFingerprint()};
  Pair p(c, s, client_cert, server_cert, /*correct_fingerprints=*/false);
  EXPECT_FALSE(p.Handshake(Duration::Millis(500)));
  const Failed* cf = p.client.Find<Failed>();
  ASSERT_NE(cf, nullptr);
  EXPECT_EQ(cf->reason, "remote certificate fingerprint mismatch: expected " + other->GetFingerprint().ToString() +
                            ", got " + server_cert->GetFingerprint().ToString());
  // The client sent a bad_certificate alert; the server fails naming it.
  const Failed* sf = p.server.Find<Failed>();
  ASSERT_NE(sf, nullptr);
  EXPECT_NE(sf->reason.find("bad certificate"), std::string::npos) << sf->reason;
  EXPECT_EQ(p.client.Find<Connected>(), nullptr);
  EXPECT_EQ(p.server.Find<Connected>(), nullptr);
}

TEST(DtlsEndpoint, WrongFingerprintIsRefusedOnTheServerWithANamedError) {
  auto client_cert = MakeCert(1), server_cert = MakeCert(2), other = MakeCert(3);
  Options c = Fast(), s = Fast();
  c.expected_remote = {server_cert->GetFingerprint()};
  s.expected_remote = {other->GetFingerprint()};
  Pair p(c, s, client_cert, server_cert, false);
  EXPECT_FALSE(p.Handshake(Duration::Millis(500)));
  const Failed* sf = p.server.Find<Failed>();
  ASSERT_NE(sf, nullptr);
  EXPECT_NE(sf->reason.find("fingerprint mismatch: expected " + other->GetFingerprint().ToString()), std::string::npos)
      << sf->reason;
  EXPECT_NE(sf->reason.find("got " + client_cert->GetFingerprint().ToString()), std::string::npos);
  const Failed* cf = p.client.Find<Failed>();
  ASSERT_NE(cf, nullptr);
  EXPECT_NE(cf->reason.find("bad certificate"), std::string::npos) << cf->reason;
  // Refused before any application data could flow: the client never reported Connected.
  EXPECT_EQ(p.client.Find<Connected>(), nullptr);
}

TEST(DtlsEndpoint, VerifiesWithTheStrongestOfferedHash) {
  auto client_cert = MakeCert(1), server_cert = MakeCert(2), other = MakeCert(3);
  // sha-256 right, sha-1 wrong: sha-256 decides -> connects.
  {
    Options c = Fast(), s = Fast();
    c.expected_remote = {other->GetFingerprint(HashFunction::kSha1), server_cert->GetFingerprint()};
    s.expected_remote = {client_cert->GetFingerprint(HashFunction::kSha512)};
    Pair p(c, s, client_cert, server_cert, false);
    ASSERT_TRUE(p.Handshake());
    EXPECT_EQ(p.server.Find<Connected>()->remote_fingerprint, client_cert->GetFingerprint(HashFunction::kSha512));
  }
  // sha-1 right, sha-256 wrong: a weaker match does not rescue a stronger mismatch.
  {
    Options c = Fast(), s = Fast();
    c.expected_remote = {server_cert->GetFingerprint(HashFunction::kSha1), other->GetFingerprint()};
    s.expected_remote = {client_cert->GetFingerprint()};
    Pair p(c, s, client_cert, server_cert, false);
    EXPECT_FALSE(p.Handshake(Duration::Millis(500)));
    ASSERT_NE(p.client.Find<Failed>(), nullptr);
    EXPECT_NE(p.client.Find<Failed>()->reason.find("mismatch"), std::string::npos);
  }
}

// Endpoints with the same options share one SSL_CTX (the identity and the expected
// fingerprints live on each SSL): endpoints with different certificates, created together and
// handshaking interleaved, each see their own peer, and a wrong fingerprint still fails.
TEST(DtlsEndpoint, SharedContextKeepsEachEndpointsIdentityAndExpectations) {
  auto a = MakeCert(41, "a"), b = MakeCert(42, "b"), c = MakeCert(43, "c"), d = MakeCert(44, "d");
  Pair ab(Fast(), Fast(), a, b);
  Pair ca(Fast(), Fast(), c, a);
  Options wrong = Fast();
  wrong.expected_remote = {c->GetFingerprint()};  // the client expects c, the server is d
  Pair bd(wrong, Fast(), b, d, /*correct_fingerprints=*/false);
  // bd's server expects b (set by hand: correct_fingerprints is off for the pair).
  Options bd_server = Fast();
  bd_server.role = Role::kServer;
  bd_server.expected_remote = {b->GetFingerprint()};
  bd.server.ep = std::make_unique<Endpoint>(bd_server, d, bd.rng);
  for (Pair* p : {&ab, &ca, &bd}) {
    p->client.ep->Start(Now());
    p->server.ep->Start(Now());
  }
  // Interleave the three handshakes flight by flight (timers fire too: slow under valgrind).
  const Instant end = Now() + Duration::Seconds(10);
  while (Now() < end && !(ab.Settled() && ca.Settled() && bd.Settled())) {
    for (Pair* p : {&ab, &ca, &bd}) {
      auto from_client = p->Drain(p->client);
      auto from_server = p->Drain(p->server);
      p->Deliver(true, std::move(from_client));
      p->Deliver(false, std::move(from_server));
      if (Now() >= p->client.deadline) p->client.ep->HandleTimeout(Now());
      if (Now() >= p->server.deadline) p->server.ep->HandleTimeout(Now());
    }
  }
  for (Pair* p : {&ab, &ca, &bd}) {  // collect the last events
    (void)p->Drain(p->client);
    (void)p->Drain(p->server);
  }
  ASSERT_TRUE(ab.BothConnected());
  ASSERT_TRUE(ca.BothConnected());
  for (const Side* side : {&ab.client, &ab.server, &ca.client, &ca.server})
    ASSERT_NE(side->Find<Connected>(), nullptr);
  EXPECT_EQ(ab.client.Find<Connected>()->remote_fingerprint, b->GetFingerprint());
  EXPECT_EQ(ab.server.Find<Connected>()->remote_fingerprint, a->GetFingerprint());
  EXPECT_EQ(ca.client.Find<Connected>()->remote_fingerprint, a->GetFingerprint());
  EXPECT_EQ(ca.server.Find<Connected>()->remote_fingerprint, c->GetFingerprint());
  const Failed* f = bd.client.Find<Failed>();
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->reason, "remote certificate fingerprint mismatch: expected " + c->GetFingerprint().ToString() +
                           ", got " + d->GetFingerprint().ToString());
  EXPECT_EQ(bd.server.Find<Connected>(), nullptr);
  // Data on one pair is not seen by another.
  const std::vector<uint8_t> m(100, 3);
  ASSERT_EQ(ab.client.ep->Send(Now(), m), SendResult::kOk);
  ASSERT_TRUE(ab.RunUntil([&] { return !ab.server.Received().empty(); }));
  EXPECT_EQ(ab.server.Received().front(), m);
  EXPECT_TRUE(ca.server.Received().empty());
}

// The shared contexts are built and used from several threads at once.
TEST(DtlsEndpoint, EndpointsOnSeveralThreadsConnect) {
  std::vector<std::shared_ptr<const Certificate>> certs;
  for (uint64_t i = 0; i < 8; ++i)
    certs.push_back(MakeCert(50 + i));
  std::atomic<int> connected{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 3; ++i) {
        Options o = Fast();
        // Threads 0 and 1 use the default suites, 2 and 3 a list of their own: two CTXs built
        // concurrently.
        if (t >= 2) o.cipher_suites = {CipherSuite::kEcdheEcdsaChacha20Poly1305, CipherSuite::kEcdheEcdsaAes256Gcm};
        Pair p(o, o, certs[2 * t], certs[(2 * t + 1 + i) % certs.size()]);
        if (p.Handshake() && p.client.Find<Connected>()->remote_fingerprint == p.server.cert->GetFingerprint()) {
          ++connected;
        }
      }
    });
  }
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(connected.load(), 12);
}

// Once connected and quiet for Options::idle_buffer_release, both sides free OpenSSL's record
// buffers; the next records (both ways, many) reallocate them, and they are freed again.
TEST(DtlsEndpoint, IdleRecordBuffersAreReleasedAndReallocatedOnDemand) {
  Options o = Fast();
  o.idle_buffer_release = Duration::Millis(20);
  Pair p(o, o);
  ASSERT_TRUE(p.Handshake());
  EXPECT_EQ(p.client.ep->stats().buffer_releases, 0u);
  EXPECT_LE(p.client.deadline, Now() + Duration::Millis(20));
  ASSERT_TRUE(p.RunUntil(
      [&] { return p.client.ep->stats().buffer_releases == 1 && p.server.ep->stats().buffer_releases == 1; }));
  // Released and nothing else pending: no deadline at all.
  (void)p.Drain(p.client);
  (void)p.Drain(p.server);
  EXPECT_EQ(p.client.deadline, Instant::Max());
  EXPECT_EQ(p.server.deadline, Instant::Max());

  for (int round = 0; round < 2; ++round) {
    std::vector<std::vector<uint8_t>> c2s, s2c;
    SeededRng r(5 + round);
    const size_t max = p.client.ep->max_application_payload();
    for (int i = 0; i < 20; ++i) {
      std::vector<uint8_t> m(1 + r.Below(max)), n(1 + r.Below(max));
      r.Fill(m);
      r.Fill(n);
      c2s.push_back(m);
      s2c.push_back(n);
      // The server writes first in round 1: either side may be the first to need a buffer.
      if (round == 0) {
        ASSERT_EQ(p.client.ep->Send(Now(), m), SendResult::kOk);
        ASSERT_EQ(p.server.ep->Send(Now(), n), SendResult::kOk);
      } else {
        ASSERT_EQ(p.server.ep->Send(Now(), n), SendResult::kOk);
        ASSERT_EQ(p.client.ep->Send(Now(), m), SendResult::kOk);
      }
    }
    const size_t before_c = p.client.Received().size(), before_s = p.server.Received().size();
    ASSERT_TRUE(p.RunUntil(
        [&] { return p.server.Received().size() == before_s + 20 && p.client.Received().size() == before_c + 20; }));
    EXPECT_TRUE(std::equal(c2s.begin(), c2s.end(), p.server.Received().begin() + static_cast<long>(before_s)));
    EXPECT_TRUE(std::equal(s2c.begin(), s2c.end(), p.client.Received().begin() + static_cast<long>(before_c)));
    const uint64_t want = 2 + static_cast<uint64_t>(round);
    ASSERT_TRUE(p.RunUntil(
        [&] { return p.client.ep->stats().buffer_releases == want && p.server.ep->stats().buffer_releases == want; }));
  }
  EXPECT_EQ(p.client.Find<Failed>(), nullptr);
  EXPECT_EQ(p.server.Find<Failed>(), nullptr);
  // close_notify goes out through a reallocated write buffer too.
  p.client.ep->Close(Now());
  ASSERT_TRUE(p.RunUntil([&] { return p.server.Find<Closed>() != nullptr; }));
}

// The server is connected once it has sent its last flight; if that flight is lost it releases
// its buffers while idle, and must still read the client's retransmitted flight and resend its
// own (OpenSSL allocates the buffers again for both).
TEST(DtlsEndpoint, ServerResendsItsLastFlightAfterReleasingBuffers) {
  Options o = Fast();
  o.idle_buffer_release = Duration::Millis(20);
  Pair p(o, o);
  // Server datagram 1 is its ChangeCipherSpec + Finished flight (mtu 1200: one datagram per
  // flight).
  p.drop = [](bool from_client, size_t i, const std::vector<uint8_t>&) { return !from_client && i == 1; };
  p.client.ep->Start(Now());
  p.server.ep->Start(Now());
  ASSERT_TRUE(p.RunUntil([&] { return p.server.ep->stats().buffer_releases >= 1; }));
  EXPECT_EQ(p.server.ep->state(), State::kConnected);
  EXPECT_EQ(p.client.ep->state(), State::kHandshaking);
  ASSERT_TRUE(p.RunUntil([&] { return p.BothConnected(); }));
  EXPECT_GE(p.client.ep->stats().handshake_timeouts, 1u);
  const std::vector<uint8_t> m(500, 0x42);
  ASSERT_EQ(p.client.ep->Send(Now(), m), SendResult::kOk);
  ASSERT_EQ(p.server.ep->Send(Now(), m), SendResult::kOk);
  ASSERT_TRUE(p.RunUntil([&] { return !p.server.Received().empty() && !p.client.Received().empty(); }));
  EXPECT_EQ(p.server.Received().front(), m);
  EXPECT_EQ(p.client.Received().front(), m);
}

TEST(DtlsEndpoint, InfiniteIdleReleaseKeepsTheBuffers) {
  Options o = Fast();
  o.idle_buffer_release = Duration::Infinite();
  Pair p(o, o);
  ASSERT_TRUE(p.Handshake());
  EXPECT_EQ(p.client.deadline, Instant::Max());
  EXPECT_EQ(p.server.deadline, Instant::Max());
  EXPECT_EQ(p.client.ep->stats().buffer_releases, 0u);
}

TEST(DtlsEndpoint, NoExpectedFingerprintFailsAtOnce) {
  SeededRng rng(1);
  Endpoint ep(Options{}, MakeCert(1), rng);
  EXPECT_EQ(ep.state(), State::kFailed);
  Output o = ep.PollOutput(Now());
  ASSERT_TRUE(std::holds_alternative<Event>(o));
  const auto* f = std::get_if<Failed>(&std::get<Event>(o));
  ASSERT_NE(f, nullptr);
  EXPECT_NE(f->reason.find("no expected remote fingerprint"), std::string::npos);
  ep.Start(Now());
  EXPECT_TRUE(std::holds_alternative<Deadline>(ep.PollOutput(Now())));
}

TEST(DtlsEndpoint, CloseNotifyDeliversClosedOnBothSides) {
  Pair p(Fast(), Fast());
  ASSERT_TRUE(p.Handshake());
  p.client.ep->Close(Now());
  ASSERT_TRUE(p.RunUntil([&] { return p.server.Find<Closed>() != nullptr; }));
  ASSERT_NE(p.client.Find<Closed>(), nullptr);
  EXPECT_FALSE(p.client.Find<Closed>()->by_peer);
  EXPECT_TRUE(p.server.Find<Closed>()->by_peer);
  EXPECT_EQ(p.server.ep->state(), State::kClosed);
  EXPECT_EQ(p.client.ep->Send(Now(), std::vector<uint8_t>(4)), SendResult::kNotConnected);
  EXPECT_EQ(p.client.Find<Failed>(), nullptr);
  EXPECT_EQ(p.server.Find<Failed>(), nullptr);
}

TEST(DtlsEndpoint, LostFirstFlightIsRetransmittedAfterTheInitialTimeout) {
  Pair p(Fast(), Fast());
  p.drop = [](bool from_client, size_t i, const std::vector<uint8_t>&) { return from_client && i == 0; };
  const Instant start = Now();
  p.client.ep->Start(start);
  (void)p.Drain(p.client);  // the ClientHello, then the deadline
  // The deadline is OpenSSL's initial timer, as configured.
  EXPECT_GE(p.client.deadline - start, Duration::Millis(90));
  EXPECT_LE(p.client.deadline - start, Duration::Millis(150));
  ASSERT_EQ(p.client.sent.size(), 1u);
  p.client_index = 1;  // that ClientHello was "lost" (never delivered)
  // Calling HandleTimeout early does nothing.
  p.client.ep->HandleTimeout(Now());
  EXPECT_EQ(p.client.ep->stats().handshake_timeouts, 0u);
  ASSERT_TRUE(p.RunUntil([&] { return p.BothConnected(); }));
  EXPECT_GE(Now() - start, Duration::Millis(95));
  EXPECT_EQ(p.client.ep->stats().handshake_timeouts, 1u);
  // The retransmitted ClientHello is the same handshake message in a record with the next
  // sequence number (RFC 6347 section 4.1).
  ASSERT_EQ(p.client.sent[1].size(), p.client.sent[0].size());
  EXPECT_TRUE(std::equal(p.client.sent[1].begin() + 13, p.client.sent[1].end(), p.client.sent[0].begin() + 13));
  EXPECT_EQ(p.client.sent[0][10], 0);
  EXPECT_EQ(p.client.sent[1][10], 1);
}

TEST(DtlsEndpoint, LostServerFlightAndLostFinishedAreRecovered) {
  for (size_t lost : {0, 1, 2}) {
    Pair p(Fast(), Fast());
    // Drop the server's lost-th datagram once, and the client's second datagram (its
    // Certificate..Finished flight) once.
    p.drop = [lost](bool from_client, size_t i, const std::vector<uint8_t>&) {
      return from_client ? i == 1 : i == lost;
    };
    ASSERT_TRUE(p.Handshake()) << lost;
    EXPECT_GE(p.client.ep->stats().handshake_timeouts + p.server.ep->stats().handshake_timeouts, 1u);
  }
}

TEST(DtlsEndpoint, HandshakeSurvivesReorderedDatagrams) {
  Options o = Fast();
  o.mtu = 400;  // several datagrams per flight, delivered last-first
  Pair p(o, o);
  p.reverse = true;
  ASSERT_TRUE(p.Handshake());
  EXPECT_GT(p.server.sent.size(), 3u);
  const std::vector<uint8_t> m(300, 9);
  ASSERT_EQ(p.client.ep->Send(Now(), m), SendResult::kOk);
  ASSERT_EQ(p.client.ep->Send(Now(), std::vector<uint8_t>(10, 1)), SendResult::kOk);
  ASSERT_TRUE(p.RunUntil([&] { return p.server.Received().size() == 2; }));
  EXPECT_EQ(p.server.Received()[1], m);  // reversed, and DTLS delivers in arrival order
}

std::shared_ptr<const Certificate> CertWithLongChain() {
  auto leaf = MakeCert(21, "leaf-with-a-long-chain");
  std::string pem = leaf->ToPem();
  for (uint64_t i = 0; i < 4; ++i) {
    std::string extra = MakeCert(30 + i, "intermediate-" + std::to_string(i))->ToPem();
    pem += extra.substr(extra.find("-----BEGIN CERTIFICATE-----"));
  }
  auto cert = Certificate::FromPem(pem);
  PL_CHECK(cert.ok());
  PL_CHECK((*cert)->chain().size() == 4);
  return *cert;
}

TEST(DtlsEndpoint, HandshakeDatagramsRespectTheMtuWithALargeChain) {
  for (size_t mtu : {size_t{1200}, size_t{576}, size_t{300}}) {
    Options o = Fast();
    o.mtu = mtu;
    Pair p(o, o, CertWithLongChain(), CertWithLongChain());
    ASSERT_TRUE(p.Handshake()) << mtu;
    size_t server_bytes = 0;
    for (const Side* s : {&p.client, &p.server}) {
      for (const auto& d : s->sent)
        EXPECT_LE(d.size(), mtu);
    }
    for (const auto& d : p.server.sent)
      server_bytes += d.size();
    EXPECT_GT(server_bytes, mtu + mtu / 2) << "the chain must not fit one datagram, or the test proves nothing";
    const size_t max = p.client.ep->max_application_payload();
    ASSERT_EQ(p.client.ep->Send(Now(), std::vector<uint8_t>(max, 3)), SendResult::kOk);
    auto out = p.Drain(p.client);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_LE(out[0].size(), mtu);
    EXPECT_GE(out[0].size(), mtu - 16);  // and max_application_payload is not wastefully small
  }
}

TEST(DtlsEndpoint, MtuBelowOpenSslMinimumFailsClearly) {
  Options o = Fast();
  o.mtu = 200;
  o.expected_remote = {MakeCert(2)->GetFingerprint()};
  SeededRng rng(1);
  Endpoint ep(o, MakeCert(1), rng);
  EXPECT_EQ(ep.state(), State::kFailed);
  auto out = ep.PollOutput(Now());
  ASSERT_TRUE(std::holds_alternative<Event>(out));
  EXPECT_NE(std::get<Failed>(std::get<Event>(out)).reason.find("below the minimum"), std::string::npos);
}

TEST(DtlsEndpoint, GarbageDatagramsAreDroppedWithoutHarm) {
  Pair p(Fast(), Fast());
  SeededRng r(99);
  auto garbage = [&](Side& s) {
    for (int i = 0; i < 200; ++i) {
      std::vector<uint8_t> g(r.Below(300));
      r.Fill(g);
      if (!g.empty() && i % 2 == 0) g[0] = static_cast<uint8_t>(20 + r.Below(44));  // looks like DTLS
      // A plausible record header with a bogus epoch/sequence and body.
      if (g.size() > 13 && i % 4 == 0) {
        g[0] = 23;
        g[1] = 0xfe;
        g[2] = 0xfd;
      }
      s.ep->HandleDatagram(Now(), g);
      (void)p.Drain(s);
    }
  };
  p.client.ep->Start(Now());
  (void)p.Drain(p.client);
  garbage(p.client);  // mid-handshake
  p.client_index = 0;
  p.client.sent.clear();
  p.client.ep->HandleTimeout(Now() + Duration::Seconds(1));
  ASSERT_TRUE(p.RunUntil([&] { return p.BothConnected(); }));
  garbage(p.server);
  garbage(p.client);
  EXPECT_TRUE(p.BothConnected());
  ASSERT_EQ(p.client.ep->Send(Now(), std::vector<uint8_t>(100, 1)), SendResult::kOk);
  ASSERT_TRUE(p.RunUntil([&] { return p.server.Received().size() == 1; }));
  EXPECT_EQ(p.server.Received().front(), std::vector<uint8_t>(100, 1));
}

TEST(DtlsEndpoint, HandshakeGivesUpAfterHandshakeTimeout) {
  Options o = Fast();
  o.handshake_timeout = Duration::Millis(300);
  Pair p(o, Fast());
  p.drop = [](bool, size_t, const std::vector<uint8_t>&) { return true; };  // a black hole
  EXPECT_FALSE(p.Handshake(Duration::Seconds(2)));
  const Failed* f = p.client.Find<Failed>();
  ASSERT_NE(f, nullptr);
  EXPECT_NE(f->reason.find("timed out"), std::string::npos) << f->reason;
  // 100 ms, then 200 ms: the first retransmission happened before the limit.
  EXPECT_GE(p.client.ep->stats().handshake_timeouts, 1u);
  EXPECT_GE(p.client.sent.size(), 2u);
}

// --- direct records (Options::direct_records) ---------------------------------------------

struct ParsedRecord {
  RecordHeader header;
  std::vector<uint8_t> fragment;
};
std::vector<ParsedRecord> RecordsOf(const std::vector<std::vector<uint8_t>>& datagrams) {
  std::vector<ParsedRecord> out;
  for (const auto& d : datagrams) {
    ByteView in(d);
    while (auto h = ParseRecordHeader(in)) {
      const size_t total = kRecordHeaderSize + h->length;
      if (total > in.size()) break;
      out.push_back({*h, std::vector<uint8_t>(in.begin() + kRecordHeaderSize, in.begin() + total)});
      in = in.subspan(total);
    }
  }
  return out;
}

// Sends `n` random messages each way (sizes 1..max, the maximum included) and checks they
// arrive intact and in order. The client's go first, so a direct server has switched to
// sealing its own by the time it sends.
void ExchangeBothWays(Pair& p, int n, uint64_t seed) {
  SeededRng r(seed);
  const size_t max = p.client.ep->max_application_payload();
  std::vector<std::vector<uint8_t>> c2s, s2c;
  for (int i = 0; i < n; ++i) {
    std::vector<uint8_t> m(i == 0 ? max : 1 + r.Below(max)), k(i == 1 ? max : 1 + r.Below(max));
    r.Fill(m);
    r.Fill(k);
    c2s.push_back(m);
    s2c.push_back(k);
  }
  const size_t bc = p.client.Received().size(), bs = p.server.Received().size();
  for (const auto& m : c2s)
    ASSERT_EQ(p.client.ep->Send(Now(), m), SendResult::kOk);
  ASSERT_TRUE(p.RunUntil([&] { return p.server.Received().size() == bs + c2s.size(); }));
  for (const auto& k : s2c)
    ASSERT_EQ(p.server.ep->Send(Now(), k), SendResult::kOk);
  ASSERT_TRUE(p.RunUntil([&] { return p.client.Received().size() == bc + s2c.size(); }));
  EXPECT_TRUE(std::equal(c2s.begin(), c2s.end(), p.server.Received().begin() + static_cast<long>(bs)));
  EXPECT_TRUE(std::equal(s2c.begin(), s2c.end(), p.client.Received().begin() + static_cast<long>(bc)));
  for (const auto& d : p.client.sent)
    EXPECT_LE(d.size(), 1200u);
  for (const auto& d : p.server.sent)
    EXPECT_LE(d.size(), 1200u);
}

// Our records and OpenSSL's are interchangeable: each suite, with the direct path on either
// side only (the other side is OpenSSL's record layer end to end) and on both. This is what
// proves the key block, nonces and additional data match RFC 5246 / 5288 / 7905 as OpenSSL
// implements them.
TEST(DtlsDirectRecords, InteroperateWithOpenSslsRecordLayerForEverySuite) {
  for (CipherSuite suite : AllCipherSuites()) {
    for (auto [client_direct, server_direct] : {std::pair{true, false}, {false, true}, {true, true}}) {
      SCOPED_TRACE(std::string(ToString(suite)) + " client_direct=" + std::to_string(client_direct) +
                   " server_direct=" + std::to_string(server_direct));
      Options c = Fast(), s = Fast();
      c.cipher_suites = {suite};
      c.direct_records = client_direct;
      s.direct_records = server_direct;
      Pair p(c, s);
      ASSERT_TRUE(p.Handshake());
      ExchangeBothWays(p, 40, 17);
      const Stats& cs = p.client.ep->stats();
      const Stats& ss = p.server.ep->stats();
      EXPECT_EQ(cs.direct_records_sealed > 0, client_direct);
      EXPECT_EQ(cs.direct_records_opened, client_direct ? 40u : 0u);
      EXPECT_EQ(ss.direct_records_opened, server_direct ? 40u : 0u);
      EXPECT_EQ(ss.direct_records_sealed > 0, server_direct);
      EXPECT_EQ(cs.direct_records_refused + ss.direct_records_refused, 0u);
      // Closing works across the mix too (close_notify sealed here, opened by OpenSSL).
      p.server.ep->Close(Now());
      ASSERT_TRUE(p.RunUntil([&] { return p.client.Find<Closed>() != nullptr; }));
      EXPECT_TRUE(p.client.Find<Closed>()->by_peer);
      EXPECT_EQ(p.client.Find<Failed>(), nullptr);
      EXPECT_EQ(p.server.Find<Failed>(), nullptr);
    }
  }
}

// GCM must never see a nonce twice under one key, and the peer's replay window must never see
// a sequence number twice: every epoch-1 record either side ever sent (OpenSSL's Finished,
// OpenSSL's application records before the server switches, ours after, close_notify) has the
// next sequence number and the next explicit nonce.
TEST(DtlsDirectRecords, SequenceNumbersAndNoncesContinueOpenSslsWithoutRepeats) {
  for (CipherSuite suite : AllCipherSuites()) {
    SCOPED_TRACE(ToString(suite));
    Options c = Fast();
    c.cipher_suites = {suite};
    Pair p(c, Fast());
    ASSERT_TRUE(p.Handshake());
    // The server writes before the client has sent anything: OpenSSL's record layer, since
    // the server cannot know yet that the client has its Finished.
    const std::vector<uint8_t> m(700, 3);
    for (int i = 0; i < 3; ++i)
      ASSERT_EQ(p.server.ep->Send(Now(), m), SendResult::kOk);
    ASSERT_TRUE(p.RunUntil([&] { return p.client.Received().size() == 3; }));
    EXPECT_EQ(p.server.ep->stats().direct_records_sealed, 0u);
    EXPECT_EQ(p.client.ep->stats().direct_records_opened, 3u);
    ExchangeBothWays(p, 30, 23);
    EXPECT_EQ(p.server.ep->stats().direct_records_sealed, 30u);
    p.client.ep->Close(Now());
    ASSERT_TRUE(p.RunUntil([&] { return p.server.Find<Closed>() != nullptr; }));
    for (Side* side : {&p.client, &p.server}) {
      SCOPED_TRACE(side == &p.client ? "client" : "server");
      std::vector<ParsedRecord> epoch1;
      for (auto& rec : RecordsOf(side->sent)) {
        if (rec.header.epoch == 1) epoch1.push_back(std::move(rec));
      }
      // Finished + records + close_notify (the client's 34 = Finished, 30, ... ; at least 32).
      ASSERT_GE(epoch1.size(), 32u);
      for (size_t i = 0; i < epoch1.size(); ++i) {
        EXPECT_EQ(epoch1[i].header.seq, i);  // 0 is the Finished, then one by one
        EXPECT_EQ(epoch1[i].header.version, kDtls12Version);
      }
      if (suite != CipherSuite::kEcdheEcdsaChacha20Poly1305) {
        // OpenSSL starts the explicit nonce at a random value and counts up; so do we.
        auto nonce = [](const ParsedRecord& r) {
          ByteReader rd(r.fragment);
          return rd.U64();
        };
        for (size_t i = 1; i < epoch1.size(); ++i)
          EXPECT_EQ(nonce(epoch1[i]), nonce(epoch1[0]) + i) << i;
      }
    }
    EXPECT_EQ(p.server.Find<Failed>(), nullptr);
  }
}

TEST(DtlsDirectRecords, ReplayedAndTamperedRecordsAreDroppedAndCounted) {
  Pair p(Fast(), Fast());
  ASSERT_TRUE(p.Handshake());
  const std::vector<uint8_t> m(600, 0x77);
  ASSERT_EQ(p.client.ep->Send(Now(), m), SendResult::kOk);
  auto out = p.Drain(p.client);
  ASSERT_EQ(out.size(), 1u);
  const std::vector<uint8_t> record = out[0];
  p.server.ep->HandleDatagram(Now(), record);
  p.server.ep->HandleDatagram(Now(), record);  // a replay
  std::vector<uint8_t> tampered = record;
  tampered[40] ^= 1;  // in the ciphertext
  p.server.ep->HandleDatagram(Now(), tampered);
  std::vector<uint8_t> wrong_version = record;
  wrong_version[2] = 0xFF;  // DTLS 1.0: authenticated data differs, and we only speak 1.2
  p.server.ep->HandleDatagram(Now(), wrong_version);
  std::vector<uint8_t> truncated(record.begin(), record.begin() + 30);
  p.server.ep->HandleDatagram(Now(), truncated);
  (void)p.Drain(p.server);
  ASSERT_EQ(p.server.Received().size(), 1u);
  EXPECT_EQ(p.server.Received()[0], m);
  EXPECT_EQ(p.server.ep->stats().direct_records_opened, 1u);
  EXPECT_EQ(p.server.ep->stats().direct_records_refused, 3u);  // the truncated one never parses
  EXPECT_EQ(p.server.ep->state(), State::kConnected);
  // Older records inside the window still arrive once (reordering is not replay).
  std::vector<std::vector<uint8_t>> later;
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(p.client.ep->Send(Now(), std::vector<uint8_t>(10, static_cast<uint8_t>(i))), SendResult::kOk);
  }
  later = p.Drain(p.client);
  ASSERT_EQ(later.size(), 5u);
  for (int i = 4; i >= 0; --i)
    p.server.ep->HandleDatagram(Now(), later[static_cast<size_t>(i)]);
  p.server.ep->HandleDatagram(Now(), later[2]);
  (void)p.Drain(p.server);
  EXPECT_EQ(p.server.Received().size(), 6u);
  EXPECT_EQ(p.server.ep->stats().direct_records_refused, 4u);
}

// Several records in one datagram (other stacks may pack them): ours are opened, and an alert
// behind them still reaches OpenSSL.
TEST(DtlsDirectRecords, RecordsPackedInOneDatagramAreAllRead) {
  Options plain = Fast();
  plain.direct_records = false;
  Pair p(plain, Fast());  // the server reads directly; the client is OpenSSL end to end
  ASSERT_TRUE(p.Handshake());
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(p.client.ep->Send(Now(), std::vector<uint8_t>(100, static_cast<uint8_t>(i))), SendResult::kOk);
  p.client.ep->Close(Now());
  auto out = p.Drain(p.client);
  ASSERT_EQ(out.size(), 4u);
  std::vector<uint8_t> packed;
  for (const auto& d : out)
    packed.insert(packed.end(), d.begin(), d.end());
  p.server.ep->HandleDatagram(Now(), packed);
  (void)p.Drain(p.server);
  ASSERT_EQ(p.server.Received().size(), 3u);
  EXPECT_EQ(p.server.Received()[2], std::vector<uint8_t>(100, 2));
  EXPECT_EQ(p.server.ep->stats().direct_records_opened, 3u);
  ASSERT_NE(p.server.Find<Closed>(), nullptr);
  EXPECT_TRUE(p.server.Find<Closed>()->by_peer);
}

// A record of an unknown content type cannot be authentic; OpenSSL 3.0 would fail the whole
// connection on it (found by the dtls_records fuzzer), so it is screened out and counted.
TEST(DtlsDirectRecords, UnknownContentTypeIsDroppedNotFatal) {
  Pair p(Fast(), Fast());
  ASSERT_TRUE(p.Handshake());
  // An empty application record (refused: too short), then one of type 0xe8 (a datagram whose
  // first byte is outside 20..63 would not be read as DTLS at all, RFC 7983).
  const std::vector<uint8_t> forged = {0x17, 0xfe, 0xfd, 0x00, 0x01, 0, 0, 0, 0, 0,    0x09, 0x00, 0x00, 0xe8,
                                       0xfe, 0xfd, 0x00, 0x01, 0,    0, 0, 0, 0, 0x46, 0x00, 0x01, 0x00};
  p.server.ep->HandleDatagram(Now(), forged);
  (void)p.Drain(p.server);
  EXPECT_EQ(p.server.ep->state(), State::kConnected);
  EXPECT_EQ(p.server.ep->stats().direct_records_refused, 1u);
  EXPECT_EQ(p.server.ep->stats().records_screened, 1u);
  ExchangeBothWays(p, 3, 51);
}

// Records of the current epoch that no key could have sealed: too short for the AEAD's tag (an
// OpenSSL 3.0 "internal error" that fails the connection, found by the dtls_records fuzzer),
// longer than RFC 6347 allows, or of any type with a forged tag. Whoever can spoof a datagram
// must not end the connection with one, on either record path, under any suite, at any
// epoch-1 sequence number.
TEST(DtlsEndpoint, ForgedRecordsOfTheCurrentEpochAreDroppedNotFatal) {
  for (CipherSuite suite : AllCipherSuites()) {
    for (bool direct : {true, false}) {
      SCOPED_TRACE(std::string(ToString(suite)) + " direct=" + std::to_string(direct));
      Options o = Fast();
      o.cipher_suites = {suite};
      o.direct_records = direct;
      Pair p(o, o);
      ASSERT_TRUE(p.Handshake());
      ExchangeBothWays(p, 1, 60);  // the server's direct path has switched to sealing too
      SeededRng r(61);
      auto record = [&](uint8_t type, uint16_t epoch, uint64_t seq, size_t length) {
        std::vector<uint8_t> rec = {type, 0xfe, 0xfd, static_cast<uint8_t>(epoch >> 8), static_cast<uint8_t>(epoch)};
        for (int shift = 40; shift >= 0; shift -= 8)
          rec.push_back(static_cast<uint8_t>(seq >> shift));
        rec.push_back(static_cast<uint8_t>(length >> 8));
        rec.push_back(static_cast<uint8_t>(length));
        const size_t body = rec.size();
        rec.resize(body + length);
        r.Fill(std::span<uint8_t>(rec.data() + body, length));
        if (length == 2) rec[body] = 2;  // a "fatal" alert level, for what it is worth
        return rec;
      };
      for (Side* to : {&p.server, &p.client}) {
        for (uint8_t type : {20, 21, 22, 23}) {
          for (size_t length : {0, 1, 2, 8, 15, 16, 17, 23, 24, 25, 40, 16384 + 2048 + 1}) {
            for (uint64_t seq : {uint64_t{0}, uint64_t{5}, uint64_t{0x00000a000009}}) {
              to->ep->HandleDatagram(Now(), record(type, 1, seq, length));
              (void)p.Drain(*to);
              ASSERT_EQ(to->ep->state(), State::kConnected)
                  << "type " << int(type) << " length " << length << " seq " << seq;
            }
          }
        }
        // OpenSSL skips only the header of a record whose length runs past its read buffer,
        // and reads what follows as more records: a forged record of an unknown type hidden
        // there fails the connection (found by the dtls_records fuzzer; the two "longer" cases
        // fail without screening, cut short by the datagram or not). Records cut short and
        // versions other than DTLS 1.2 are screened out too.
        const std::vector<uint8_t> hidden = record(0xe8, 1, 70, 1);
        auto around = [&](uint16_t version, size_t length, size_t pad) {
          std::vector<uint8_t> d = record(23, 1, 71, 0);
          d[1] = static_cast<uint8_t>(version >> 8);
          d[2] = static_cast<uint8_t>(version);
          d[11] = static_cast<uint8_t>(length >> 8);
          d[12] = static_cast<uint8_t>(length);
          d.insert(d.end(), hidden.begin(), hidden.end());
          d.resize(d.size() + pad, 0x2b);
          return d;
        };
        const std::vector<std::pair<const char*, std::vector<uint8_t>>> misframed = {
            {"longer than OpenSSL's buffer, cut short", around(0xfefd, 0xf600, 13)},
            {"longer than OpenSSL's buffer, whole", around(0xfefd, 18000, 18000 - hidden.size())},
            {"cut short", around(0xfefd, 2000, 13)},
            {"version 1.1", around(0xfefd ^ 0x0101, hidden.size(), 0)},
            {"version 1.0", around(0xfeff, hidden.size(), 0)},
        };
        for (const auto& [what, d] : misframed) {
          to->ep->HandleDatagram(Now(), d);
          (void)p.Drain(*to);
          ASSERT_EQ(to->ep->state(), State::kConnected) << what;
        }
        // Two forged records packed in front of a real exchange's datagram change nothing.
        auto two = record(21, 1, 7, 2);
        auto more = record(23, 1, 8, 20);
        two.insert(two.end(), more.begin(), more.end());
        to->ep->HandleDatagram(Now(), two);
        (void)p.Drain(*to);
        ASSERT_EQ(to->ep->state(), State::kConnected);
      }
      EXPECT_TRUE(p.client.Find<Failed>() == nullptr && p.server.Find<Failed>() == nullptr);
      ExchangeBothWays(p, 3, 62);
    }
  }
}

// Order inside a datagram is kept: data packed behind a close_notify is not delivered.
TEST(DtlsDirectRecords, DataPackedBehindCloseNotifyIsNotDelivered) {
  Options plain = Fast();
  plain.direct_records = false;
  Pair p(plain, Fast());
  ASSERT_TRUE(p.Handshake());
  for (int i = 0; i < 2; ++i)
    ASSERT_EQ(p.client.ep->Send(Now(), std::vector<uint8_t>(50, static_cast<uint8_t>(i))), SendResult::kOk);
  p.client.ep->Close(Now());
  auto out = p.Drain(p.client);
  ASSERT_EQ(out.size(), 3u);  // record 0, record 1, close_notify
  std::vector<uint8_t> packed = out[0];
  packed.insert(packed.end(), out[2].begin(), out[2].end());
  packed.insert(packed.end(), out[1].begin(), out[1].end());
  p.server.ep->HandleDatagram(Now(), packed);
  (void)p.Drain(p.server);
  ASSERT_EQ(p.server.Received().size(), 1u);
  EXPECT_EQ(p.server.Received()[0], std::vector<uint8_t>(50, 0));
  ASSERT_NE(p.server.Find<Closed>(), nullptr);
  EXPECT_TRUE(p.server.Find<Closed>()->by_peer);
}

// The handshake of the tests below: the server's last flight (ChangeCipherSpec + Finished) is
// lost, and the client's first retransmission of Certificate .. Finished is kept in `held`
// instead of delivered; its second retransmission completes the handshake.
void LoseServerFinishedAndHoldClientRetransmission(Pair& p, std::vector<uint8_t>& held) {
  p.drop = [&held](bool from_client, size_t i, const std::vector<uint8_t>& d) {
    if (!from_client) return i == 1;
    if (i == 2) {
      held = d;
      return true;
    }
    return false;
  };
}

// Once the server has switched, a late retransmission of the client's last flight makes
// OpenSSL retransmit its own in epoch 1, with sequence numbers and nonces that are now ours:
// it must not be sent. The server's last flight is lost, the client's first retransmission is
// held back, its second gets the handshake done; the held one arrives after the switch.
TEST(DtlsDirectRecords, OpenSslWritesAfterTheSwitchAreSuppressed) {
  Pair p(Fast(), Fast());
  std::vector<uint8_t> held;
  LoseServerFinishedAndHoldClientRetransmission(p, held);
  ASSERT_TRUE(p.Handshake());
  ASSERT_FALSE(held.empty());
  EXPECT_GE(p.client.ep->stats().handshake_timeouts, 2u);
  // The client's first application record switches the server to sealing; the held flight is
  // packed behind it, so OpenSSL still reads it (it is freed only after the datagram).
  ASSERT_EQ(p.client.ep->Send(Now(), std::vector<uint8_t>(100, 5)), SendResult::kOk);
  std::vector<std::vector<uint8_t>> first = p.Drain(p.client);
  ASSERT_EQ(first.size(), 1u);
  std::vector<uint8_t> packed = first[0];
  packed.insert(packed.end(), held.begin(), held.end());
  const size_t sent_before = p.server.sent.size();
  p.server.ep->HandleDatagram(Now(), packed);
  (void)p.Drain(p.server);
  EXPECT_EQ(p.server.sent.size(), sent_before);
  EXPECT_GE(p.server.ep->stats().openssl_writes_suppressed, 1u);
  EXPECT_TRUE(p.server.ep->stats().openssl_released);
  ASSERT_EQ(p.server.Received().size(), 1u);
  // Once OpenSSL is freed, the same flight again is dropped and counted, and nothing is sent.
  p.server.ep->HandleDatagram(Now(), held);
  (void)p.Drain(p.server);
  EXPECT_EQ(p.server.sent.size(), sent_before);
  EXPECT_GE(p.server.ep->stats().records_ignored, 1u);
  ExchangeBothWays(p, 5, 37);  // still fine both ways
  EXPECT_EQ(p.client.ep->stats().direct_records_refused, 0u);
  EXPECT_EQ(p.server.Find<Failed>(), nullptr);
}

// Once both directions are direct, OpenSSL's SSL object (with its handshake buffer, session and
// the peer's certificate) is freed: on the client at once, on the server when the client's first
// record shows it has the server's Finished. Data still flows both ways, an idle release still
// frees the cipher contexts, and close_notify, now read here, still closes both sides.
TEST(DtlsDirectRecords, OpenSslIsFreedOnceBothDirectionsAreDirect) {
  for (CipherSuite suite : AllCipherSuites()) {
    for (bool client_closes : {true, false}) {
      SCOPED_TRACE(std::string(ToString(suite)) + " client_closes=" + std::to_string(client_closes));
      Options o = Fast();
      o.cipher_suites = {suite};
      o.idle_buffer_release = Duration::Millis(20);
      Pair p(o, o);
      ASSERT_TRUE(p.Handshake());
      EXPECT_TRUE(p.client.ep->stats().openssl_released);
      EXPECT_FALSE(p.server.ep->stats().openssl_released);
      ExchangeBothWays(p, 10, 71);
      EXPECT_TRUE(p.server.ep->stats().openssl_released);
      const uint64_t releases = p.server.ep->stats().buffer_releases;
      ASSERT_TRUE(p.RunUntil([&] { return p.server.ep->stats().buffer_releases > releases; }));
      ExchangeBothWays(p, 10, 73);
      Side& closer = client_closes ? p.client : p.server;
      Side& other = client_closes ? p.server : p.client;
      closer.ep->Close(Now());
      ASSERT_TRUE(p.RunUntil([&] { return other.Find<Closed>() != nullptr; }));
      EXPECT_TRUE(other.Find<Closed>()->by_peer);
      EXPECT_EQ(other.Find<Closed>()->reason, "the peer sent close_notify");
      EXPECT_EQ(closer.ep->state(), State::kClosed);
      EXPECT_EQ(other.ep->state(), State::kClosed);
      EXPECT_EQ(p.client.Find<Failed>(), nullptr);
      EXPECT_EQ(p.server.Find<Failed>(), nullptr);
    }
  }
}

// With the client freed at once and the server on OpenSSL's record layer (direct_records off),
// a late retransmission of the client's last flight makes the server's OpenSSL resend its own;
// the client, which has nothing left to do with it, drops it and carries on. (As in the test
// above: the server's last flight is lost and the client's first retransmission held back.)
TEST(DtlsDirectRecords, AFreedEndpointIgnoresALateHandshakeFlight) {
  Options plain = Fast();
  plain.direct_records = false;
  Pair p(Fast(), plain);
  std::vector<uint8_t> held;
  LoseServerFinishedAndHoldClientRetransmission(p, held);
  ASSERT_TRUE(p.Handshake());
  ASSERT_FALSE(held.empty());
  p.drop = nullptr;
  ASSERT_TRUE(p.client.ep->stats().openssl_released);
  const size_t server_sent = p.server.sent.size();
  p.server.ep->HandleDatagram(Now(), held);
  auto resent = p.Drain(p.server);
  ASSERT_GT(p.server.sent.size(), server_sent) << "the server's OpenSSL did not resend its flight";
  p.Deliver(false, std::move(resent));
  (void)p.Drain(p.client);
  EXPECT_GE(p.client.ep->stats().records_ignored, 1u);
  EXPECT_EQ(p.client.ep->state(), State::kConnected);
  ExchangeBothWays(p, 5, 79);
}

TEST(DtlsDirectRecords, AlertsReadWithoutOpenSsl) {
  using V = std::vector<uint8_t>;
  EXPECT_EQ(ActionForAlert(V{1, 0}), AlertAction::kClose);
  EXPECT_EQ(ActionForAlert(V{2, 0}), AlertAction::kClose);
  EXPECT_EQ(ActionForAlert(V{2, 40}), AlertAction::kFail);     // handshake_failure
  EXPECT_EQ(ActionForAlert(V{1, 100}), AlertAction::kIgnore);  // no_renegotiation, a warning
  EXPECT_EQ(ActionForAlert(V{}), AlertAction::kMalformed);
  EXPECT_EQ(ActionForAlert(V{2}), AlertAction::kMalformed);
  EXPECT_EQ(ActionForAlert(V{1, 0, 0}), AlertAction::kMalformed);
}

// An idle connection frees the cipher contexts with OpenSSL's buffers, and the next record
// builds them again from the kept keys.
TEST(DtlsDirectRecords, ContextsAreReleasedWhenIdleAndRebuilt) {
  Options o = Fast();
  o.idle_buffer_release = Duration::Millis(20);
  Pair p(o, o);
  ASSERT_TRUE(p.Handshake());
  ExchangeBothWays(p, 5, 41);
  const uint64_t releases = p.client.ep->stats().buffer_releases;
  ASSERT_TRUE(p.RunUntil([&] { return p.client.ep->stats().buffer_releases > releases; }));
  ExchangeBothWays(p, 5, 43);
  EXPECT_EQ(p.client.ep->stats().direct_records_opened, 10u);
  EXPECT_EQ(p.server.ep->stats().direct_records_opened, 10u);
}

TEST(DtlsCertificate, PemRoundTripKeepsTheFingerprint) {
  auto cert = MakeCert(5);
  const std::string pem = cert->ToPem();
  EXPECT_NE(pem.find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
  auto back = Certificate::FromPem(pem);
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ((*back)->GetFingerprint(), cert->GetFingerprint());
  EXPECT_EQ((*back)->ToPem(), pem);
  EXPECT_NE(MakeCert(6)->GetFingerprint(), cert->GetFingerprint());
  EXPECT_EQ(cert->GetFingerprint().ToString().rfind("sha-256 ", 0), 0u);
  EXPECT_EQ(cert->GetFingerprint(HashFunction::kSha1).digest.size(), 20u);
}

TEST(DtlsCertificate, BadPemIsAnErrorNotACrash) {
  auto none = Certificate::FromPem("not a pem");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().find("no PEM private key"), std::string::npos) << none.error();
  // A key with somebody else's certificate.
  std::string a = MakeCert(1)->ToPem(), b = MakeCert(2)->ToPem();
  std::string mixed =
      a.substr(0, a.find("-----BEGIN CERTIFICATE-----")) + b.substr(b.find("-----BEGIN CERTIFICATE-----"));
  auto bad = Certificate::FromPem(mixed);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("does not match"), std::string::npos) << bad.error();
}

}  // namespace
}  // namespace peerlink::dtls
