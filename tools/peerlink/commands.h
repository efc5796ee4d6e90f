// The peerlink CLI's subcommands. Each Run* returns the process exit code:
// 0 success, 1 runtime failure, 2 usage error, 128+signal when interrupted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace peerlink::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

struct StunOptions {
  std::vector<std::string> listen;  // empty: 0.0.0.0:3478 and [::]:3478
  std::string software = "peerlink";
};
int RunStun(const StunOptions& options);

struct IcePeerOptions {
  std::string role;
  std::vector<std::string> stun;  // HOST:PORT
  std::vector<std::string> turn;  // turn:/turns: URLs
  std::string turn_user;
  std::string turn_pass;
  std::string turn_secret;  // mint TURN REST credentials instead of turn_pass
  std::string turn_ca;      // CA bundle for turns:
  bool turn_insecure = false;
  bool relay_only = false;
  bool loopback = false;
  std::vector<std::string> bind;
  std::string port_range;  // MIN-MAX
  int echo_count = 5;
  double timeout_s = 10;
  std::string log_prefix;  // defaults to the role
};
int RunIcePeer(const IcePeerOptions& options);

struct IceDemoOptions {
  double timeout_s = 10;
  int echo_count = 5;
  bool no_stun = false;  // host candidates only
};
int RunIceDemo(const IceDemoOptions& options);

struct DcPeerOptions {
  std::string role;                   // offerer (sends) or answerer (receives)
  uint64_t bytes = 64 * 1024 * 1024;  // moved over the channel
  size_t message_size = 64 * 1024;
  double timeout_s = 60;
  std::vector<std::string> bind;  // empty: 127.0.0.1
  std::string signal;             // ws:// URL: meet in --room there instead of stdin/stdout
  std::string room = "peerlink-demo";
  std::string congestion_control = "reno";  // or "bbr" (Configuration::sctp_congestion_control)
  bool rapid_start = false;                 // Configuration::sctp_rapid_start
  std::string resume_state;                 // --resume-state FILE (sctp_flags.h); empty: none
};
int RunDcPeer(const DcPeerOptions& options);

struct DemoOptions {
  uint64_t bytes = 256 * 1024 * 1024;
  size_t message_size = 64 * 1024;
  double timeout_s = 60;
  bool json = false;  // print both results as one JSON object instead of the summary
};
int RunDemo(const DemoOptions& options);

struct PipeOptions {
  std::string room;
  std::vector<std::string> signal = {"ws://127.0.0.1:4444"};
  std::string password;                  // y-webrtc room password: the signaling server sees only ciphertext
  std::string ca_file;                   // extra CAs for wss://
  std::vector<std::string> ice_servers;  // stun:/turn:/turns: URLs
  std::string ice_username, ice_credential;
  bool relay_only = false;
  std::vector<std::string> bind;  // empty: every interface that is up
  bool loopback = false;          // also gather on loopback (same-host use)
  double timeout_s = 30;          // to find a peer and open the channel
  bool quiet = false;
  bool verbose = false;
  std::string congestion_control = "reno";  // or "bbr"
  bool rapid_start = false;                 // Configuration::sctp_rapid_start
  std::string resume_state;                 // --resume-state FILE (sctp_flags.h); empty: none
};
int RunPipe(const PipeOptions& options);

struct SignalOptions {
  std::string listen = "0.0.0.0:4444";  // y-webrtc's default port
  std::string tls_cert;
  std::string tls_key;
  std::string token_secret;
  size_t max_message_size = 64 * 1024;
  std::string rate = "100/s";
  double burst = 0;  // 0: twice the rate
  size_t max_topics = 256;
  size_t max_conns_per_ip = 64;
  size_t max_conns = 20000;
  size_t max_write_queue = 1024 * 1024;
  double idle_timeout_s = 120;
  double write_coalesce_ms = 2;
  double ping_interval_s = 30;
  double shutdown_grace_s = 5;
  std::string redis;
  std::string server_id;
};
int RunSignal(const SignalOptions& options);

struct SignalTokenOptions {
  std::string secret;
  std::vector<std::string> rooms;
  int64_t ttl_s = 3600;
};
int RunSignalToken(const SignalTokenOptions& options);

}  // namespace peerlink::cli
