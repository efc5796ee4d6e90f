#include "tests/sim/pipe.h"

#include <algorithm>

#include "src/base/check.h"

namespace peerlink::sim {

std::string_view ToString(DropReason reason) {
  switch (reason) {
    case DropReason::kLoss: return "loss";
    case DropReason::kMtu: return "mtu";
    case DropReason::kQueue: return "queue";
    case DropReason::kNatNoMapping: return "nat-no-mapping";
    case DropReason::kNatFiltered: return "nat-filtered";
    case DropReason::kNoListener: return "no-listener";
    case DropReason::kFilter: return "filter";
    case DropReason::kNoRoute: return "no-route";
  }
  return "?";
}

namespace {

// A draw only when the probability can matter, so a clean link consumes no randomness.
bool Chance(double p, Rng& rng) {
  if (p <= 0) return false;
  if (p >= 1) return true;
  return rng.Unit() < p;
}

}  // namespace

size_t Pipe::QueuedBytes(Instant now) {
  while (!in_queue_.empty() && in_queue_.front().first <= now) {
    queued_bytes_ -= in_queue_.front().second;
    in_queue_.pop_front();
  }
  return queued_bytes_;
}

bool Pipe::LoseOne(Rng& rng) {
  if (bad_state_) {
    if (Chance(conditions_.burst_p_bad_to_good, rng)) bad_state_ = false;
  } else {
    if (Chance(conditions_.burst_p_good_to_bad, rng)) bad_state_ = true;
  }
  return Chance(bad_state_ ? conditions_.burst_loss_in_bad : conditions_.loss, rng);
}

Instant Pipe::DelayOne(Instant departure, Rng& rng, bool& reordered) {
  Instant arrival = departure + conditions_.latency;
  if (conditions_.jitter > Duration::Zero()) {
    arrival += Duration::Nanos(static_cast<int64_t>(rng.Below(static_cast<uint64_t>(conditions_.jitter.nanos()) + 1)));
  }
  if (Chance(conditions_.reorder, rng)) {
    reordered = true;
    return arrival + conditions_.reorder_delay;
  }
  arrival = std::max(arrival, last_arrival_);
  last_arrival_ = arrival;
  return arrival;
}

Pipe::Verdict Pipe::Admit(Instant now, size_t ip_size, Rng& rng) {
  Verdict v;
  if (!FitsMtu(ip_size)) {
    v.drop = DropReason::kMtu;
    return v;
  }
  Instant departure = now;
  if (conditions_.rate_bytes_per_sec > 0) {
    if (QueuedBytes(now) + ip_size > conditions_.queue_bytes) {
      v.drop = DropReason::kQueue;
      return v;
    }
    // ip_size <= 65535 + 48, so the product fits in 64 bits. Round up: a datagram never leaves early.
    const uint64_t rate = conditions_.rate_bytes_per_sec;
    const uint64_t tx_nanos = (uint64_t{ip_size} * 1'000'000'000ULL + rate - 1) / rate;
    departure = std::max(now, busy_until_) + Duration::Nanos(static_cast<int64_t>(tx_nanos));
    busy_until_ = departure;
    in_queue_.emplace_back(departure, ip_size);
    queued_bytes_ += ip_size;
  }
  if (LoseOne(rng)) {
    v.drop = DropReason::kLoss;
    return v;
  }
  v.copies = Chance(conditions_.duplicate, rng) ? 2 : 1;
  for (int i = 0; i < v.copies; ++i)
    v.arrival[i] = DelayOne(departure, rng, v.reordered);
  return v;
}

}  // namespace peerlink::sim
