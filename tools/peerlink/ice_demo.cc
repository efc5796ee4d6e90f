// `peerlink ice-demo`: two `ice-peer` children of this executable, connected
// through this process, which relays their JSON-lines signaling and runs an
// embedded STUN server on an ephemeral loopback port.
#include <array>
#include <boost/asio/io_context.hpp>
#include <csignal>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "src/runtime/stun_server_runner.h"
#include "tools/peerlink/child_pair.h"
#include "tools/peerlink/commands.h"
#include "tools/peerlink/lines.h"

namespace peerlink::cli {

namespace {

namespace asio = boost::asio;
using nlohmann::json;

std::string Describe(const json& result) {
  if (!result.contains("selected") || result["selected"].is_null()) return "no selected pair";
  const json& s = result["selected"];
  std::string out = s.value("local_type", "?") + " " + s.value("local", "?") + " <-> " + s.value("remote_type", "?") +
                    " " + s.value("remote", "?");
  if (result.contains("rtt_ms") && result["rtt_ms"].is_number()) {
    char rtt[32];
    std::snprintf(rtt, sizeof(rtt), "%.3f", result["rtt_ms"].get<double>());
    out += ", rtt " + std::string(rtt) + " ms";
  }
  return out;
}

}  // namespace

int RunIceDemo(const IceDemoOptions& options) {
  const std::string tag = "ice-demo";
  asio::io_context io;

  // The embedded STUN server gives each peer a server-reflexive candidate
  // (on loopback it equals the host address; the point is exercising gathering).
  runtime::StunServerRunner stun(io, "peerlink-ice-demo", [&](std::string_view line) { LogLine(tag, line); });
  std::vector<std::string> stun_args;
  if (!options.no_stun) {
    if (auto ec = stun.Listen(SocketAddress(IpAddress::Loopback(IpFamily::kV4), 0))) {
      LogLine(tag, "cannot start the embedded STUN server on 127.0.0.1: " + ec.message());
      return kExitFailure;
    }
    if (stun.Listen(SocketAddress(IpAddress::Loopback(IpFamily::kV6), 0))) {
      LogLine(tag, "no IPv6 loopback; the embedded STUN server is IPv4 only");
    }
    for (const auto& addr : stun.local_addresses()) {
      stun_args.push_back("--stun");
      stun_args.push_back(addr.ToString());
    }
    std::string list;
    for (const auto& addr : stun.local_addresses())
      list += (list.empty() ? "" : ", ") + addr.ToString();
    LogLine(tag, "embedded STUN server on " + list);
  }

  std::array<std::vector<std::string>, 2> args;
  const std::array<std::string, 2> roles = {"controlling", "controlled"};
  for (size_t i = 0; i < 2; ++i) {
    args[i] = {"peerlink",
               "ice-peer",
               "--role",
               roles[i],
               "--loopback",
               "--echo-count",
               std::to_string(options.echo_count),
               "--timeout",
               FormatSeconds(options.timeout_s)};
    args[i].insert(args[i].end(), stun_args.begin(), stun_args.end());
  }
  const ChildPairOutcome outcome = RunChildPair(io, tag, roles, args, options.timeout_s, "ICE");
  if (outcome.interrupted_by) {
    LogLine(tag, outcome.interrupted_by == SIGINT ? "interrupted" : "terminated");
    return 128 + outcome.interrupted_by;
  }
  if (outcome.failed_early) return kExitFailure;

  const std::string& failure = outcome.timeout;
  bool ok = failure.empty();
  std::printf("ice-demo: %s in %.0f ms\n", ok ? "finished" : "FAILED", outcome.elapsed_ms);
  for (size_t i = 0; i < 2; ++i) {
    if (!outcome.results[i]) {
      ok = false;
      std::printf("  %-11s no result (%s)\n", roles[i].c_str(), outcome.HowEnded(i).c_str());
      continue;
    }
    const json& r = *outcome.results[i];
    const bool echo_ok = r.value("echo_ok", false);
    ok = ok && echo_ok && !r.contains("error");
    std::printf("  %-11s %s; echo %s%s\n", roles[i].c_str(), Describe(r).c_str(), echo_ok ? "ok" : "FAILED",
                r.contains("error") ? (" (" + r["error"].get<std::string>() + ")").c_str() : "");
  }
  std::fflush(stdout);
  if (!failure.empty()) LogLine(tag, failure);
  if (!ok) {
    if (failure.empty()) LogLine(tag, "ICE or the echo check failed (see the peers' log lines above)");
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace peerlink::cli
