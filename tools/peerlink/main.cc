// peerlink: command-line entry point. See docs/runtime.md for the reference.
#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>

#include "tools/peerlink/commands.h"

namespace {

using namespace peerlink::cli;

}  // namespace

int main(int argc, char** argv) {
  // Writes to a closed pipe (a signaling parent that exited) must fail with
  // EPIPE, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);

  CLI::App app{"peerlink: WebRTC data-channel stack tools"};
  app.require_subcommand(1);
  app.fallthrough(false);

  StunOptions stun;
  auto* stun_cmd = app.add_subcommand("stun", "Run a STUN Binding server (RFC 8489) on UDP");
  stun_cmd->add_option("--listen", stun.listen,
                       "IP:PORT to listen on, repeatable (default 0.0.0.0:3478 and [::]:3478)");
  stun_cmd->add_option("--software", stun.software, "SOFTWARE attribute value")->capture_default_str();

  IcePeerOptions peer;
  auto* peer_cmd = app.add_subcommand(
      "ice-peer", "One ICE agent speaking JSON-lines signaling on stdin/stdout (used by ice-demo and interop tests)");
  peer_cmd->add_option("--role", peer.role, "controlling or controlled")
      ->required()
      ->check(CLI::IsMember({"controlling", "controlled"}));
  peer_cmd->add_option("--stun", peer.stun, "STUN server HOST:PORT, repeatable");
  peer_cmd->add_option("--turn", peer.turn,
                       "TURN server URL (turn:host:port?transport=udp|tcp, turns:host:port), repeatable");
  peer_cmd->add_option("--turn-user", peer.turn_user,
                       "TURN username (with --turn-secret: the user part of the REST name)");
  peer_cmd->add_option("--turn-pass", peer.turn_pass, "TURN password (long-term credentials)");
  peer_cmd->add_option("--turn-secret", peer.turn_secret, "TURN REST shared secret: mint time-limited credentials");
  peer_cmd->add_option("--turn-ca", peer.turn_ca, "CA bundle (PEM) to verify turns: servers (default: system store)");
  peer_cmd->add_flag("--turn-insecure", peer.turn_insecure, "TEST ONLY: do not verify the turns: server certificate");
  peer_cmd->add_flag("--relay-only", peer.relay_only, "Only use relayed candidates (needs --turn)");
  peer_cmd->add_flag("--loopback", peer.loopback, "Bind host sockets on loopback only (127.0.0.1, ::1)");
  peer_cmd->add_option("--bind", peer.bind,
                       "Bind a host socket on this IP, repeatable (overrides interface discovery)");
  peer_cmd->add_option("--port-range", peer.port_range, "Host socket ports MIN-MAX (default ephemeral)");
  peer_cmd->add_option("--echo-count", peer.echo_count, "Datagrams the controlling side sends for the echo check")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  peer_cmd->add_option("--timeout", peer.timeout_s, "Give up after this many seconds")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  peer_cmd->add_option("--log-prefix", peer.log_prefix, "Tag for stderr log lines (default: the role)");

  IceDemoOptions demo;
  auto* demo_cmd = app.add_subcommand(
      "ice-demo", "Connect two ice-peer child processes over loopback UDP and report the selected pair");
  demo_cmd->add_option("--timeout", demo.timeout_s, "Fail if ICE and the echo check take longer (seconds)")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  demo_cmd->add_option("--echo-count", demo.echo_count, "Datagrams echoed after connecting")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  demo_cmd->add_flag("--no-stun", demo.no_stun, "Do not start the embedded STUN server (host candidates only)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help (stdout) or the error (stderr)
    return code == 0 ? kExitOk : kExitUsage;
  }

  if (stun_cmd->parsed()) return RunStun(stun);
  if (peer_cmd->parsed()) return RunIcePeer(peer);
  if (demo_cmd->parsed()) return RunIceDemo(demo);
  std::cerr << app.help() << '\n';
  return kExitUsage;
}
