// DTLS + SCTP data path in memory, one core: two peerlink::dtls::Endpoint
// handshaken back to back, each carrying one sctp::Association; every SCTP
// packet is one DTLS application record (RFC 8261). 64 KiB messages over a
// 1200-byte UDP MTU (the SCTP packet is whatever the negotiated suite leaves
// of it). Prints JSON: MB/s of user data by wall clock and by CPU time (the
// machine may be shared), CPU ns per DTLS datagram, and the negotiated cipher.
//
// Time is the real monotonic clock: OpenSSL's DTLS timer reads it anyway, and
// the SCTP pacer and delayed-ack timers are served from it here.
//
// Each message is built in sctp::Association::TakeMessageBuffer and delivered ones
// are handed back (RecycleMessageBuffer), as src/peer does; --no-message-pool
// copies into a fresh vector and drops delivered messages instead.
//
//   dtls_sctp_bench [--quick] [--no-message-pool] [--out FILE] [--suite aes128gcm|aes256gcm|chacha20]
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "src/base/check.h"
#include "src/dtls/endpoint.h"
#include "src/sctp/association.h"
#include "tests/util/alloc_counter.h"

using namespace peerlink;

namespace {

bool g_message_pool = true;

Instant Now() {
  return Instant::FromNanos(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

struct Side {
  std::unique_ptr<dtls::Endpoint> dtls;
  std::unique_ptr<sctp::Association> sctp;
  bool dtls_connected = false, sctp_connected = false, failed = false;
  std::string cipher;
  uint64_t messages = 0, bytes = 0;
  uint64_t datagrams = 0;
};

class Bench {
 public:
  explicit Bench(dtls::CipherSuite suite) : rng_a_(11), rng_b_(12) {
    SeededRng r1(1), r2(2);
    auto cert_a = *dtls::Certificate::Generate(r1);
    auto cert_b = *dtls::Certificate::Generate(r2);
    dtls::Options ca, cb;
    ca.role = dtls::Role::kClient;
    cb.role = dtls::Role::kServer;
    ca.cipher_suites = {suite};
    ca.expected_remote = {cert_b->GetFingerprint()};
    cb.expected_remote = {cert_a->GetFingerprint()};
    a_.dtls = std::make_unique<dtls::Endpoint>(ca, cert_a, rng_a_);
    b_.dtls = std::make_unique<dtls::Endpoint>(cb, cert_b, rng_b_);
  }

  // DTLS handshake, then the SCTP association over it. Bounded in rounds.
  bool Connect() {
    a_.dtls->Start(Now());
    for (int round = 0; round < 50 && !(a_.dtls_connected && b_.dtls_connected); ++round) {
      now_ = Now();
      DrainDtls(a_, b_);
      DrainDtls(b_, a_);
    }
    if (!a_.dtls_connected || !b_.dtls_connected) return false;
    sctp::Options o;
    o.enable_heartbeat = false;
    // The SCTP packet is one record: what the suite leaves of the 1200-byte UDP payload.
    o.mtu = a_.dtls->max_application_payload();
    sctp_mtu_ = o.mtu;
    a_.sctp = std::make_unique<sctp::Association>(o, rng_a_, Now());
    b_.sctp = std::make_unique<sctp::Association>(o, rng_b_, Now());
    a_.sctp->Connect(Now());
    for (int round = 0; round < 1000 && !(a_.sctp_connected && b_.sctp_connected); ++round) {
      Exchange();
      Timers();
    }
    return a_.sctp_connected && b_.sctp_connected && !a_.failed && !b_.failed;
  }

  // Delivers until both sides are quiet; the clock is read once per round.
  void Exchange() {
    for (int round = 0; round < 100000; ++round) {
      now_ = Now();
      bool moved = DrainSctp(a_, b_);
      moved |= DrainSctp(b_, a_);
      if (!moved) return;
    }
  }
  void Timers() {
    Instant now = Now();
    a_.sctp->HandleTimeout(now);
    b_.sctp->HandleTimeout(now);
  }

  Side& a() { return a_; }
  Side& b() { return b_; }
  size_t sctp_mtu() const { return sctp_mtu_; }

 private:
  // SCTP packets out of `s` -> DTLS records -> the peer.
  bool DrainSctp(Side& s, Side& peer) {
    bool moved = false;
    for (int i = 0; i < 1000000; ++i) {
      sctp::Output o = s.sctp->PollOutput(now_);
      if (auto* t = std::get_if<sctp::Transmit>(&o)) {
        if (s.dtls->Send(now_, t->packet) != dtls::SendResult::kOk) s.failed = true;
        s.sctp->RecycleBuffer(std::move(t->packet));
        DrainDtls(s, peer);
        moved = true;
      } else if (auto* e = std::get_if<sctp::Event>(&o)) {
        if (std::holds_alternative<sctp::Connected>(*e)) s.sctp_connected = true;
        if (std::holds_alternative<sctp::Closed>(*e)) s.failed = true;
        if (auto* m = std::get_if<sctp::MessageReceived>(e)) {
          s.messages++;
          s.bytes += m->payload.size();
          if (g_message_pool) s.sctp->RecycleMessageBuffer(std::move(m->payload));
        }
      } else {
        break;
      }
    }
    return moved;
  }

  // DTLS datagrams out of `s` go to the peer's endpoint at once (so its
  // event queue never overflows); records `s` decrypted go to its SCTP.
  void DrainDtls(Side& s, Side& peer) {
    for (int i = 0; i < 1000000; ++i) {
      dtls::Output o = s.dtls->PollOutput(now_);
      if (auto* t = std::get_if<dtls::Transmit>(&o)) {
        s.datagrams++;
        peer.dtls->HandleDatagram(now_, t->datagram);
        s.dtls->RecycleBuffer(std::move(t->datagram));
        if (peer.dtls_connected) DrainDtls(peer, s);
      } else if (auto* e = std::get_if<dtls::Event>(&o)) {
        if (auto* c = std::get_if<dtls::Connected>(e)) {
          s.dtls_connected = true;
          s.cipher = c->cipher;
        } else if (auto* d = std::get_if<dtls::ApplicationData>(e)) {
          if (s.sctp) s.sctp->HandlePacket(now_, d->data);
          s.dtls->RecycleBuffer(std::move(d->data));
        } else {
          s.failed = true;
        }
      } else {
        break;
      }
    }
  }

  SeededRng rng_a_, rng_b_;
  Instant now_;
  Side a_, b_;
  size_t sctp_mtu_ = 0;
};

struct RunResult {
  bool ok = false;
  std::string cipher;
  size_t sctp_mtu = 0;
  double mb_per_s = 0, cpu_mb_per_s = 0, ns_per_datagram = 0, allocs_per_datagram = 0;
  uint64_t datagrams = 0, messages = 0;
};

RunResult Run(dtls::CipherSuite suite, size_t total_bytes) {
  RunResult r;
  Bench bench(suite);
  if (!bench.Connect()) return r;
  const size_t kMessage = 64 * 1024;
  std::vector<uint8_t> message(kMessage, 0x5A);
  const uint64_t to_send = total_bytes / kMessage;
  uint64_t sent = 0;
  uint64_t datagrams_before = bench.a().datagrams + bench.b().datagrams;
  uint64_t allocs_before = peerlink::testing::AllocationCount();
  double cpu_start = bench::ProcessCpuSeconds();
  auto start = std::chrono::steady_clock::now();
  // Bounded: every round either delivers or waits for a timer of at most RTO.
  for (int round = 0; round < 10'000'000 && bench.b().messages < to_send; ++round) {
    while (sent < to_send && bench.a().sctp->total_buffered_amount() < 2 * 1024 * 1024) {
      // As src/peer does: the copy of the application's bytes goes into a finished message's block.
      std::vector<uint8_t> payload =
          g_message_pool ? bench.a().sctp->TakeMessageBuffer(kMessage) : std::vector<uint8_t>();
      payload.assign(message.begin(), message.end());
      if (bench.a().sctp->Send(Now(), sctp::StreamId(1), sctp::kPpidBinary, std::move(payload)) !=
          sctp::SendStatus::kOk)
        break;
      ++sent;
    }
    bench.Exchange();
    bench.Timers();
    if (bench.a().failed || bench.b().failed) return r;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double cpu_secs = bench::ProcessCpuSeconds() - cpu_start;
  r.ok = bench.b().messages == to_send && bench.b().bytes == to_send * kMessage;
  r.cipher = bench.a().cipher;
  r.sctp_mtu = bench.sctp_mtu();
  r.messages = bench.b().messages;
  r.datagrams = bench.a().datagrams + bench.b().datagrams - datagrams_before;
  r.mb_per_s = static_cast<double>(bench.b().bytes) / secs / 1e6;
  r.cpu_mb_per_s = static_cast<double>(bench.b().bytes) / cpu_secs / 1e6;
  r.ns_per_datagram = cpu_secs * 1e9 / static_cast<double>(r.datagrams);
  r.allocs_per_datagram =
      static_cast<double>(peerlink::testing::AllocationCount() - allocs_before) / static_cast<double>(r.datagrams);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv, "[--quick] [--no-message-pool] [--suite aes128gcm|aes256gcm|chacha20] [--out FILE]");
  const bool quick = args.Flag("--quick");
  g_message_pool = !args.Flag("--no-message-pool");
  const std::optional<std::string> suite_name = args.Value("--suite");
  const std::optional<std::string> out_file = args.Value("--out");
  args.Finish();
  dtls::CipherSuite suite = dtls::CipherSuite::kEcdheEcdsaAes128Gcm;
  if (suite_name == "aes256gcm")
    suite = dtls::CipherSuite::kEcdheEcdsaAes256Gcm;
  else if (suite_name == "chacha20")
    suite = dtls::CipherSuite::kEcdheEcdsaChacha20Poly1305;
  else if (suite_name && suite_name != "aes128gcm")
    args.Fail("unknown suite '" + *suite_name + "'");
  RunResult r = Run(suite, quick ? 8u << 20 : 256u << 20);
  char buf[1024];
  std::snprintf(
      buf, sizeof(buf),
      "{\n  %s,\n  \"dtls_sctp_in_memory\": [\n"
      "    {\"ok\": %s, \"cipher\": \"%s\", \"udp_mtu\": 1200, \"sctp_packet\": %zu, \"message_bytes\": 65536, "
      "\"MB_per_s\": %.1f, \"cpu_MB_per_s\": %.1f, \"ns_per_datagram\": %.1f, \"allocs_per_datagram\": %.2f, "
      "\"datagrams\": %llu, \"messages\": %llu}\n  ]\n}\n",
      bench::RunConditionsJson(g_message_pool).c_str(), r.ok ? "true" : "false", r.cipher.c_str(), r.sctp_mtu,
      r.mb_per_s, r.cpu_mb_per_s, r.ns_per_datagram, r.allocs_per_datagram,
      static_cast<unsigned long long>(r.datagrams), static_cast<unsigned long long>(r.messages));
  bench::EmitJson(buf, out_file);
  return r.ok ? 0 : 1;
}
