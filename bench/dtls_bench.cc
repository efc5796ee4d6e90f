// DTLS record throughput on one core: a client and a server Endpoint connected in memory; each
// iteration encrypts one application record on the client (Send + PollOutput) and decrypts it on
// the server (HandleDatagram + PollOutput). bytes_per_second is application payload through
// encrypt + decrypt. Sizes: 1 KiB and 1100 bytes (an SCTP packet under a 1200-byte MTU).
// direct:1 seals and opens records with OpenSSL's AEAD directly (Options::direct_records, the
// default), direct:0 through OpenSSL's DTLS record layer (SSL_write / SSL_read); both in the
// same run. Buffers go back to the endpoints (RecycleBuffer), as src/peer does.
#include <benchmark/benchmark.h>

#include <chrono>
#include <memory>
#include <vector>

#include "src/dtls/endpoint.h"

namespace {
using namespace peerlink;
using namespace peerlink::dtls;

Instant Now() {
  return Instant::FromNanos(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

struct Connected {
  SeededRng rng{1};
  std::shared_ptr<const Certificate> client_cert, server_cert;
  std::unique_ptr<Endpoint> client, server;

  Connected(CipherSuite suite, bool direct) {
    // Key generation is not part of either measurement: one certificate pair for the process.
    static const auto kCerts = [] {
      SeededRng r1(1), r2(2);
      return std::make_pair(*Certificate::Generate(r1), *Certificate::Generate(r2));
    }();
    client_cert = kCerts.first;
    server_cert = kCerts.second;
    Options c, s;
    c.role = Role::kClient;
    s.role = Role::kServer;
    c.cipher_suites = {suite};
    c.direct_records = direct;
    s.direct_records = direct;
    c.expected_remote = {server_cert->GetFingerprint()};
    s.expected_remote = {client_cert->GetFingerprint()};
    client = std::make_unique<Endpoint>(c, client_cert, rng);
    server = std::make_unique<Endpoint>(s, server_cert, rng);
    client->Start(Now());
    for (int round = 0; round < 20; ++round) {
      Pump(*client, *server);
      Pump(*server, *client);
    }
  }
  static void Pump(Endpoint& from, Endpoint& to) {
    for (;;) {
      Output o = from.PollOutput(Now());
      if (auto* t = std::get_if<Transmit>(&o)) {
        to.HandleDatagram(Now(), t->datagram);
      } else if (std::holds_alternative<Deadline>(o)) {
        return;
      }
    }
  }
  bool ok() const { return client->state() == State::kConnected && server->state() == State::kConnected; }
};

void BM_DtlsRecord(benchmark::State& state) {
  const auto suite = static_cast<CipherSuite>(state.range(0));
  const size_t size = static_cast<size_t>(state.range(1));
  Connected pair(suite, state.range(2) != 0);
  if (!pair.ok()) {
    state.SkipWithError("handshake failed");
    return;
  }
  const std::vector<uint8_t> payload(size, 0xa5);
  const Instant now = Now();  // record protection does not look at time
  size_t delivered = 0;
  for (auto _ : state) {
    if (pair.client->Send(now, payload) != SendResult::kOk) {
      state.SkipWithError("Send failed");
      return;
    }
    Output o = pair.client->PollOutput(now);
    auto* t = std::get_if<Transmit>(&o);
    pair.server->HandleDatagram(now, t->datagram);
    pair.client->RecycleBuffer(std::move(t->datagram));
    Output e = pair.server->PollOutput(now);
    if (auto* ev = std::get_if<Event>(&e)) {
      if (auto* d = std::get_if<ApplicationData>(ev)) {
        delivered += d->data.size();
        benchmark::DoNotOptimize(d->data.data());
        pair.server->RecycleBuffer(std::move(d->data));
      }
    }
  }
  if (delivered != size * state.iterations()) state.SkipWithError("records were lost in memory");
  state.SetBytesProcessed(static_cast<int64_t>(delivered));
  state.SetLabel(std::string(ToString(suite)) + (state.range(2) != 0 ? " direct" : " openssl"));
}

BENCHMARK(BM_DtlsRecord)
    ->ArgNames({"suite", "bytes", "direct"})
    ->ArgsProduct({{static_cast<int>(CipherSuite::kEcdheEcdsaAes128Gcm)}, {1024, 1100}, {1, 0}})
    ->ArgsProduct({{static_cast<int>(CipherSuite::kEcdheEcdsaChacha20Poly1305)}, {1024, 1100}, {1, 0}})
    ->ArgsProduct({{static_cast<int>(CipherSuite::kEcdheEcdsaAes256Gcm)}, {1100}, {1, 0}});

// The full in-memory handshake (both sides, key generation excluded: certificates are reused).
void BM_DtlsHandshake(benchmark::State& state) {
  for (auto _ : state) {
    Connected pair(CipherSuite::kEcdheEcdsaAes128Gcm, true);
    if (!pair.ok()) {
      state.SkipWithError("handshake failed");
      return;
    }
  }
}
BENCHMARK(BM_DtlsHandshake)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
