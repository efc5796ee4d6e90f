// `peerlink demo`: the quick start's main job. Starts a signaling server (`peerlink signal`'s,
// in process, on an ephemeral loopback port) and two `dc-peer` children of this executable, a
// sender and a receiver, that meet in a fresh room there, connect over UDP on 127.0.0.1 (ICE,
// DTLS, SCTP: the full stack, nothing mocked), open a data channel, move --bytes, and compare
// SHA-256 digests of what was sent and what arrived. Prints the path and the throughput; exits 0
// only if every byte arrived intact.
#include <array>
#include <boost/asio/io_context.hpp>
#include <csignal>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "src/base/rng.h"
#include "src/runtime/signaling_server.h"
#include "tools/peerlink/child_pair.h"
#include "tools/peerlink/commands.h"
#include "tools/peerlink/lines.h"

namespace peerlink::cli {

namespace {

using nlohmann::json;

std::string Path(const json& r) {
  if (!r.contains("selected")) return "no selected pair";
  const json& s = r["selected"];
  std::string out = s.value("local_type", "?") + " " + s.value("local", "?") + " <-> " + s.value("remote_type", "?") +
                    " " + s.value("remote", "?") + " (UDP)";
  if (r.contains("rtt_ms") && r["rtt_ms"].is_number()) {
    char rtt[48];
    std::snprintf(rtt, sizeof(rtt), ", ICE rtt %.3f ms", r["rtt_ms"].get<double>());
    out += rtt;
  }
  const std::string cipher = r.value("dtls_cipher", "");
  if (!cipher.empty()) out += ", DTLS 1.2 " + cipher;
  return out;
}

std::string Size(double bytes) {
  char buf[32];
  if (bytes >= 1024.0 * 1024) {
    std::snprintf(buf, sizeof(buf), "%.1f MiB", bytes / (1024.0 * 1024));
  } else if (bytes >= 1024.0) {
    std::snprintf(buf, sizeof(buf), "%.1f KiB", bytes / 1024.0);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f B", bytes);
  }
  return buf;
}

}  // namespace

int RunDemo(const DemoOptions& options) {
  const std::string tag = "demo";
  boost::asio::io_context io;
  // The rendezvous: our own signaling server, on this process's io_context.
  runtime::SignalingServer signaling(io, runtime::SignalingServerOptions{}, nullptr);
  if (auto err = signaling.Start(*SocketAddress::Parse("127.0.0.1:0")); !err.empty()) {
    LogLine(tag, "cannot start the embedded signaling server: " + err);
    return kExitFailure;
  }
  const std::string url = "ws://" + signaling.local_address().ToString();
  CryptoRng rng;
  const std::string room = "demo-" + rng.IceChars(12);
  const std::array<std::string, 2> roles = {"offerer", "answerer"};
  std::array<std::vector<std::string>, 2> args;
  for (size_t i = 0; i < 2; ++i) {
    args[i] = {"peerlink",       "dc-peer",
               "--role",         roles[i],
               "--bytes",        std::to_string(options.bytes),
               "--message-size", std::to_string(options.message_size),
               "--timeout",      FormatSeconds(options.timeout_s),
               "--signal",       url,
               "--room",         room};
  }
  const ChildPairOutcome outcome = RunChildPair(io, tag, roles, args, options.timeout_s, "the demo");
  if (outcome.interrupted_by) {
    LogLine(tag, outcome.interrupted_by == SIGINT ? "interrupted" : "terminated");
    return 128 + outcome.interrupted_by;
  }
  if (outcome.failed_early) return kExitFailure;

  bool ok = outcome.timeout.empty();
  for (size_t i = 0; i < 2; ++i) {
    if (!outcome.results[i]) {
      ok = false;
      LogLine(tag, roles[i] + ": no result (" + outcome.HowEnded(i) + ")");
    } else if (outcome.results[i]->contains("error")) {
      ok = false;
      LogLine(tag, roles[i] + ": " + (*outcome.results[i])["error"].get<std::string>());
    }
  }
  const json sender = outcome.results[0].value_or(json::object());
  const json receiver = outcome.results[1].value_or(json::object());
  const bool verified = sender.value("verified", false);
  ok = ok && verified && receiver.value("bytes", uint64_t{0}) == options.bytes;

  if (options.json) {
    std::printf("%s\n", json{{"ok", ok},
                             {"signaling", url},
                             {"room", room},
                             {"bytes", options.bytes},
                             {"message_size", options.message_size},
                             {"elapsed_ms", outcome.elapsed_ms},
                             {"offerer", sender},
                             {"answerer", receiver}}
                            .dump(2)
                            .c_str());
  } else if (ok) {
    const double bytes = static_cast<double>(options.bytes);
    std::printf("demo: two processes met in room %s on the embedded signaling server %s\n", room.c_str(), url.c_str());
    std::printf("      and opened one data channel over the full stack (ICE, DTLS, SCTP) on loopback\n");
    std::printf("  connected  channel open %.1f ms after the sender started\n", sender.value("connect_ms", 0.0));
    std::printf("  path       %s\n", Path(sender).c_str());
    std::printf("  sent       %s as %llu messages of %s in %.3f s: %.1f MB/s (channel open -> receiver's digest)\n",
                Size(bytes).c_str(), static_cast<unsigned long long>(sender.value("messages", uint64_t{0})),
                Size(static_cast<double>(options.message_size)).c_str(), sender.value("transfer_s", 0.0),
                sender.value("mb_per_s", 0.0));
    std::printf("  received   %s in %.3f s: %.1f MB/s (first -> last byte), %llu SCTP retransmissions\n",
                Size(receiver.value("bytes", 0.0)).c_str(), receiver.value("transfer_s", 0.0),
                receiver.value("mb_per_s", 0.0),
                static_cast<unsigned long long>(sender.value("sctp_retransmissions", uint64_t{0})));
    std::printf("  sha256     %s on both sides\n", sender.value("sha256", std::string("?")).c_str());
    std::printf("demo: ok in %.0f ms\n", outcome.elapsed_ms);
  } else {
    std::printf("demo: FAILED after %.0f ms\n", outcome.elapsed_ms);
  }
  std::fflush(stdout);
  if (!outcome.timeout.empty()) LogLine(tag, outcome.timeout);
  if (!ok && outcome.results[0] && outcome.results[1] && !verified) {
    LogLine(tag, "digest mismatch: sent " + sender.value("sha256", std::string("?")) + ", received " +
                     receiver.value("sha256", std::string("?")));
  }
  return ok ? kExitOk : kExitFailure;
}

}  // namespace peerlink::cli
