// peerlink: command-line entry point. See docs/runtime.md for the reference.
#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>

#include "tools/peerlink/commands.h"

namespace {

using namespace peerlink::cli;

void AddSignalOptions(CLI::App& cmd, SignalOptions& o) {
  cmd.add_option("--listen", o.listen, "IP:PORT for WebSocket and HTTP (/healthz, /metrics)")->capture_default_str();
  cmd.add_option("--tls-cert", o.tls_cert, "PEM certificate chain: serve wss:// (with --tls-key)");
  cmd.add_option("--tls-key", o.tls_key, "PEM private key for --tls-cert");
  cmd.add_option("--token-secret", o.token_secret, "Require HMAC room tokens minted with this secret");
  cmd.add_option("--max-message-size", o.max_message_size, "Largest text frame in bytes (larger: close 1009)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{64}, size_t{64} * 1024 * 1024));
  cmd.add_option("--rate", o.rate, "Messages per second per connection, token bucket (N or N/s; 0: off)")
      ->capture_default_str();
  cmd.add_option("--burst", o.burst, "Token-bucket size in messages (default: twice --rate)");
  cmd.add_option("--max-topics", o.max_topics, "Topics one connection may join (0: unlimited)")->capture_default_str();
  cmd.add_option("--max-conns-per-ip", o.max_conns_per_ip, "Connections per source address (0: unlimited)")
      ->capture_default_str();
  cmd.add_option("--max-conns", o.max_conns, "Connections in total")->capture_default_str();
  cmd.add_option("--max-write-queue", o.max_write_queue, "Bytes queued to one slow client before it is dropped")
      ->capture_default_str();
  cmd.add_option("--write-coalesce", o.write_coalesce_ms,
                 "Milliseconds a busy connection's writes are held so frames share one write (0: off)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 100.0));
  cmd.add_option("--idle-timeout", o.idle_timeout_s, "Close a connection silent for this many seconds (0: off)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  cmd.add_option("--ping-interval", o.ping_interval_s, "Seconds between WebSocket pings; no pong by the next: close")
      ->capture_default_str()
      ->check(CLI::Range(0.05, 3600.0));
  cmd.add_option("--shutdown-grace", o.shutdown_grace_s, "Seconds SIGTERM waits for clients to close")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 600.0));
  cmd.add_option("--redis", o.redis, "redis://HOST:PORT: share rooms with other servers via Redis pub/sub");
  cmd.add_option("--server-id", o.server_id, "Origin tag in Redis messages (default: random)");
}

// --bytes, --message-size and --timeout of `demo` and `dc-peer` (sizes take K, M, G, T suffixes).
// --congestion-control of `dc-peer` and `pipe`.
void AddCongestionControlOption(CLI::App& cmd, std::string& value) {
  cmd.add_option("--congestion-control", value,
                 "SCTP congestion control of what this peer sends: reno, or bbr (keeps its rate on paths with "
                 "random loss)")
      ->capture_default_str()
      ->check(CLI::IsMember({"reno", "bbr"}));
}

// --rapid-start of `dc-peer` and `pipe`.
void AddRapidStartOption(CLI::App& cmd, bool& value) {
  cmd.add_flag("--rapid-start", value,
               "Rapid Start: slow start grows 3x per round trip while the RTT shows no queue (faster on long "
               "paths with deep queues, worse on shallow ones; reno only)");
}

// --resume-state of `dc-peer` and `pipe`.
void AddResumeStateOption(CLI::App& cmd, std::string& value) {
  cmd.add_option("--resume-state", value,
                 "Careful Resume: start from the path state in FILE (if it exists) and save this run's there on "
                 "success; one file per peer and path");
}

void AddTransferOptions(CLI::App& cmd, uint64_t& bytes, size_t& message_size, double& timeout_s) {
  cmd.add_option("--bytes", bytes, "Bytes the offerer sends (suffixes K, M, G, T: powers of 1024)")
      ->capture_default_str()
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  cmd.add_option("--message-size", message_size, "Bytes per data-channel message (at most 256K)")
      ->capture_default_str()
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(size_t{1}, size_t{256} * 1024));
  cmd.add_option("--timeout", timeout_s, "Fail if connecting and the transfer take longer (seconds)")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
}

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

  DemoOptions pc_demo;
  auto* pc_demo_cmd = app.add_subcommand(
      "demo",
      "Embedded signaling server + two dc-peer processes on loopback: move data over a channel, print path and rate");
  AddTransferOptions(*pc_demo_cmd, pc_demo.bytes, pc_demo.message_size, pc_demo.timeout_s);
  pc_demo_cmd->add_flag("--json", pc_demo.json, "Print both peers' results as one JSON object");

  DcPeerOptions dc_peer;
  auto* dc_peer_cmd = app.add_subcommand(
      "dc-peer", "One PeerConnection moving data, signaled on stdin/stdout or through a room (used by demo)");
  dc_peer_cmd->add_option("--role", dc_peer.role, "offerer (sends) or answerer (receives)")
      ->required()
      ->check(CLI::IsMember({"offerer", "answerer"}));
  AddTransferOptions(*dc_peer_cmd, dc_peer.bytes, dc_peer.message_size, dc_peer.timeout_s);
  AddCongestionControlOption(*dc_peer_cmd, dc_peer.congestion_control);
  AddRapidStartOption(*dc_peer_cmd, dc_peer.rapid_start);
  AddResumeStateOption(*dc_peer_cmd, dc_peer.resume_state);
  dc_peer_cmd->add_option("--bind", dc_peer.bind, "Bind a UDP socket on this IP, repeatable (default 127.0.0.1)");
  dc_peer_cmd->add_option("--signal", dc_peer.signal,
                          "Meet the other peer in --room on this ws:// signaling server instead of stdin/stdout");
  dc_peer_cmd->add_option("--room", dc_peer.room, "Room on the --signal server")->capture_default_str();

  PipeOptions pipe;
  auto* pipe_cmd = app.add_subcommand(
      "pipe",
      "Netcat over a data channel: stdin to the peer in ROOM, the peer's data to stdout (see docs/signaling.md)");
  pipe_cmd->add_option("room", pipe.room, "Room (signaling topic) to meet the other peer in")->required();
  pipe_cmd->add_option("--signal", pipe.signal, "Signaling server ws:// or wss:// URL, repeatable")
      ->capture_default_str();
  pipe_cmd->add_option("--password", pipe.password,
                       "Room password: signaling messages are end-to-end encrypted (y-webrtc compatible)");
  pipe_cmd->add_option("--ca-file", pipe.ca_file, "PEM CAs to trust for wss:// besides the system store");
  pipe_cmd->add_option("--ice-server", pipe.ice_servers, "stun:, turn: or turns: URL, repeatable");
  pipe_cmd->add_option("--ice-username", pipe.ice_username, "TURN username");
  pipe_cmd->add_option("--ice-credential", pipe.ice_credential, "TURN password");
  pipe_cmd->add_flag("--relay-only", pipe.relay_only, "Use TURN relay candidates only");
  pipe_cmd->add_option("--bind", pipe.bind, "Gather on this local IP only, repeatable (default: every interface)");
  pipe_cmd->add_flag("--loopback", pipe.loopback, "Also gather on loopback (two pipes on one host)");
  pipe_cmd->add_option("--timeout", pipe.timeout_s, "Give up if no channel is open after this many seconds")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 86400.0));
  AddCongestionControlOption(*pipe_cmd, pipe.congestion_control);
  AddRapidStartOption(*pipe_cmd, pipe.rapid_start);
  AddResumeStateOption(*pipe_cmd, pipe.resume_state);
  pipe_cmd->add_flag("-q,--quiet", pipe.quiet, "Print errors only");
  pipe_cmd->add_flag("-v,--verbose", pipe.verbose, "Also print signaling and connection diagnostics");

  SignalOptions sig;
  auto* sig_cmd =
      app.add_subcommand("signal", "Run a y-webrtc-compatible WebSocket signaling server (see docs/signaling.md)");
  AddSignalOptions(*sig_cmd, sig);
  SignalTokenOptions token;
  auto* token_cmd = sig_cmd->add_subcommand("token", "Mint a room token for a server started with --token-secret");
  token_cmd->add_option("--secret", token.secret, "The server's --token-secret")->required();
  token_cmd->add_option("--room", token.rooms, "Room (topic) the token admits, repeatable")->required();
  token_cmd->add_option("--ttl", token.ttl_s, "Seconds until the token expires")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{10} * 365 * 24 * 3600));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help (stdout) or the error (stderr)
    return code == 0 ? kExitOk : kExitUsage;
  }

  if (stun_cmd->parsed()) return RunStun(stun);
  if (peer_cmd->parsed()) return RunIcePeer(peer);
  if (demo_cmd->parsed()) return RunIceDemo(demo);
  if (pc_demo_cmd->parsed()) return RunDemo(pc_demo);
  if (dc_peer_cmd->parsed()) return RunDcPeer(dc_peer);
  if (pipe_cmd->parsed()) return RunPipe(pipe);
  if (token_cmd->parsed()) return RunSignalToken(token);
  if (sig_cmd->parsed()) return RunSignal(sig);
  std::cerr << app.help() << '\n';
  return kExitUsage;
}
