// See sctp_flags.h.
#include "tools/peerlink/sctp_flags.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace peerlink::cli {

LoadedResumeState LoadResumeState(const std::string& path) {
  LoadedResumeState out;
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return out;
    out.error = "cannot read the resume state " + path + ": " + std::strerror(errno);
    return out;
  }
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, false);
  const auto bad = [&](const std::string& why) {
    out.error = "bad resume state in " + path + ": " + why + " (delete the file to start cold)";
    return out;
  };
  if (!j.is_object()) return bad("not a JSON object");
  const auto cwnd = j.find("congestion_window");
  const auto rtt = j.find("round_trip_time");
  if (cwnd == j.end() || !cwnd->is_number_unsigned())
    return bad("congestion_window must be a positive integer (bytes)");
  if (rtt == j.end() || !rtt->is_number()) return bad("round_trip_time must be a number (seconds)");
  const SctpResumeState state{cwnd->get<uint64_t>(), rtt->get<double>()};
  if (!state.valid()) return bad("congestion_window must be above 0 and round_trip_time in (0, 60] seconds");
  out.state = state;
  return out;
}

std::string SaveResumeState(const std::string& path, const Stats& stats) {
  if (stats.sctp.retainedCongestionWindow == 0 || !stats.sctp.minRoundTripTime) return "";
  const nlohmann::json j = {{"congestion_window", stats.sctp.retainedCongestionWindow},
                            {"round_trip_time", *stats.sctp.minRoundTripTime}};
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return "cannot write " + tmp + ": " + std::strerror(errno);
    out << j.dump() << "\n";
    if (!out.flush()) return "cannot write " + tmp + ": " + std::strerror(errno);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    return "cannot replace " + path + ": " + why;
  }
  return "";
}

std::string ApplySctpFlags(const std::string& congestion_control,
                           bool rapid_start,
                           const std::string& resume_state,
                           Configuration& config) {
  if (congestion_control == "bbr") {
    if (rapid_start) return "--rapid-start applies to --congestion-control reno only (BBR has its own startup)";
    config.sctp_congestion_control = SctpCongestionControl::kBbr;
  }
  config.sctp_rapid_start = rapid_start;
  if (!resume_state.empty()) {
    LoadedResumeState loaded = LoadResumeState(resume_state);
    if (!loaded.error.empty()) return loaded.error;
    config.sctp_resume = loaded.state;
  }
  return "";
}

}  // namespace peerlink::cli
