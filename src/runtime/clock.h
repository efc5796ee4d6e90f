// The runtime's clock: std::chrono::steady_clock mapped onto peerlink::Instant.
//
// This is the only place in peerlink that reads a clock. Cores receive `now`
// as an argument; the runtime calls Now() once per input (socket read, timer
// expiry, user command) and passes the same value to the core call and to the
// PollOutput drain that follows it.
#pragma once

#include <chrono>
#include <cstdint>

#include "src/base/time.h"

namespace peerlink::runtime {

using SteadyTimePoint = std::chrono::steady_clock::time_point;

// Monotonic time; the epoch is steady_clock's (arbitrary, usually boot).
Instant Now();

// Converts between Instant and steady_clock time points (for asio timers).
// Instant::Max() has no time point; callers must not arm a timer for it.
SteadyTimePoint ToTimePoint(Instant at);
Instant FromTimePoint(SteadyTimePoint tp);

// Wall-clock seconds since the Unix epoch. Only for values that leave the
// process with wall-clock meaning (TURN REST credential expiry), never for
// protocol timing.
int64_t UnixSeconds();

}  // namespace peerlink::runtime
