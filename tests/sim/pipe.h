// One direction of a simulated link: a sans-I/O model of MTU, rate/queue, loss, duplication and delay.
// Network owns two Pipes per link and turns their verdicts into scheduled events.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <utility>

#include "src/base/rng.h"
#include "src/base/time.h"
#include "tests/sim/link_conditions.h"

namespace peerlink::sim {

class Pipe {
 public:
  // What happens to one datagram: dropped for a reason, or delivered at one or two (duplicate) arrival times.
  struct Verdict {
    std::optional<DropReason> drop;
    int copies = 0;  // 0 when dropped, else 1 or 2
    Instant arrival[2];
    bool reordered = false;  // at least one copy was held back by reorder_delay
  };

  explicit Pipe(const LinkConditions& conditions = {}) : conditions_(conditions) {}

  const LinkConditions& conditions() const { return conditions_; }
  // Takes effect for datagrams entering after the call; queued bytes and the burst state carry over.
  void set_conditions(const LinkConditions& conditions) { conditions_ = conditions; }

  // Checked before Admit so that the MTU drop is counted ahead of the drop filter.
  bool FitsMtu(size_t ip_size) const { return ip_size <= conditions_.mtu; }

  // A datagram of `ip_size` bytes enters the link at `now`. Draws from `rng` only for impairments that are enabled.
  Verdict Admit(Instant now, size_t ip_size, Rng& rng);

  // Bytes accepted by the rate limiter but not yet serialised onto the wire at `now`.
  size_t QueuedBytes(Instant now);
  bool in_bad_state() const { return bad_state_; }

 private:
  bool LoseOne(Rng& rng);
  Instant DelayOne(Instant departure, Rng& rng, bool& reordered);

  LinkConditions conditions_;
  // Rate limiter: when the wire is free again, and (departure time, bytes) of datagrams still being serialised.
  // Bounded: the byte total never exceeds queue_bytes and each entry is at least 28 bytes.
  Instant busy_until_;
  std::deque<std::pair<Instant, size_t>> in_queue_;
  size_t queued_bytes_ = 0;
  bool bad_state_ = false;
  Instant last_arrival_;  // FIFO clamp for jitter
};

}  // namespace peerlink::sim
