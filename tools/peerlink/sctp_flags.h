// The SCTP flags `dc-peer` and `pipe` share: --congestion-control, --rapid-start and
// --resume-state FILE. The last is Careful Resume (Configuration::sctp_resume) from one run to the
// next. The file holds one JSON object,
//   {"congestion_window": BYTES, "round_trip_time": SECONDS}
// what the previous run's connection retained (Stats::sctp.retainedCongestionWindow and
// minRoundTripTime). The file is the key: use one per peer and path.
#pragma once

#include <peerlink/peer_connection.h>

#include <optional>
#include <string>

namespace peerlink::cli {

struct LoadedResumeState {
  std::optional<SctpResumeState> state;  // none: no file yet (a first run)
  std::string error;                     // unreadable or malformed: say so, exit 2
};
LoadedResumeState LoadResumeState(const std::string& path);

// Sets `config` from the flags: "" or a usage error to print before exiting 2 (an unreadable or
// malformed resume file, or --rapid-start with bbr, which has its own startup).
std::string ApplySctpFlags(const std::string& congestion_control,
                           bool rapid_start,
                           const std::string& resume_state,
                           Configuration& config);

// Replaces the file (write then rename) with what `stats` retained; nothing is written when the
// connection measured nothing. Returns "" or what went wrong.
std::string SaveResumeState(const std::string& path, const Stats& stats);

}  // namespace peerlink::cli
