// What every benchmark program shares: its command line (an unknown argument is an error, not
// silently ignored), CPU clocks, the conditions a figure was measured under, and writing the JSON.
#pragma once

#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace peerlink::bench {

#if defined(NDEBUG) && !defined(PEERLINK_DCHECK_ALWAYS_ON)
inline constexpr bool kDchecksOn = false;
#else
inline constexpr bool kDchecksOn = true;
#endif

inline double ClockSeconds(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
inline double ProcessCpuSeconds() {
  return ClockSeconds(CLOCK_PROCESS_CPUTIME_ID);
}
inline double ThreadCpuSeconds() {
  return ClockSeconds(CLOCK_THREAD_CPUTIME_ID);
}

// A benchmark's arguments. Ask for each flag and option, then call Finish(): an argument nobody
// asked for, or an option without its value, prints the usage and exits with status 2.
class Args {
 public:
  Args(int argc, char** argv, std::string usage)
      : program_(argc > 0 ? argv[0] : "bench"),
        usage_(std::move(usage)),
        args_(argv + (argc > 0 ? 1 : 0), argv + argc),
        used_(args_.size(), false) {}

  bool Flag(std::string_view name) {
    bool seen = false;
    for (size_t i = 0; i < args_.size(); ++i)
      if (!used_[i] && args_[i] == name) seen = used_[i] = true;
    return seen;
  }
  // The value after the last `name`.
  std::optional<std::string> Value(std::string_view name) {
    std::optional<std::string> value;
    for (size_t i = 0; i < args_.size(); ++i) {
      if (used_[i] || args_[i] != name) continue;
      used_[i] = true;
      if (i + 1 == args_.size()) Fail("option " + std::string(name) + " needs a value");
      used_[i + 1] = true;
      value = args_[++i];
    }
    return value;
  }
  void Finish() const {
    for (size_t i = 0; i < args_.size(); ++i)
      if (!used_[i]) Fail("unknown argument '" + args_[i] + "'");
  }
  [[noreturn]] void Fail(const std::string& why) const {
    std::fprintf(stderr, "%s: %s\nusage: %s %s\n", program_.c_str(), why.c_str(), program_.c_str(), usage_.c_str());
    std::exit(2);
  }

 private:
  std::string program_, usage_;
  std::vector<std::string> args_;
  std::vector<bool> used_;
};

// The JSON members that say what a figure was measured under: the malloc tuning, whether the
// invariant checks were compiled in, and whether the SCTP message pool was used.
inline std::string RunConditionsJson(bool message_pool) {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  return std::string("\"glibc_tunables\": \"") + (tunables ? tunables : "") +
         "\",\n  \"dchecks\": " + (kDchecksOn ? "true" : "false") +
         ",\n  \"message_pool\": " + (message_pool ? "true" : "false");
}

// Prints `json` and writes it to `out_file` too, if one was given.
inline void EmitJson(const std::string& json, const std::optional<std::string>& out_file) {
  std::fputs(json.c_str(), stdout);
  if (out_file) std::ofstream(*out_file) << json;
}

}  // namespace peerlink::bench
