// Two children of this executable (`/proc/self/exe ARGS...`) that signal each other through this
// process: every JSON line one writes on stdout goes to the other's stdin, except its
// {"type":"result",...} line, which is kept for the caller. The parent side of `ice-demo` and
// `demo`.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace peerlink::cli {

struct ChildPairOutcome {
  std::array<std::string, 2> roles;
  std::array<std::optional<nlohmann::json>, 2> results;  // each child's result line, if it wrote one
  std::array<int, 2> statuses{-1, -1};                   // wait statuses (-1: not reaped)
  std::string timeout;        // set when the pair outlived the timeout (children were terminated)
  int interrupted_by = 0;     // SIGINT / SIGTERM received by this process (children terminated)
  bool failed_early = false;  // a child could not be started (already logged)
  double elapsed_ms = 0;
  // "exited with status 3", "killed by signal 9", "did not exit".
  std::string HowEnded(size_t i) const;
};

// Runs both children on `io` (which may carry other work, e.g. an embedded STUN server) until
// both stdouts end, `timeout_s` (+1 s grace; the children should enforce the same timeout
// themselves) passes, or SIGINT/SIGTERM arrives. Bounded: children that outlive it get SIGTERM,
// then SIGKILL. `timeout_what` completes "... did not complete within N s".
ChildPairOutcome RunChildPair(boost::asio::io_context& io,
                              std::string_view tag,
                              std::array<std::string, 2> roles,
                              const std::array<std::vector<std::string>, 2>& args,
                              double timeout_s,
                              std::string_view timeout_what);

}  // namespace peerlink::cli
