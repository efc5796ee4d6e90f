// --resume-state FILE of `dc-peer` and `pipe`: Careful Resume (Configuration::sctp_resume) from
// one run to the next. The file holds one JSON object,
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

// Replaces the file (write then rename) with what `stats` retained; nothing is written when the
// connection measured nothing. Returns "" or what went wrong.
std::string SaveResumeState(const std::string& path, const Stats& stats);

}  // namespace peerlink::cli
