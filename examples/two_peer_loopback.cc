// Two PeerConnections in one process over real UDP on 127.0.0.1: offer/answer and trickled
// candidates exchanged in process, one reliable ordered channel, 64 MiB sent as 64 KiB messages
// with bufferedAmount kept under 4 MiB (resuming at bufferedamountlow = 1 MiB). Prints the
// selected pair, the RTT and the throughput it measured. Exit code 0 only if every byte arrived
// intact.
//
//   two_peer_loopback [MiB]
#include <peerlink/peer_connection.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

using namespace peerlink;

int main(int argc, char** argv) {
  const size_t mib = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 64;
  const size_t total = mib << 20;
  constexpr size_t kMessage = 64 * 1024;

  // Both connections share one runtime thread, so a callback of one may call the other directly.
  auto runtime = Runtime::Create(1);
  Configuration config;
  config.bind_addresses = {"127.0.0.1"};
  auto offerer = std::make_unique<PeerConnection>(config, runtime);
  auto answerer = std::make_unique<PeerConnection>(config, runtime);
  offerer->OnIceCandidate([&](const IceCandidate& c) { (void)answerer->AddIceCandidate(c); });
  answerer->OnIceCandidate([&](const IceCandidate& c) { (void)offerer->AddIceCandidate(c); });

  std::mutex mu;
  std::condition_variable cv;
  bool done = false, failed = false;
  size_t received = 0;
  uint64_t expect_x = 1;  // the byte pattern, regenerated on the receiving side
  auto next_byte = [](uint64_t& x) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint8_t>(x >> 56);
  };
  std::chrono::steady_clock::time_point start, end;

  answerer->OnDataChannel([&](std::shared_ptr<DataChannel> ch) {
    ch->OnMessage([&, ch](std::span<const uint8_t> data, bool) {
      for (uint8_t b : data) {
        if (b != next_byte(expect_x)) failed = true;
      }
      received += data.size();
      if (received >= total) {
        end = std::chrono::steady_clock::now();
        std::lock_guard lock(mu);
        done = true;
        cv.notify_all();
      }
    });
  });

  auto made = offerer->CreateDataChannel("bulk");
  if (!made.ok()) {
    std::fprintf(stderr, "CreateDataChannel: %s\n", made.error().message.c_str());
    return 1;
  }
  std::shared_ptr<DataChannel> channel = *made;
  uint64_t send_x = 1;
  size_t sent = 0;
  std::vector<uint8_t> message(kMessage);
  auto pump = [&] {
    while (sent < total && channel->buffered_amount() < 4 * 1024 * 1024) {
      const size_t n = std::min(kMessage, total - sent);
      for (size_t i = 0; i < n; ++i)
        message[i] = next_byte(send_x);
      if (!channel->Send(std::span<const uint8_t>(message.data(), n)).ok()) {
        std::lock_guard lock(mu);
        failed = done = true;
        cv.notify_all();
        return;
      }
      sent += n;
    }
  };
  channel->set_buffered_amount_low_threshold(1024 * 1024);
  channel->OnBufferedAmountLow(pump);
  channel->OnOpen([&] {
    start = std::chrono::steady_clock::now();
    pump();
  });

  auto offer = offerer->CreateOffer();
  if (!offer.ok()) return 1;
  if (!answerer->SetRemoteDescription(*offer).ok() || !offerer->SetLocalDescription(*offer).ok()) return 1;
  auto answer = answerer->CreateAnswer();
  if (!answer.ok()) return 1;
  if (auto r = offerer->SetRemoteDescription(*answer); !r.ok()) {
    std::fprintf(stderr, "SetRemoteDescription: %s\n", r.error().message.c_str());
    return 1;
  }
  if (!answerer->SetLocalDescription(*answer).ok()) return 1;

  {
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, std::chrono::seconds(60), [&] { return done; })) {
      std::fprintf(stderr, "timed out: %zu of %zu bytes received (state %s)\n", received, total,
                   std::string(ToString(offerer->connection_state())).c_str());
      return 1;
    }
  }
  const Stats stats = offerer->GetStats();
  if (stats.selectedCandidatePair) {
    const auto& p = *stats.selectedCandidatePair;
    std::printf("selected pair: %s (%s) -> %s (%s)\n", p.localAddress.c_str(), p.localCandidateType.c_str(),
                p.remoteAddress.c_str(), p.remoteCandidateType.c_str());
    if (p.currentRoundTripTime) std::printf("ICE RTT: %.3f ms\n", *p.currentRoundTripTime * 1e3);
  }
  if (stats.sctp.smoothedRoundTripTime) std::printf("SCTP SRTT: %.3f ms\n", *stats.sctp.smoothedRoundTripTime * 1e3);
  for (const auto& s : stats.sockets) {
    std::printf("socket %s: rcvbuf %d, sndbuf %d granted; %llu datagrams sent (%llu GSO batches), %llu dropped\n",
                s.address.c_str(), s.receiveBufferGranted, s.sendBufferGranted,
                static_cast<unsigned long long>(s.datagramsSent), static_cast<unsigned long long>(s.gsoSends),
                static_cast<unsigned long long>(s.sendDrops));
  }
  std::printf("sctp: cwnd %llu, peer rwnd %llu, rto %.3f s, %llu retransmissions\n",
              static_cast<unsigned long long>(stats.sctp.congestionWindow),
              static_cast<unsigned long long>(stats.sctp.receiverWindow), stats.sctp.rto,
              static_cast<unsigned long long>(stats.sctp.retransmissions));
  const double seconds = std::chrono::duration<double>(end - start).count();
  std::printf("transferred %zu bytes in %.3f s: %.1f MB/s (%s)\n", received, seconds, received / seconds / 1e6,
              failed ? "CORRUPT" : "content verified");
  offerer.reset();
  answerer.reset();
  return failed ? 1 : 0;
}
