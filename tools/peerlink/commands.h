// The peerlink CLI's subcommands. Each Run* returns the process exit code:
// 0 success, 1 runtime failure, 2 usage error, 128+signal when interrupted.
#pragma once

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

}  // namespace peerlink::cli
