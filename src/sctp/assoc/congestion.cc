// Congestion control (RFC 9260 section 7.2), with the tuning described in
// docs/sctp.md: a larger initial window, slow start counting all acked bytes,
// and a configurable decrease factor.
#include <algorithm>
#include <optional>

#include "src/sctp/assoc/tcb.h"

namespace peerlink::sctp {
void Association::OnBytesAcked(size_t bytes_acked, bool cumulative_advanced) {
  Tcb& t = *tcb_;
  // Section 7.2.1/7.2.2: cwnd grows only when the cumulative ack advances,
  // never during fast recovery, and only if the window was in use.
  if (!cumulative_advanced || bytes_acked == 0 || t.fast_recovery_exit) return;
  // "In use" also when new data is waiting only for the pacer: data is queued, so the sender is
  // not application-limited. Without it slow start grew cwnd ~1.5x per round trip instead of 2x:
  // paced at 2 * cwnd / SRTT, the pacer is at most one packet behind the ack clock, and every
  // SACK that arrived while it was saw a window just short of full and grew nothing (a 100 ms
  // path took ~3.5 s instead of ~1.2 s to reach a 32 MiB window).
  bool was_full = t.flight_bytes + bytes_acked + options_.mtu >= t.cwnd || t.pacer_limited;
  if (!was_full) return;
  if (t.cwnd <= t.ssthresh) {
    // Slow start. The RFC's min(bytes_acked, MTU) per SACK halves the growth
    // rate under delayed acks; we count every acked byte (RFC 3465 without L).
    size_t inc = options_.slow_start_full_byte_counting ? bytes_acked : std::min(bytes_acked, options_.mtu);
    if (RapidStartSeesNoQueue()) {
      inc *= 2;  // two bytes per byte acked: each acked byte lets three leave, 3x per round trip
      t.round_grew_3x = true;
    }
    t.cwnd = std::min(t.cwnd + inc, kMaxCwnd);
    return;
  }
  // Congestion avoidance (section 7.2.2): one MTU per cwnd of acked bytes.
  t.partial_bytes_acked += bytes_acked;
  if (t.partial_bytes_acked >= t.cwnd) {
    t.partial_bytes_acked -= t.cwnd;
    t.cwnd = std::min(t.cwnd + options_.mtu, kMaxCwnd);
  }
}

bool Association::RapidStartSeesNoQueue() const {
  const Tcb& t = *tcb_;
  // Once HyStart has seen the queue (or the pipe full), growth stays classic, also when the exit
  // is undone: 3x growth resumed after an undo overshot a 0.8-BDP queue by 481 retransmissions.
  if (t.rapid != Tcb::RapidStart::kGrowing || !t.min_rtt || counters_.hystart_exits > 0) return false;
  // rtt_floor over the last run of 8 samples, not over the round the draft suggests: paced, a round
  // starts with the queue drained, so a round's minimum stays low while its later samples climb,
  // and 3x growth carried on into a loss burst (436 retransmissions against < 50 in
  // SctpCongestion.SlowStartLeavesBeforeTheQueueOverflows with the round's minimum).
  if (!t.rtt_floor) return false;
  const Duration threshold = std::min(*t.min_rtt + Duration::Millis(4), *t.min_rtt * 11 / 10);
  return *t.rtt_floor <= threshold;
}

void Association::OnRttSample(Instant now, Duration rtt) {
  Tcb& t = *tcb_;
  if (!t.min_rtt || rtt < *t.min_rtt) t.min_rtt = rtt;
  if (t.rapid == Tcb::RapidStart::kGrowing)
    if (const std::optional<Duration> run_min = t.rapid_runs.Add(rtt)) t.rtt_floor = run_min;
  if (!options_.hystart || t.bbr || t.fast_recovery_exit) return;
  // Careful Resume's jump is paced evenly over one RTT, so its SACKs form an unbroken train for a
  // whole round whatever the path's capacity: not HyStart's "the window fills the pipe" signal.
  if (t.resume && (t.resume->phase() == CarefulResume::Phase::kUnvalidated ||
                   t.resume->phase() == CarefulResume::Phase::kValidating))
    return;
  const Duration threshold = RttRuns::Threshold(*t.min_rtt);
  if (t.cwnd > t.ssthresh) {
    // Undo: after a delay-based exit, a run of 8 samples back below min_rtt + threshold / 2
    // within 3 rounds means the rise was not our queue (cwnd above the BDP keeps a standing queue,
    // so the RTT would stay up) but a transient one: a descheduled receiver, a burst from a delay
    // line. Without it one such blip on a 20 ms path left cwnd at 1 MB for the rest of a 256 MiB
    // transfer, growing one MTU per round (40 MB/s instead of ~200).
    if (t.hystart_undo_rounds == 0) return;
    auto run_min = t.hystart_runs.Add(rtt);
    if (run_min && *run_min < *t.min_rtt + threshold / 2) {
      t.ssthresh = kMaxCwnd;
      t.hystart_undo_rounds = 0;
      counters_.hystart_undos++;
    }
    return;
  }
  if (t.cwnd < 16 * options_.mtu) return;
  bool exit = false, delay_exit = false;
  // Ack train: SACKs no more than 2 ms apart since the round began, for longer than min_rtt
  // (min_rtt / 2 unpaced), mean the data of the last round already fills the pipe.
  if (now - t.hystart_last_ack <= Duration::Millis(2)) {
    t.hystart_last_ack = now;
    // Paced, a round's data leaves over up to SRTT/2 by design (gain 2), so
    // the train must last a whole min_rtt (as Linux does when pacing).
    Duration train = options_.enable_pacing ? *t.min_rtt : *t.min_rtt / 2;
    // Plus the time batching alone stretches a train by, as Linux's hystart_ack_delay allows:
    // packets go out and are read in batches (a GSO send, a recvmmsg, a DTLS worker's turn, a
    // late wake-up), so acks come in bursts with gaps between them however empty the path is.
    // Four 64 KiB batches at the current rate (2 cwnd / SRTT), at most 1 ms; from 20 ms up the
    // cap applies (a twentieth of the RTT or less). Without it, at the 20-50 us RTT between two
    // network namespaces, slow start ended early in every 32 MiB transfer: 706-825 MB/s in 12
    // runs, against 621-1013 (median 995) with it (docs/sctp.md item 9).
    // cwnd >= 16 MTUs here (above), so the division is safe.
    const double srtt_ns = static_cast<double>(t.rto.srtt().value_or(*t.min_rtt).nanos());
    constexpr double kBatchAllowance = 4 * 64 * 1024;
    const auto batching = Duration::Nanos(static_cast<int64_t>(srtt_ns * kBatchAllowance / (2.0 * t.cwnd)));
    train += std::min(Duration::Millis(1), batching);
    // And at least 1 ms: the allowance is in bytes, but a sub-millisecond path's trains are
    // stretched by time as much (scheduling, timer slack, a DTLS worker's turn). Between two
    // namespaces (min RTT ~25 us) the 32 MiB cell then ended slow start at 209-325 KB in six full
    // runs of six (498-684 MB/s); with the floor at 1.0-1.2 MB in six T4-only runs (904-1067
    // MB/s, srtt 0.6-0.8 ms), and at 692 KB (559.5) in one full run (docs/sctp.md item 9).
    train = std::max(train, Duration::Millis(1));
    if (now - t.hystart_round_start > train) exit = true;
  }
  // Delay increase: a run of 8 samples whose minimum is above min_rtt + clamp(min_rtt / 8, 4 ms,
  // 16 ms): the bottleneck queue is growing. Every run is checked, not only a round's first 8
  // samples as HyStart++ (RFC 9406) does: paced, a round starts with the queue drained, so its
  // first samples stay low while the later ones grow, and with slow start doubling every round
  // the first-8 rule exited one round too late and overflowed a 0.8 BDP queue (218
  // retransmissions in SlowStartLeavesBeforeTheQueueOverflows; 90 with a shorter ack train).
  auto run_min = t.hystart_runs.Add(rtt);
  if (run_min && *run_min >= *t.min_rtt + threshold) exit = delay_exit = true;
  if (exit) {
    t.ssthresh = t.cwnd - options_.mtu;  // cwnd <= ssthresh would still be slow start
    counters_.hystart_exits++;
    if (!delay_exit) counters_.hystart_train_exits++;
    t.hystart_undo_rounds = delay_exit ? 3 : 0;
    t.hystart_runs.Reset();
  }
}

void Association::OnRoundEnd(Instant now) {
  Tcb& t = *tcb_;
  t.hystart_round_end = t.next_tsn - 1;
  t.hystart_round_start = now;
  t.hystart_last_ack = now;
  t.hystart_runs.Reset();
  if (!t.round_lossy) t.retained_cwnd = std::max(t.retained_cwnd, t.round_acked);
  t.round_acked = 0;
  t.round_lossy = false;
  if (t.round_grew_3x) counters_.rapid_start_rounds++;
  t.round_grew_3x = false;
  if (t.hystart_undo_rounds > 0 && t.cwnd > t.ssthresh) t.hystart_undo_rounds--;
}

void Association::OnPacketPaced(Instant now, size_t bytes) {
  Tcb& t = *tcb_;
  auto srtt = t.rto.srtt();
  if (!options_.enable_pacing || !srtt) return;
  double interval_ns = 0;
  const std::optional<double> resume_rate = t.resume ? t.resume->pacing_rate() : std::nullopt;
  if (resume_rate && *resume_rate > 0) {
    // Careful Resume's jump leaves evenly over the RTT, whatever the controller's own rate.
    interval_ns = static_cast<double>(bytes) * 1e9 / *resume_rate;
  } else if (t.bbr && t.bbr->pacing_rate() > 0) {
    interval_ns = static_cast<double>(bytes) * 1e9 / t.bbr->pacing_rate();
  } else {
    // interval = bytes / (gain * cwnd / srtt); gain 2 in slow start, 1.25 after.
    int64_t gain_x4 = t.cwnd <= t.ssthresh ? 8 : 5;
    interval_ns = static_cast<double>(srtt->nanos()) * static_cast<double>(bytes) * 4 /
                  (static_cast<double>(gain_x4) * static_cast<double>(t.cwnd));
  }
  // A wake-up of the pacing timer that came late keeps the time it lost, up to pacing_max_lag:
  // an event loop wakes tens of microseconds after the deadline, and restarting the schedule at
  // `now` would cap the rate at one packet per wake-up whatever cwnd allows.
  const Instant earliest = t.pacer_limited ? now - options_.pacing_max_lag : now;
  t.pacing_next = std::max(t.pacing_next, earliest) + Duration::Nanos(static_cast<int64_t>(interval_ns));
  // Retransmissions are not held by the pacer but are charged to it, at the rate of the moment.
  // After a T3 that rate is one MTU per SRTT / 2 while late SACKs for the old flight clock the
  // go-back-N retransmissions out much faster, so the charge ran seconds ahead of the clock and
  // new data waited for it with the window open (18 s in SctpFairness.SharesOfOneBottleneck's
  // 100 ms / 128 KiB Reno cell). cwnd already bounds what is in flight; the pacer spreads a
  // window over at most one round trip, so it never holds new data for longer than that.
  t.pacing_next = std::min(t.pacing_next, now + *srtt);
}

void Association::EnterFastRecovery(size_t newly_acked) {
  Tcb& t = *tcb_;
  if (t.bbr) {
    t.bbr->OnEnterRecovery(t.flight_bytes, newly_acked, &t.cwnd);
    t.fast_recovery_exit = t.next_tsn - 1;
    return;
  }
  if (t.rapid == Tcb::RapidStart::kGrowing) {
    // Rapid Start's first recovery: hold back briefly (cwnd *= silence_factor, so nothing leaves
    // until that much is in flight) and then shrink with every byte acked or lost, so that cwnd
    // ends at beta times what the path held, whatever the overshoot, without a burst or an idle
    // bottleneck. The floors: beta / 3 of the window at the loss (the BDP times beta had the last
    // round grown 3x), beta times the initial window, and the RFC's 4 MTUs.
    const double beta = options_.loss_decrease_factor;
    const size_t initial = std::max<size_t>(options_.initial_cwnd_mtus, 1) * options_.mtu;
    t.rapid_floor = std::max({static_cast<size_t>(static_cast<double>(t.cwnd) * beta / 3),
                              static_cast<size_t>(static_cast<double>(initial) * beta), 4 * options_.mtu});
    const double silence = beta + (1 - beta) * 2 / 3;
    t.cwnd = std::max(static_cast<size_t>(static_cast<double>(t.cwnd) * silence), t.rapid_floor);
    t.ssthresh = t.cwnd;
    t.rapid = Tcb::RapidStart::kRecovering;
    counters_.rapid_start_recoveries++;
    t.partial_bytes_acked = 0;
    t.fast_recovery_exit = t.next_tsn - 1;
    t.hystart_undo_rounds = 0;
    return;
  }
  if (t.rapid != Tcb::RapidStart::kOff) t.rapid = Tcb::RapidStart::kDone;
  // Section 7.2.3: ssthresh = max(cwnd/2, 4*MTU), cwnd = ssthresh.
  size_t reduced = static_cast<size_t>(static_cast<double>(t.cwnd) * options_.loss_decrease_factor);
  t.ssthresh = std::max(reduced, 4 * options_.mtu);
  t.cwnd = t.ssthresh;
  t.partial_bytes_acked = 0;
  t.fast_recovery_exit = t.next_tsn - 1;  // section 7.2.4 step 2
  t.hystart_undo_rounds = 0;              // a loss is not a transient
}

void Association::OnT3CongestionEvent() {
  Tcb& t = *tcb_;
  if (t.bbr) {
    // The model is kept; the window restarts from one MTU and is restored once what was in
    // flight at the timeout is acknowledged (the recovery point).
    t.bbr->OnRetransmissionTimeout(&t.cwnd);
    t.fast_recovery_exit = t.next_tsn - 1;
    OnCarefulResumeCongestion();
    return;
  }
  // Section 7.2.3: on T3-rtx expiry ssthresh = max(cwnd/2, 4*MTU), cwnd = 1 MTU. Rapid Start
  // ends: slow start after a timeout is the classic one.
  if (t.rapid != Tcb::RapidStart::kOff) t.rapid = Tcb::RapidStart::kDone;
  t.ssthresh = std::max(t.cwnd / 2, 4 * options_.mtu);
  t.cwnd = options_.mtu;
  t.partial_bytes_acked = 0;
  t.hystart_undo_rounds = 0;
  t.fast_recovery_exit.reset();
  OnCarefulResumeCongestion();
}

void Association::OnRapidStartRecoveryAck(size_t newly_acked, size_t newly_lost) {
  Tcb& t = *tcb_;
  if (t.rapid != Tcb::RapidStart::kRecovering) return;
  if (!t.fast_recovery_exit) {  // the recovery point was acknowledged: Rapid Start is over
    t.rapid = Tcb::RapidStart::kDone;
    t.ssthresh = t.cwnd;
    return;
  }
  if (t.cwnd <= t.rapid_floor) return;  // nothing left to take off
  const double beta = options_.loss_decrease_factor;
  const double ack_factor = (1 - beta) * 2 / 3, loss_factor = beta + ack_factor;
  const double cut = ack_factor * static_cast<double>(newly_acked) + loss_factor * static_cast<double>(newly_lost);
  const size_t room = t.cwnd - t.rapid_floor;
  t.cwnd -= std::min(room, static_cast<size_t>(cut));
  t.ssthresh = t.cwnd;
}

void Association::OnCarefulResumeCongestion() {
  Tcb& t = *tcb_;
  if (!t.resume) return;
  const std::optional<size_t> retreat = t.resume->OnCongestion(t.next_tsn);
  if (!retreat) return;
  // Safe Retreat: half of what the path delivered since the jump, and slow start is over. After
  // a T3 cwnd stays at its one MTU and slow-starts back to this.
  counters_.resume_retreats++;
  t.cwnd = std::min(t.cwnd, *retreat);
  t.ssthresh = *retreat;
  t.hystart_undo_rounds = 0;
}

void Association::OnCarefulResumeAck(size_t newly_acked, bool rtt_sample) {
  Tcb& t = *tcb_;
  if (t.resume->phase() == CarefulResume::Phase::kReconnaissance) {
    if (!rtt_sample || !t.min_rtt) return;
    const bool congestion = counters_.fast_retransmits > 0 || counters_.t3_expiries > 0;
    const std::optional<size_t> jump =
        t.resume->OnReconnaissanceAck(*t.min_rtt, congestion, t.cwnd, t.send_queue.HasDataToSend(), t.next_tsn);
    if (!jump) return;
    counters_.resume_jumps++;
    t.cwnd = std::min(*jump, kMaxCwnd);
    if (t.rapid != Tcb::RapidStart::kOff) t.rapid = Tcb::RapidStart::kDone;  // the jump governs
    t.pacing_next = Instant();  // the paced jump starts now, not after the last packet's slot
    return;
  }
  if (std::optional<size_t> cwnd = t.resume->OnAck(t.cumulative_ack, newly_acked, t.next_tsn, t.cwnd))
    t.cwnd = std::min(*cwnd, kMaxCwnd);
}

}  // namespace peerlink::sctp
