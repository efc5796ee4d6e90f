// pl_dtls_peer: one DTLS endpoint on a real UDP socket, driven by a poll() loop and the real
// monotonic clock, for tests/netns/dtls_suite.py.
//
//   pl_dtls_peer gen-cert FILE
//       writes a fresh certificate + key (PEM) and prints its SDP fingerprint
//   pl_dtls_peer client|server --cert FILE --expect "sha-256 AB:.." --bind IP:PORT
//       [--peer IP:PORT (client)] [--records N] [--seed S] [--timeout S] [--mtu B]
//       [--initial-rto-ms MS] [--app-rto-ms MS] [--window N] [--close-notify 0|1]
//
// Application protocol (DTLS does not retransmit application data, so the test does): the
// client sends N records 'D' seq:u32 payload (random sizes up to the largest that fits one
// datagram) with a sliding window and retransmission on a timer; the server answers each with
// 'A' seq:u32. When all are acknowledged the client sends 'F' sha256(payloads in order)
// count:u32 until the server answers 'R' ok:u8, having compared that digest with its own over
// what arrived. Both print one JSON result line on stdout and exit 0 only on success.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "src/base/crypto.h"
#include "src/dtls/endpoint.h"

using namespace peerlink;
using namespace peerlink::dtls;

namespace {

using Bytes = std::vector<uint8_t>;

Instant Now() {
  return Instant::FromNanos(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

bool ParseAddr(const std::string& s, sockaddr_in& out) {
  const size_t colon = s.rfind(':');
  if (colon == std::string::npos) return false;
  std::memset(&out, 0, sizeof out);
  out.sin_family = AF_INET;
  out.sin_port = htons(static_cast<uint16_t>(std::stoi(s.substr(colon + 1))));
  return inet_pton(AF_INET, s.substr(0, colon).c_str(), &out.sin_addr) == 1;
}

void PutU32(Bytes& b, uint32_t v) {
  for (int i = 3; i >= 0; --i)
    b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint32_t GetU32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

struct Args {
  std::string role;
  std::string cert, expect, bind, peer;
  uint32_t records = 1000;
  uint64_t seed = 1;
  double timeout_s = 60;
  size_t mtu = 1200;
  int64_t initial_rto_ms = 100;
  int64_t app_rto_ms = 400;
  uint32_t window = 128;
  bool close_notify = true;  // client: 0 ends without close_notify, as if it were lost
};

class Peer {
 public:
  Peer(const Args& a, std::shared_ptr<const Certificate> cert, Options opts)
      : args_(a), ep_(opts, std::move(cert), rng_) {}

  int Run(int fd, std::optional<sockaddr_in> peer) {
    fd_ = fd;
    peer_ = peer;
    start_ = Now();
    const Instant end = start_ + Duration::Millis(static_cast<int64_t>(args_.timeout_s * 1000));
    ep_.Start(start_);
    uint8_t buf[65536];
    while (!done_) {
      Instant now = Now();
      if (now >= end) {
        Finish(false, "timed out after " + std::to_string(args_.timeout_s) + " s in state " +
                          std::string(ToString(ep_.state())));
        break;
      }
      Drain(now);
      if (done_) break;
      AppTick(now);
      Drain(now);
      if (done_) break;
      Instant wake = std::min({deadline_, app_wake_, end});
      int ms = static_cast<int>(std::clamp<int64_t>((wake - Now()).millis(), 0, 50));
      pollfd pfd{fd_, POLLIN, 0};
      int r = poll(&pfd, 1, ms);
      now = Now();
      if (r > 0) {
        for (int i = 0; i < 256; ++i) {
          sockaddr_in from{};
          socklen_t fl = sizeof from;
          ssize_t n = recvfrom(fd_, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &fl);
          if (n < 0) break;
          if (!peer_) {
            peer_ = from;  // the server answers whoever spoke first
            first_rx_ = now;
          } else if (from.sin_addr.s_addr != peer_->sin_addr.s_addr || from.sin_port != peer_->sin_port) {
            continue;
          }
          ep_.HandleDatagram(now, ByteView(buf, static_cast<size_t>(n)));
          Drain(now);
        }
      }
      if (Now() >= deadline_) ep_.HandleTimeout(Now());
    }
    return ok_ ? 0 : 1;
  }

 private:
  void Drain(Instant now) {
    for (int i = 0; i < 100000; ++i) {
      Output o = ep_.PollOutput(now);
      if (auto* t = std::get_if<Transmit>(&o)) {
        if (peer_) {
          sendto(fd_, t->datagram.data(), t->datagram.size(), 0, reinterpret_cast<const sockaddr*>(&*peer_),
                 sizeof *peer_);
        }
      } else if (auto* e = std::get_if<Event>(&o)) {
        OnEvent(now, *e);
      } else {
        deadline_ = std::get<Deadline>(o).at;
        return;
      }
    }
  }

  void OnEvent(Instant now, const Event& e) {
    if (const auto* c = std::get_if<Connected>(&e)) {
      connected_ = true;
      cipher_ = c->cipher;
      remote_fp_ = c->remote_fingerprint.ToString();
      handshake_ms_ = (now - (first_rx_ ? *first_rx_ : start_)).millis_f();
      if (args_.role == "client") PrepareRecords();
    } else if (const auto* d = std::get_if<ApplicationData>(&e)) {
      OnRecord(now, d->data);
    } else if (const auto* cl = std::get_if<Closed>(&e)) {
      close_notify_seen_ = true;
      if (args_.role == "server") {
        Finish(verdict_sent_ && digest_ok_,
               verdict_sent_ ? "" : "closed by peer before the digest check: " + cl->reason);
      }
    } else if (const auto* f = std::get_if<Failed>(&e)) {
      Finish(false, f->reason);
    }
  }

  void PrepareRecords() {
    SeededRng r(args_.seed);
    const size_t max = ep_.max_application_payload() - 5;
    payloads_.resize(args_.records);
    Bytes all;
    for (auto& p : payloads_) {
      p.resize(1 + r.Below(max));
      r.Fill(p);
      all.insert(all.end(), p.begin(), p.end());
    }
    const auto d = crypto::Sha256(all);
    digest_.assign(d.begin(), d.end());
    sent_at_.assign(args_.records, std::nullopt);
    acked_.assign(args_.records, false);
  }

  void SendRecord(Instant now, const Bytes& r) {
    if (ep_.Send(now, r) != SendResult::kOk) Finish(false, "Send failed");
  }

  void AppTick(Instant now) {
    app_wake_ = Instant::Max();
    if (args_.role == "server" && verdict_sent_ && !done_) {
      // close_notify is sent once and DTLS never retransmits it, so under loss it may not
      // arrive. The client repeats 'F' until it hears 'R'; once no 'F' has come for a quiet
      // period the verdict is known to be delivered (or the client gave up, which it reports).
      const Instant quiet_end = last_fin_at_ + Duration::Millis(args_.app_rto_ms * 8);
      if (now >= quiet_end) {
        Finish(digest_ok_, digest_ok_ ? "" : "digest mismatch");
        return;
      }
      app_wake_ = quiet_end;
      return;
    }
    if (args_.role != "client" || !connected_ || done_) return;
    const Duration rto = Duration::Millis(args_.app_rto_ms);
    while (base_ < args_.records && acked_[base_])
      ++base_;
    if (base_ < args_.records) {
      const uint32_t top = std::min(args_.records, base_ + args_.window);
      for (uint32_t s = base_; s < top; ++s) {
        if (acked_[s]) continue;
        if (sent_at_[s] && now - *sent_at_[s] < rto) {
          app_wake_ = std::min(app_wake_, *sent_at_[s] + rto);
          continue;
        }
        if (sent_at_[s]) ++resends_;
        ++sends_;
        Bytes rec{'D'};
        PutU32(rec, s);
        rec.insert(rec.end(), payloads_[s].begin(), payloads_[s].end());
        SendRecord(now, rec);
        sent_at_[s] = now;
        app_wake_ = std::min(app_wake_, now + rto);
      }
      return;
    }
    if (!fin_sent_at_ || now - *fin_sent_at_ >= rto) {
      if (fin_sent_at_) ++fin_resends_;
      Bytes rec{'F'};
      rec.insert(rec.end(), digest_.begin(), digest_.end());
      PutU32(rec, args_.records);
      SendRecord(now, rec);
      fin_sent_at_ = now;
    }
    app_wake_ = *fin_sent_at_ + rto;
  }

  void OnRecord(Instant now, const Bytes& r) {
    if (r.empty()) return;
    if (args_.role == "client") {
      if (r[0] == 'A' && r.size() == 5) {
        const uint32_t s = GetU32(&r[1]);
        if (s < acked_.size()) acked_[s] = true;
      } else if (r[0] == 'R' && r.size() == 2) {
        digest_ok_ = r[1] == 1;
        if (args_.close_notify) {
          ep_.Close(now);
          Drain(now);
        }
        Finish(digest_ok_, digest_ok_ ? "" : "the server's digest differs");
      }
      return;
    }
    // Server.
    if (r[0] == 'D' && r.size() >= 5) {
      const uint32_t s = GetU32(&r[1]);
      if (s >= 1000000) return;
      if (received_.size() <= s) received_.resize(s + 1);
      if (received_[s]) {
        ++duplicates_;
      } else {
        received_[s] = Bytes(r.begin() + 5, r.end());
        ++unique_;
      }
      Bytes ack{'A'};
      PutU32(ack, s);
      SendRecord(now, ack);
    } else if (r[0] == 'F' && r.size() == 37) {
      const uint32_t count = GetU32(&r[33]);
      Bytes all;
      bool complete = count == received_.size();
      for (uint32_t s = 0; complete && s < count; ++s) {
        if (!received_[s])
          complete = false;
        else
          all.insert(all.end(), received_[s]->begin(), received_[s]->end());
      }
      const auto d = crypto::Sha256(all);
      digest_ok_ = complete && std::equal(d.begin(), d.end(), r.begin() + 1);
      verdict_sent_ = true;
      last_fin_at_ = now;
      SendRecord(now, Bytes{'R', static_cast<uint8_t>(digest_ok_ ? 1 : 0)});
    }
  }

  void Finish(bool ok, const std::string& error) {
    if (done_) return;
    done_ = true;
    ok_ = ok;
    const Stats& st = ep_.stats();
    std::ostringstream o;
    o << "{\"role\": " << JsonString(args_.role) << ", \"ok\": " << (ok ? "true" : "false")
      << ", \"connected\": " << (connected_ ? "true" : "false") << ", \"error\": " << JsonString(error)
      << ", \"handshake_ms\": " << handshake_ms_ << ", \"elapsed_ms\": " << (Now() - start_).millis_f()
      << ", \"cipher\": " << JsonString(cipher_) << ", \"remote_fingerprint\": " << JsonString(remote_fp_)
      << ", \"digest_ok\": " << (digest_ok_ ? "true" : "false") << ", \"records\": " << args_.records
      << ", \"sends\": " << sends_ << ", \"resends\": " << resends_ << ", \"fin_resends\": " << fin_resends_
      << ", \"close_notify_seen\": " << (close_notify_seen_ ? "true" : "false") << ", \"unique\": " << unique_
      << ", \"duplicates\": " << duplicates_ << ", \"handshake_timeouts\": " << st.handshake_timeouts
      << ", \"datagrams_sent\": " << st.datagrams_sent << ", \"datagrams_received\": " << st.datagrams_received << "}";
    std::printf("%s\n", o.str().c_str());
    std::fflush(stdout);
  }

  const Args& args_;
  CryptoRng rng_;
  Endpoint ep_;
  int fd_ = -1;
  std::optional<sockaddr_in> peer_;
  Instant start_;
  std::optional<Instant> first_rx_;
  Instant deadline_ = Instant::Max();
  Instant app_wake_ = Instant::Max();
  bool done_ = false, ok_ = false, connected_ = false, digest_ok_ = false, verdict_sent_ = false;
  std::string cipher_, remote_fp_;
  double handshake_ms_ = -1;
  // Client.
  std::vector<Bytes> payloads_;
  Bytes digest_;
  std::vector<std::optional<Instant>> sent_at_;
  std::vector<bool> acked_;
  uint32_t base_ = 0;
  uint64_t sends_ = 0, resends_ = 0, fin_resends_ = 0;
  std::optional<Instant> fin_sent_at_;
  // Server.
  std::vector<std::optional<Bytes>> received_;
  uint64_t unique_ = 0, duplicates_ = 0;
  Instant last_fin_at_;
  bool close_notify_seen_ = false;
};

int Usage() {
  std::fprintf(stderr,
               "usage: pl_dtls_peer gen-cert FILE\n"
               "       pl_dtls_peer client|server --cert FILE --expect FP --bind IP:PORT [--peer IP:PORT]\n"
               "                    [--records N] [--seed S] [--timeout S] [--mtu B] [--initial-rto-ms MS]\n"
               "                    [--app-rto-ms MS] [--window N] [--close-notify 0|1]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  const std::string mode = argv[1];
  if (mode == "gen-cert") {
    if (argc != 3) return Usage();
    CryptoRng rng;
    auto cert = Certificate::Generate(rng, {.common_name = "pl-dtls-peer"});
    if (!cert.ok()) {
      std::fprintf(stderr, "pl_dtls_peer: %s\n", cert.error().c_str());
      return 1;
    }
    std::ofstream f(argv[2]);
    f << (*cert)->ToPem();
    if (!f) return 1;
    std::printf("%s\n", (*cert)->GetFingerprint().ToString().c_str());
    return 0;
  }
  if (mode != "client" && mode != "server") return Usage();
  Args a;
  a.role = mode;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--cert")
      a.cert = v;
    else if (k == "--expect")
      a.expect = v;
    else if (k == "--bind")
      a.bind = v;
    else if (k == "--peer")
      a.peer = v;
    else if (k == "--records")
      a.records = static_cast<uint32_t>(std::stoul(v));
    else if (k == "--seed")
      a.seed = std::stoull(v);
    else if (k == "--timeout")
      a.timeout_s = std::stod(v);
    else if (k == "--mtu")
      a.mtu = std::stoul(v);
    else if (k == "--initial-rto-ms")
      a.initial_rto_ms = std::stoll(v);
    else if (k == "--app-rto-ms")
      a.app_rto_ms = std::stoll(v);
    else if (k == "--window")
      a.window = static_cast<uint32_t>(std::stoul(v));
    else if (k == "--close-notify")
      a.close_notify = v != "0";
    else
      return Usage();
  }
  std::ifstream f(a.cert);
  std::stringstream pem;
  pem << f.rdbuf();
  auto cert = Certificate::FromPem(pem.str());
  if (!cert.ok()) {
    std::fprintf(stderr, "pl_dtls_peer: %s: %s\n", a.cert.c_str(), cert.error().c_str());
    return 1;
  }
  auto fp = Fingerprint::Parse(a.expect);
  if (!fp.ok()) {
    std::fprintf(stderr, "pl_dtls_peer: --expect: %s\n", fp.error().what);
    return 1;
  }
  sockaddr_in bind_addr{}, peer_addr{};
  if (!ParseAddr(a.bind, bind_addr) || (mode == "client" && !ParseAddr(a.peer, peer_addr))) return Usage();
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&bind_addr), sizeof bind_addr) != 0) {
    std::perror("pl_dtls_peer: bind");
    return 1;
  }
  Options opts;
  opts.role = mode == "client" ? Role::kClient : Role::kServer;
  opts.expected_remote = {*fp};
  opts.mtu = a.mtu;
  opts.initial_retransmit_timeout = Duration::Millis(a.initial_rto_ms);
  opts.handshake_timeout = Duration::Millis(static_cast<int64_t>(a.timeout_s * 1000));
  Peer peer(a, *cert, opts);
  std::optional<sockaddr_in> to;
  if (mode == "client") to = peer_addr;
  const int rc = peer.Run(fd, to);
  close(fd);
  return rc;
}
