// `peerlink ice-demo`: two `ice-peer` children of this executable, connected
// through this process, which relays their JSON-lines signaling and runs an
// embedded STUN server on an ephemeral loopback port.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "src/runtime/stun_server_runner.h"
#include "tools/peerlink/commands.h"
#include "tools/peerlink/lines.h"

namespace peerlink::cli {

namespace {

namespace asio = boost::asio;
using nlohmann::json;

struct Child {
  std::string role;
  pid_t pid = -1;
  int stdin_fd = -1;  // our end of the child's stdin
  std::unique_ptr<LineReader> stdout_reader;
  bool stdout_done = false;
  std::optional<json> result;
};

// Starts `/proc/self/exe args...` with stdin/stdout on pipes (stderr inherited).
bool Spawn(Child& child, const std::vector<std::string>& args, int* stdout_fd, std::string* error) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) {
    *error = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  if (::pipe2(out, O_CLOEXEC) != 0) {
    *error = std::string("pipe: ") + std::strerror(errno);
    ::close(in[0]);
    ::close(in[1]);
    return false;
  }
  std::vector<char*> argv;
  for (const auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    *error = std::string("fork: ") + std::strerror(errno);
    for (int fd : {in[0], in[1], out[0], out[1]})
      ::close(fd);
    return false;
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec. dup2 clears O_CLOEXEC on the copies.
    ::dup2(in[0], STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    // Default signal dispositions for the child (the parent's asio signal_set installed handlers).
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::execv("/proc/self/exe", argv.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  child.pid = pid;
  child.stdin_fd = in[1];
  *stdout_fd = out[0];
  return true;
}

// Reaps `pid`, sending SIGTERM and then SIGKILL if it does not exit in time
// (bounded: at most ~2 s). Returns the wait status, or -1.
int Reap(pid_t pid, bool terminate) {
  if (pid <= 0) return -1;
  if (terminate) ::kill(pid, SIGTERM);
  int status = 0;
  for (int i = 0; i < 200; ++i) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return -1;
    if (i == 100) ::kill(pid, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

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

  std::array<Child, 2> children;
  children[0].role = "controlling";
  children[1].role = "controlled";
  const auto started = std::chrono::steady_clock::now();
  bool failed_early = false;
  auto relay = [&](size_t from, std::string_view line) {
    json j = json::parse(line, nullptr, false);
    if (!j.is_object()) {
      LogLine(tag, children[from].role + " wrote a non-JSON line: " + std::string(line));
      return;
    }
    if (j.value("type", "") == "result") {
      children[from].result = j;
      return;
    }
    Child& to = children[1 - from];
    if (to.stdin_fd >= 0 && !WriteLine(to.stdin_fd, line)) {
      ::close(to.stdin_fd);
      to.stdin_fd = -1;
    }
  };
  auto on_end = [&](size_t index) {
    children[index].stdout_done = true;
    // A peer that is gone can no longer signal: end the other's stdin too.
    Child& other = children[1 - index];
    if (other.stdin_fd >= 0) {
      ::close(other.stdin_fd);
      other.stdin_fd = -1;
    }
    if (children[0].stdout_done && children[1].stdout_done) io.stop();
  };

  for (size_t i = 0; i < 2; ++i) {
    std::vector<std::string> args = {"peerlink",
                                     "ice-peer",
                                     "--role",
                                     children[i].role,
                                     "--loopback",
                                     "--echo-count",
                                     std::to_string(options.echo_count),
                                     "--timeout",
                                     FormatSeconds(options.timeout_s)};
    args.insert(args.end(), stun_args.begin(), stun_args.end());
    int stdout_fd = -1;
    std::string error;
    if (!Spawn(children[i], args, &stdout_fd, &error)) {
      LogLine(tag, "cannot start the " + children[i].role + " peer: " + error);
      failed_early = true;
      break;
    }
    children[i].stdout_reader = std::make_unique<LineReader>(
        io, [&relay, i](std::string_view line) { relay(i, line); }, [&on_end, i](const std::string&) { on_end(i); });
    if (!children[i].stdout_reader->Start(stdout_fd, &error)) {
      LogLine(tag, "cannot read the " + children[i].role + " peer: " + error);
      failed_early = true;
      break;
    }
  }

  std::string failure;
  int interrupted_by = 0;
  asio::steady_timer deadline(io);
  // The children enforce the same timeout; this one (plus a grace second)
  // bounds the demo even if a child hangs.
  deadline.expires_after(std::chrono::milliseconds(static_cast<int64_t>(options.timeout_s * 1000) + 1000));
  deadline.async_wait([&](const boost::system::error_code& ec) {
    if (ec) return;
    failure = "ICE did not complete within " + FormatSeconds(options.timeout_s) + " s";
    io.stop();
  });
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    interrupted_by = sig;
    io.stop();
  });
  if (!failed_early) io.run();

  for (auto& c : children) {
    if (c.stdin_fd >= 0) ::close(c.stdin_fd);
    c.stdin_fd = -1;
  }
  const bool terminate = !failure.empty() || interrupted_by != 0 || failed_early;
  std::array<int, 2> statuses{};
  for (size_t i = 0; i < 2; ++i)
    statuses[i] = Reap(children[i].pid, terminate || !children[i].stdout_done);
  const double elapsed_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();

  if (interrupted_by) {
    LogLine(tag, interrupted_by == SIGINT ? "interrupted" : "terminated");
    return 128 + interrupted_by;
  }
  if (failed_early) return kExitFailure;

  bool ok = failure.empty();
  std::printf("ice-demo: %s in %.0f ms\n", ok ? "finished" : "FAILED", elapsed_ms);
  for (size_t i = 0; i < 2; ++i) {
    const Child& c = children[i];
    if (!c.result) {
      ok = false;
      const int st = statuses[i];
      std::string how = st < 0            ? "did not exit"
                        : WIFEXITED(st)   ? "exited with status " + std::to_string(WEXITSTATUS(st))
                        : WIFSIGNALED(st) ? "killed by signal " + std::to_string(WTERMSIG(st))
                                          : "ended";
      std::printf("  %-11s no result (%s)\n", c.role.c_str(), how.c_str());
      continue;
    }
    const json& r = *c.result;
    const bool echo_ok = r.value("echo_ok", false);
    ok = ok && echo_ok && !r.contains("error");
    std::printf("  %-11s %s; echo %s%s\n", c.role.c_str(), Describe(r).c_str(), echo_ok ? "ok" : "FAILED",
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
