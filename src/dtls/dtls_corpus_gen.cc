// One-off generator for fuzz/corpus/dtls_endpoint/ and fuzz/corpus/dtls_fingerprint/: runs a
// real in-memory handshake and writes the flights in endpoint_fuzz.cc's input format.
//
//   dtls_corpus_gen OUT_DIR_ENDPOINT OUT_DIR_FINGERPRINT
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "src/dtls/endpoint.h"

using namespace peerlink;
using namespace peerlink::dtls;

namespace {

using Bytes = std::vector<uint8_t>;

std::vector<Bytes> Drain(Endpoint& ep, Instant now) {
  std::vector<Bytes> out;
  for (int i = 0; i < 1000; ++i) {
    Output o = ep.PollOutput(now);
    if (auto* t = std::get_if<Transmit>(&o)) out.push_back(std::move(t->datagram));
    if (std::holds_alternative<Deadline>(o)) break;
  }
  return out;
}

void AppendDatagram(Bytes& file, const Bytes& d) {
  file.push_back(0x00);
  file.push_back(static_cast<uint8_t>(d.size() >> 8));
  file.push_back(static_cast<uint8_t>(d.size()));
  file.insert(file.end(), d.begin(), d.end());
}

bool Write(const std::string& path, const Bytes& b) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  return static_cast<bool>(f);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: dtls_corpus_gen OUT_DIR_ENDPOINT OUT_DIR_FINGERPRINT\n");
    return 2;
  }
  const std::string dir = argv[1], fp_dir = argv[2];
  SeededRng rng(1);
  // The fuzzer's own certificates (seeds 1 and 2), so captured flights carry the certificate
  // the fuzzed endpoint expects and get further.
  SeededRng r1(1), r2(2);
  auto fuzz_local = *Certificate::Generate(r1);
  auto fuzz_remote = *Certificate::Generate(r2);
  bool ok = true;
  for (size_t mtu : {size_t{1200}, size_t{300}}) {
    for (CipherSuite suite : {CipherSuite::kEcdheEcdsaAes128Gcm, CipherSuite::kEcdheEcdsaChacha20Poly1305}) {
      Options c, s;
      c.role = Role::kClient;
      s.role = Role::kServer;
      c.mtu = s.mtu = mtu;
      c.cipher_suites = {suite};
      c.expected_remote = {fuzz_local->GetFingerprint()};
      s.expected_remote = {fuzz_remote->GetFingerprint()};
      Endpoint client(c, fuzz_remote, rng);  // plays the fuzzer's remote peer
      Endpoint server(s, fuzz_local, rng);
      Instant now = Instant::FromNanos(1000000000);
      client.Start(now);
      Bytes to_server{0x00}, to_client{0x01};
      std::vector<Bytes> flight = Drain(client, now);
      for (int round = 0; round < 10 && !flight.empty(); ++round) {
        for (const auto& d : flight) {
          AppendDatagram(to_server, d);
          server.HandleDatagram(now, d);
        }
        std::vector<Bytes> back = Drain(server, now);
        for (const auto& d : back) {
          AppendDatagram(to_client, d);
          client.HandleDatagram(now, d);
        }
        flight = Drain(client, now);
      }
      // Application data and close_notify once connected, then a timeout op.
      if (client.state() == State::kConnected) {
        (void)client.Send(now, std::vector<uint8_t>(100, 0x61));
        client.Close(now);
        for (const auto& d : Drain(client, now))
          AppendDatagram(to_server, d);
      }
      to_server.push_back(0x80);
      const std::string tag = std::string(mtu == 1200 ? "mtu1200" : "mtu300") + "_" +
                              (suite == CipherSuite::kEcdheEcdsaAes128Gcm ? "aes128gcm" : "chacha20");
      ok &= Write(dir + "/server_handshake_" + tag, to_server);
      ok &= Write(dir + "/client_handshake_" + tag, to_client);
      // The ClientHello alone (the first datagram op).
      Bytes hello{0x00};
      AppendDatagram(hello, Bytes(to_server.begin() + 4, to_server.begin() + 4 + ((to_server[2] << 8) | to_server[3])));
      ok &= Write(dir + "/server_clienthello_" + tag, hello);
    }
  }
  int i = 0;
  for (HashFunction h : {HashFunction::kSha1, HashFunction::kSha224, HashFunction::kSha256, HashFunction::kSha384,
                         HashFunction::kSha512}) {
    const std::string text = fuzz_local->GetFingerprint(h).ToString();
    ok &= Write(fp_dir + "/" + std::string(ToString(h)), Bytes(text.begin(), text.end()));
    ++i;
  }
  std::fprintf(stderr, "dtls_corpus_gen: %s\n", ok ? "written" : "write failed");
  return ok ? 0 : 1;
}
