// peerlink's adapter for the end-to-end benchmark (bench/e2e/run_e2e.py): issue 4's scenarios
// T1 (throughput, two processes), T2 (connect time) and T3 (memory per connection), following
// the contract in bench/e2e/PROTOCOL.md. Every other stack has an adapter of its own that
// implements the same modes, so the runner measures all of them alike.
//
//   e2e_peerlink --mode t1 --role offerer|answerer --bytes N --msg-size M [--high B] [--low B]
//   e2e_peerlink --mode t2 --runs R
//   e2e_peerlink --mode t3 --connections C
//   (all modes: [--bind IP] [--timeout S] [--shared-certificate])
//
// stdout carries JSON lines only; diagnostics go to stderr.
#include <peerlink/peer_connection.h>
#include <peerlink/version.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "src/base/rng.h"
#include "src/dtls/certificate.h"

using namespace peerlink;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string mode;
  std::string role;
  uint64_t bytes = 256ull << 20;
  size_t msg_size = 64 * 1024;
  size_t high = 4 * 1024 * 1024;
  size_t low = 1024 * 1024;
  int runs = 100;
  int connections = 1000;
  int timeout_s = 120;
  std::string bind;
  bool shared_certificate = false;
  bool bbr = false;          // --congestion-control bbr
  bool rapid_start = false;  // --rapid-start: Configuration::sctp_rapid_start
  size_t sctp_window = 0;    // 0: the library's default
  int socket_buffer = 0;     // 0: the library's default
  // --resume-cwnd / --resume-rtt: Configuration::sctp_resume, the state an earlier run's sender
  // reported (its result's retained_cwnd and min_rtt).
  uint64_t resume_cwnd = 0;
  double resume_rtt = 0;
};

std::mutex out_mu;
void Emit(const json& j) {
  std::lock_guard lock(out_mu);
  std::cout << j.dump() << std::endl;  // endl: the runner reads line by line
}

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "e2e_peerlink: %s\n", why.c_str());
  std::exit(1);
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

uint64_t RssBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  }
  return 0;
}

Configuration MakeConfig(const Options& o) {
  Configuration config;
  if (!o.bind.empty()) {
    config.bind_addresses = {o.bind};
  } else {
    config.include_loopback = true;
  }
  // The runner's namespace has no multicast peers: plain host candidates, like every adapter.
  config.resolve_mdns_candidates = false;
  if (o.sctp_window > 0) config.sctp_receive_buffer = o.sctp_window;
  if (o.bbr) config.sctp_congestion_control = SctpCongestionControl::kBbr;
  config.sctp_rapid_start = o.rapid_start;
  if (o.resume_cwnd > 0) config.sctp_resume = SctpResumeState{o.resume_cwnd, o.resume_rtt};
  if (o.socket_buffer > 0) config.socket_receive_buffer = config.socket_send_buffer = o.socket_buffer;
  config.log = [](std::string_view line) { std::fprintf(stderr, "%.*s\n", int(line.size()), line.data()); };
  return config;
}

std::string ConfigText(const Options& o, const Configuration& c) {
  return "peerlink " + std::string(kVersionString) + ": defaults (SCTP MTU 1200, socket buffers " +
         std::to_string(c.socket_receive_buffer >> 20) + " MiB requested, SCTP receive window " +
         std::to_string(c.sctp_receive_buffer >> 20) + " MiB (library default 4), CRC32c, " +
         (o.bbr ? "BBR congestion control" : "Reno congestion control (library default)") +
         (o.rapid_start ? ", Rapid Start" : "") +
         (o.resume_cwnd > 0 ? ", Careful Resume from an earlier run's state (" + std::to_string(o.resume_cwnd) +
                                  " B, " + std::to_string(o.resume_rtt * 1e3) + " ms)"
                            : std::string()) +
         "), one io thread per process" + (o.bind.empty() ? std::string(", loopback") : ", bound to " + o.bind) +
         (o.mode == "t1" ? std::string(", non-trickle descriptions")
                         : std::string(", trickle in process, both connections on one runtime thread, signaling "
                                       "posted to it as one task (PeerConnection::Post)")) +
         (o.shared_certificate ? ", one certificate shared by all connections"
                               : ", a certificate generated per connection");
}

// Blocks until pred() or the deadline; pred is read under mu.
template <class Pred>
bool WaitFor(std::mutex& mu, std::condition_variable& cv, Clock::time_point deadline, Pred pred) {
  std::unique_lock lock(mu);
  return cv.wait_until(lock, deadline, pred);
}

// ---- T1: one side of a two-process transfer ----------------------------------------------------

int RunT1(const Options& o) {
  const bool sender = o.role == "offerer";
  if (!sender && o.role != "answerer") Die("--role must be offerer or answerer");
  Configuration config = MakeConfig(o);
  Emit({{"type", "config"}, {"text", ConfigText(o, config)}});
  auto pc = std::make_unique<PeerConnection>(config);
  PeerConnection* raw = pc.get();
  const auto deadline = Clock::now() + std::chrono::seconds(o.timeout_s);

  std::mutex mu;
  std::condition_variable cv;
  bool finished = false, failed = false;
  std::string failure;

  // The whole description once gathering has completed (our end-of-candidates).
  std::atomic<bool> printed{false};
  pc->OnIceCandidate([raw, &printed](const IceCandidate& c) {
    if (!c.candidate.empty() || printed.exchange(true)) return;
    if (auto d = raw->local_description()) Emit({{"type", std::string(ToString(d->type))}, {"sdp", d->sdp}});
  });
  pc->OnConnectionStateChange([&](PeerConnectionState s) {
    if (s != PeerConnectionState::kFailed) return;
    std::lock_guard lock(mu);
    failed = finished = true;
    failure = "connection failed";
    cv.notify_all();
  });

  // Sender state (runtime thread only).
  std::shared_ptr<DataChannel> channel;
  std::vector<uint8_t> message(o.msg_size);
  for (size_t i = 0; i < message.size(); ++i)
    message[i] = static_cast<uint8_t>(i * 131 + 7);
  uint64_t sent = 0, sent_messages = 0;
  double cpu_open = 0;
  bool all_queued = false;
  auto pump = [&] {
    while (sent < o.bytes && channel->buffered_amount() + o.msg_size <= o.high) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(o.msg_size, o.bytes - sent));
      message[0] = static_cast<uint8_t>(sent_messages & 0xff);
      if (auto r = channel->Send(std::span<const uint8_t>(message.data(), n)); !r.ok()) {
        std::lock_guard lock(mu);
        failed = finished = true;
        failure = "send: " + r.error().message;
        cv.notify_all();
        return;
      }
      sent += n;
      ++sent_messages;
    }
    if (sent >= o.bytes && !all_queued) {
      all_queued = true;
      std::fprintf(stderr, "e2e_peerlink: all %llu bytes queued\n", static_cast<unsigned long long>(sent));
    }
  };

  // Receiver state (runtime thread only, result read after `finished`).
  uint64_t received = 0, received_messages = 0;
  bool out_of_order = false;
  Clock::time_point open_at, first_at, half_at, last_at;
  double cpu_done = 0;

  if (sender) {
    auto made = pc->CreateDataChannel("t1");
    if (!made.ok()) Die("CreateDataChannel: " + made.error().message);
    channel = *made;
    channel->set_buffered_amount_low_threshold(o.low);
    channel->OnBufferedAmountLow(pump);
    channel->OnOpen([&] {
      cpu_open = CpuSeconds();
      pump();
    });
    auto offer = pc->CreateOffer();
    if (!offer.ok() || !pc->SetLocalDescription(*offer).ok()) Die("cannot create the offer");
  } else {
    pc->OnDataChannel([&](std::shared_ptr<DataChannel> ch) {
      channel = ch;
      auto opened = [&] {
        open_at = Clock::now();
        cpu_open = CpuSeconds();
      };
      if (ch->ready_state() == DataChannelState::kOpen) {
        opened();
      } else {
        ch->OnOpen(opened);
      }
      ch->OnMessage([&](std::span<const uint8_t> data, bool) {
        const auto now = Clock::now();
        if (received_messages == 0) first_at = now;
        if (data.empty() || data[0] != static_cast<uint8_t>(received_messages & 0xff)) out_of_order = true;
        ++received_messages;
        const bool below_half = received < o.bytes / 2;
        received += data.size();
        if (below_half && received >= o.bytes / 2) half_at = now;
        if (received >= o.bytes) {
          last_at = now;
          cpu_done = CpuSeconds();
          std::lock_guard lock(mu);
          finished = true;
          cv.notify_all();
        }
      });
    });
  }

  // stdin: the peer's description, then (sender) "done".
  std::thread reader([&] {
    std::string line;
    while (std::getline(std::cin, line)) {
      json j = json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) continue;
      const std::string type = j.value("type", "");
      if (type == "done") {
        std::lock_guard lock(mu);
        finished = true;
        cv.notify_all();
        return;
      }
      auto sdp_type = SdpTypeFromString(type);
      if (!sdp_type || !j.contains("sdp")) continue;
      if (auto r = raw->SetRemoteDescription({*sdp_type, j["sdp"].get<std::string>()}); !r.ok()) {
        std::lock_guard lock(mu);
        failed = finished = true;
        failure = "SetRemoteDescription: " + r.error().message;
        cv.notify_all();
        return;
      }
      if (*sdp_type == SdpType::kOffer) {
        auto answer = raw->CreateAnswer();
        if (!answer.ok() || !raw->SetLocalDescription(*answer).ok()) {
          std::lock_guard lock(mu);
          failed = finished = true;
          failure = "cannot answer";
          cv.notify_all();
          return;
        }
      }
      if (!sender) return;  // the receiver needs nothing more from stdin
    }
  });
  reader.detach();  // blocked in getline when we exit; the process ends it

  if (!WaitFor(mu, cv, deadline, [&] { return finished; })) {
    std::fprintf(stderr, "e2e_peerlink: timed out (%s; sent %llu, received %llu bytes)\n",
                 std::string(ToString(pc->connection_state())).c_str(), static_cast<unsigned long long>(sent),
                 static_cast<unsigned long long>(received));
    std::_Exit(1);
  }
  if (failed) Die(failure);
  const Stats st = pc->GetStats();
  {
    // Diagnostics for the logs the runner keeps (not part of the result).
    std::fprintf(
        stderr,
        "e2e_peerlink: sctp cwnd %llu, peer rwnd %llu, srtt %.1f ms, min rtt %.3f ms, rto %.3f s, %llu "
        "retransmissions (%llu found lost early, %llu timeouts), %llu HyStart exits (%llu on an ack train, %llu "
        "undone), %llu tail loss probes\n",
        static_cast<unsigned long long>(st.sctp.congestionWindow),
        static_cast<unsigned long long>(st.sctp.receiverWindow), st.sctp.smoothedRoundTripTime.value_or(0) * 1e3,
        st.sctp.minRoundTripTime.value_or(0) * 1e3, st.sctp.rto,
        static_cast<unsigned long long>(st.sctp.retransmissions),
        static_cast<unsigned long long>(st.sctp.fastRetransmits),
        static_cast<unsigned long long>(st.sctp.retransmissionTimeouts),
        static_cast<unsigned long long>(st.sctp.hystartExits),
        static_cast<unsigned long long>(st.sctp.hystartAckTrainExits),
        static_cast<unsigned long long>(st.sctp.hystartUndos), static_cast<unsigned long long>(st.sctp.tailLossProbes));
    for (const auto& so : st.sockets) {
      std::fprintf(stderr, "e2e_peerlink: socket %s: rcvbuf %d, sndbuf %d, %llu send drops\n", so.address.c_str(),
                   so.receiveBufferGranted, so.sendBufferGranted, static_cast<unsigned long long>(so.sendDrops));
    }
  }
  if (sender) {
    // What a later run may resume from, and what this one's Careful Resume did.
    Emit({{"type", "result"},
          {"role", "sender"},
          {"cpu_seconds", CpuSeconds() - cpu_open},
          {"retained_cwnd", st.sctp.retainedCongestionWindow},
          {"min_rtt", st.sctp.minRoundTripTime.value_or(0)},
          {"careful_resume", st.sctp.carefulResume},
          {"careful_resume_retreated", st.sctp.carefulResumeRetreated},
          {"rapid_start_rounds", st.sctp.rapidStartRounds}});
  } else {
    Emit({{"type", "result"},
          {"role", "receiver"},
          {"bytes", received},
          {"messages", received_messages},
          {"seconds", std::chrono::duration<double>(last_at - first_at).count()},
          {"open_to_done_seconds", std::chrono::duration<double>(last_at - open_at).count()},
          {"half_seconds", std::chrono::duration<double>(half_at - first_at).count()},
          {"cpu_seconds", cpu_done - cpu_open},
          {"ok", !out_of_order && received == o.bytes}});
  }
  pc->Close();
  pc.reset();
  return 0;
}

// ---- T2/T3: pairs connected in process -----------------------------------------------------------

// Two connections on one runtime thread, trickling to each other, one channel offered.
struct Pair {
  std::unique_ptr<PeerConnection> offerer, answerer;
  std::shared_ptr<DataChannel> sent, got;  // the offered channel on both sides
  std::mutex mu;
  std::condition_variable cv;
  int open = 0;  // sides whose channel is open (2 = done)
  bool failed = false;
  Clock::time_point opened_at;
};

// Sets up callbacks, the channel and both descriptions; false on an API error. Runs on the
// connections' runtime thread (posted by StartPair), where these calls run inline.
bool Negotiate(Pair& p, PeerConnection* a, PeerConnection* b) {
  a->OnIceCandidate([b](const IceCandidate& c) { (void)b->AddIceCandidate(c); });
  b->OnIceCandidate([a](const IceCandidate& c) { (void)a->AddIceCandidate(c); });
  auto side_open = [&p] {
    std::lock_guard lock(p.mu);
    if (++p.open == 2) {
      p.opened_at = Clock::now();
      p.cv.notify_all();
    }
  };
  auto on_fail = [&p](PeerConnectionState s) {
    if (s != PeerConnectionState::kFailed) return;
    std::lock_guard lock(p.mu);
    p.failed = true;
    p.cv.notify_all();
  };
  a->OnConnectionStateChange(on_fail);
  b->OnConnectionStateChange(on_fail);
  b->OnDataChannel([&p, side_open](std::shared_ptr<DataChannel> ch) {
    p.got = ch;
    if (ch->ready_state() == DataChannelState::kOpen) {
      side_open();
    } else {
      ch->OnOpen(side_open);
    }
  });
  auto made = a->CreateDataChannel("t");
  if (!made.ok()) return false;
  p.sent = *made;
  p.sent->OnOpen(side_open);
  // Each side applies the other's description before the author sets it locally (which starts
  // gathering), so no trickled candidate arrives before the description it belongs to.
  auto offer = a->CreateOffer();
  if (!offer.ok() || !b->SetRemoteDescription(*offer).ok() || !a->SetLocalDescription(*offer).ok()) return false;
  auto answer = b->CreateAnswer();
  if (!answer.ok() || !a->SetRemoteDescription(*answer).ok() || !b->SetLocalDescription(*answer).ok()) return false;
  return true;
}

// Starts connecting `p`. Both connections sit on the runtime's single thread; the signaling is
// posted there as one task (PeerConnection::Post), as an application that negotiates in
// process would do, instead of crossing threads for each of its ten calls.
void StartPair(Pair& p, const Configuration& config, const std::shared_ptr<Runtime>& runtime) {
  p.offerer = std::make_unique<PeerConnection>(config, runtime);
  p.answerer = std::make_unique<PeerConnection>(config, runtime);
  PeerConnection* a = p.offerer.get();
  PeerConnection* b = p.answerer.get();
  a->Post([&p, a, b] {
    if (Negotiate(p, a, b)) return;
    std::lock_guard lock(p.mu);
    p.failed = true;  // an API error
    p.cv.notify_all();
  });
}

// Waits until both channels are open (true) or failure/timeout (false).
bool WaitPair(Pair& p, Clock::time_point deadline) {
  return WaitFor(p.mu, p.cv, deadline, [&] { return p.open == 2 || p.failed; }) && p.open == 2;
}

void ClosePair(Pair& p) {
  p.sent.reset();
  p.got.reset();
  p.offerer.reset();  // closes; the destructor waits for a running callback
  p.answerer.reset();
}

// The configuration of the in-process pairs (t2, t3).
Configuration PairConfig(const Options& o) {
  Configuration config = MakeConfig(o);
  config.log = nullptr;
  if (o.shared_certificate) {
    // One identity for every connection, as an application passes one RTCCertificate to every
    // RTCPeerConnection; otherwise each connection generates its own P-256 key.
    CryptoRng rng;
    auto cert = dtls::Certificate::Generate(rng);
    if (!cert.ok()) Die("certificate: " + cert.error());
    config.certificate = *cert;
  }
  return config;
}

int RunT2(const Options& o) {
  Configuration config = PairConfig(o);
  Emit({{"type", "config"}, {"text", ConfigText(o, config)}});
  auto runtime = Runtime::Create(1);
  std::vector<double> ms;
  int failures = 0;
  for (int run = -1; run < o.runs; ++run) {  // run -1: warm-up, not recorded
    Pair p;
    const auto t0 = Clock::now();
    StartPair(p, config, runtime);
    const bool ok = WaitPair(p, t0 + std::chrono::seconds(10));
    if (run >= 0) {
      if (ok) {
        ms.push_back(std::chrono::duration<double, std::milli>(p.opened_at - t0).count());
      } else {
        ++failures;
      }
    }
    ClosePair(p);
  }
  Emit({{"type", "result"}, {"ms", ms}, {"failures", failures}});
  return 0;
}

int RunT3(const Options& o) {
  Configuration config = PairConfig(o);
  Emit({{"type", "config"}, {"text", ConfigText(o, config)}});
  // Two sockets' worth of descriptors per pair, and some slack.
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = std::max<rlim_t>(files.rlim_cur, std::min<rlim_t>(files.rlim_max, o.connections * 4 + 256));
  setrlimit(RLIMIT_NOFILE, &files);

  auto runtime = Runtime::Create(1);
  {
    Pair warm;
    StartPair(warm, config, runtime);
    if (!WaitPair(warm, Clock::now() + std::chrono::seconds(10))) Die("warm-up pair did not connect");
    ClosePair(warm);
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const uint64_t before = RssBytes();
  const int pairs = o.connections / 2;
  std::vector<std::unique_ptr<Pair>> all;
  all.reserve(pairs);
  int connected = 0;
  // Small batches: a batch connects concurrently, then the next starts.
  constexpr int kBatch = 20;
  for (int start = 0; start < pairs; start += kBatch) {
    const int end = std::min(pairs, start + kBatch);
    for (int i = start; i < end; ++i) {
      all.push_back(std::make_unique<Pair>());
      StartPair(*all.back(), config, runtime);  // an API error shows as a pair that did not connect
    }
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    for (int i = start; i < end; ++i)
      connected += WaitPair(*all[i], deadline) ? 2 : 0;
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const uint64_t after = RssBytes();
  Emit({{"type", "result"},
        {"connections", pairs * 2},
        {"connected", connected},
        {"rss_before", before},
        {"rss_after", after},
        {"bytes_per_connection", (static_cast<double>(after) - static_cast<double>(before)) / (pairs * 2)}});
  for (auto& p : all)
    ClosePair(*p);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  auto value = [&](int& i) -> std::string {
    if (i + 1 >= argc) Die(std::string("missing value for ") + argv[i]);
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--mode") {
      o.mode = value(i);
    } else if (a == "--role") {
      o.role = value(i);
    } else if (a == "--bytes") {
      o.bytes = std::stoull(value(i));
    } else if (a == "--msg-size") {
      o.msg_size = std::stoul(value(i));
    } else if (a == "--high") {
      o.high = std::stoul(value(i));
    } else if (a == "--low") {
      o.low = std::stoul(value(i));
    } else if (a == "--runs") {
      o.runs = std::stoi(value(i));
    } else if (a == "--connections") {
      o.connections = std::stoi(value(i));
    } else if (a == "--bind") {
      o.bind = value(i);
    } else if (a == "--timeout") {
      o.timeout_s = std::stoi(value(i));
    } else if (a == "--sctp-window") {
      o.sctp_window = std::stoul(value(i));
    } else if (a == "--socket-buffer") {
      o.socket_buffer = std::stoi(value(i));
    } else if (a == "--shared-certificate") {
      o.shared_certificate = true;
    } else if (a == "--congestion-control") {
      const std::string cc = value(i);
      if (cc != "reno" && cc != "bbr") Die("--congestion-control takes reno or bbr, not " + cc);
      o.bbr = cc == "bbr";
    } else if (a == "--rapid-start") {
      o.rapid_start = true;
    } else if (a == "--resume-cwnd") {
      o.resume_cwnd = std::stoull(value(i));
    } else if (a == "--resume-rtt") {
      o.resume_rtt = std::stod(value(i));
    } else {
      std::fprintf(stderr,
                   "usage: e2e_peerlink --mode t1|t2|t3 [--role offerer|answerer] [--bytes N] [--msg-size M]\n"
                   "       [--high B] [--low B] [--runs R] [--connections C] [--bind IP] [--timeout S]\n"
                   "       [--shared-certificate] [--sctp-window BYTES] [--socket-buffer BYTES]\n"
                   "       [--congestion-control reno|bbr] [--rapid-start]\n"
                   "       [--resume-cwnd BYTES --resume-rtt SECONDS]\n"
                   "       (contract: bench/e2e/PROTOCOL.md)\n");
      return 2;
    }
  }
  if (o.msg_size == 0 || o.runs < 0 || o.connections < 2) Die("bad arguments");
  // Our best configuration for a transfer: a 64 MiB SCTP receive window, the bandwidth-delay
  // product of T4's 100 ms path at this machine's ~640 MB/s (the library's default, 4 MiB, bounds
  // memory per connection; at 100 ms RTT it caps the rate at ~42 MB/s, and 32 MiB at ~335).
  if (o.mode == "t1" && o.sctp_window == 0) o.sctp_window = 64u << 20;
  // And 16 MiB UDP socket buffers (library default 4 MiB): behind T4's delay line, which releases
  // what fell due together, a 4 MiB receive buffer overflowed at 50-100 ms (UdpRcvbufErrors,
  // thousands of retransmissions).
  if (o.mode == "t1" && o.socket_buffer == 0) o.socket_buffer = 16 << 20;
  if (o.mode == "t1") return RunT1(o);
  if (o.mode == "t2") return RunT2(o);
  if (o.mode == "t3") return RunT3(o);
  Die("--mode must be t1, t2 or t3");
}
