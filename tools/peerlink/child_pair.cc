#include "tools/peerlink/child_pair.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <memory>
#include <thread>

#include "tools/peerlink/lines.h"

namespace peerlink::cli {

namespace {

namespace asio = boost::asio;
using nlohmann::json;

struct Child {
  pid_t pid = -1;
  int stdin_fd = -1;  // our end of the child's stdin
  std::unique_ptr<LineReader> stdout_reader;
  bool stdout_done = false;
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

}  // namespace

std::string ChildPairOutcome::HowEnded(size_t i) const {
  const int st = statuses[i];
  return st < 0            ? "did not exit"
         : WIFEXITED(st)   ? "exited with status " + std::to_string(WEXITSTATUS(st))
         : WIFSIGNALED(st) ? "killed by signal " + std::to_string(WTERMSIG(st))
                           : "ended";
}

ChildPairOutcome RunChildPair(asio::io_context& io,
                              std::string_view tag,
                              std::array<std::string, 2> roles,
                              const std::array<std::vector<std::string>, 2>& args,
                              double timeout_s,
                              std::string_view timeout_what) {
  ChildPairOutcome out;
  out.roles = std::move(roles);
  std::array<Child, 2> children;
  const auto started = std::chrono::steady_clock::now();

  auto relay = [&](size_t from, std::string_view line) {
    json j = json::parse(line, nullptr, false);
    if (!j.is_object()) {
      LogLine(tag, out.roles[from] + " wrote a non-JSON line: " + std::string(line));
      return;
    }
    if (j.value("type", "") == "result") {
      out.results[from] = std::move(j);
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
    int stdout_fd = -1;
    std::string error;
    if (!Spawn(children[i], args[i], &stdout_fd, &error)) {
      LogLine(tag, "cannot start the " + out.roles[i] + " peer: " + error);
      out.failed_early = true;
      break;
    }
    children[i].stdout_reader = std::make_unique<LineReader>(
        io, [&relay, i](std::string_view line) { relay(i, line); }, [&on_end, i](const std::string&) { on_end(i); });
    if (!children[i].stdout_reader->Start(stdout_fd, &error)) {
      LogLine(tag, "cannot read the " + out.roles[i] + " peer: " + error);
      out.failed_early = true;
      break;
    }
  }

  asio::steady_timer deadline(io);
  // The children enforce the same timeout; this one (plus a grace second) bounds the pair even
  // if a child hangs.
  deadline.expires_after(std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000) + 1000));
  deadline.async_wait([&](const boost::system::error_code& ec) {
    if (ec) return;
    out.timeout = std::string(timeout_what) + " did not complete within " + FormatSeconds(timeout_s) + " s";
    io.stop();
  });
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    out.interrupted_by = sig;
    io.stop();
  });
  if (!out.failed_early) io.run();

  for (auto& c : children) {
    if (c.stdin_fd >= 0) ::close(c.stdin_fd);
    c.stdin_fd = -1;
  }
  const bool terminate = !out.timeout.empty() || out.interrupted_by != 0 || out.failed_early;
  for (size_t i = 0; i < 2; ++i)
    out.statuses[i] = Reap(children[i].pid, terminate || !children[i].stdout_done);
  for (auto& c : children)
    if (c.stdout_reader) c.stdout_reader->Close();
  out.elapsed_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  return out;
}

}  // namespace peerlink::cli
