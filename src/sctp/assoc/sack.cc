// Acknowledgement processing on the sending side (RFC 9260 section 6.2.1),
// fast retransmit (7.2.4), the T3-rtx timer (6.3.2, 6.3.3), and PR-SCTP
// abandonment with FORWARD-TSN / I-FORWARD-TSN (RFC 3758 section 3.5,
// RFC 8260 section 2.3), plus receiving those.
#include <algorithm>
#include <map>
#include <vector>

#include "src/base/check.h"
#include "src/sctp/assoc/tcb.h"
#include "src/sctp/data_chunks.h"
#include "src/sctp/packet.h"

namespace peerlink::sctp {

void Association::HandleSack(Instant now, const ChunkView& c) {
  if (!tcb_ || state_ == State::kCookieWait || state_ == State::kCookieEchoed) return;
  auto sack = SackChunk::Parse(c);
  if (!sack) return;
  Tcb& t = *tcb_;
  UnwrappedTsn cum = TsnUnwrapper::Unwrap(t.cumulative_ack, sack->cumulative_tsn_ack);
  // Section 6.2.1 D i): a SACK older than the cumulative ack point is stale.
  if (cum < t.cumulative_ack) return;
  // Acking a TSN never sent: a protocol violation we ignore rather than trust.
  if (cum >= t.next_tsn) return;
  bool cum_advanced = cum > t.cumulative_ack;
  size_t newly_acked = 0;
  // Options::rapid_start: bytes of what was in flight when recovery began, acked or declared lost
  // by this SACK (InRapidStartAccounting).
  size_t first_acked = 0, first_lost = 0;
  std::optional<Duration> rtt;
  // RACK: the most recently sent chunk this SACK delivers. A retransmitted chunk counts only when
  // its ack cannot be the original's (RFC 8985 section 6.2 step 2: at least min RTT after it left).
  std::optional<Instant> rack_sent;
  uint64_t rack_order = 0;
  auto ack_chunk = [&](OutstandingChunk& ch) {
    switch (ch.state) {
      case OutstandingChunk::State::kAcked: return;
      case OutstandingChunk::State::kInFlight:
        t.flight_bytes -= ch.size;
        newly_acked += ch.size;
        // Karn's rule (section 6.3.1 C5): no RTT samples from retransmitted chunks.
        // The smallest sample of this SACK: a chunk acked late because the
        // SACK had no room for its gap block would inflate SRTT.
        if (ch.transmissions == 1 && (!rtt || now - ch.sent_at < *rtt)) rtt = now - ch.sent_at;
        if (InRapidStartAccounting(ch)) first_acked += ch.size;
        if ((ch.transmissions == 1 || (t.min_rtt && now - ch.sent_at >= *t.min_rtt)) &&
            (!rack_sent || ch.send_order > rack_order)) {
          rack_sent = ch.sent_at;
          rack_order = ch.send_order;
        }
        if (t.bbr) t.rate.OnDelivered(now, ch.rate, ch.sent_at, ch.size);
        break;
      case OutstandingChunk::State::kToRetransmit:
        t.to_retransmit--;
        newly_acked += ch.size;
        if (t.bbr) t.rate.OnDelivered(now, ch.rate, ch.sent_at, ch.size);
        break;
      case OutstandingChunk::State::kAbandoned: break;
    }
    t.outstanding_bytes -= ch.size;
    ch.state = OutstandingChunk::State::kAcked;
    ch.skip = 1;
  };
  while (!t.outstanding.empty() && t.outstanding.front().tsn <= cum) {
    OutstandingChunk& front = t.outstanding.front();
    ack_chunk(front);
    // The last reference to a finished message: its block goes to the pool. (SendQueue made
    // the buffer non-const; only the Payload handle is const.)
    if (front.fragment.payload.use_count() == 1)
      message_pool_.Put(std::move(const_cast<std::vector<uint8_t>&>(*front.fragment.payload)));
    t.held_bytes -= front.size;
    t.outstanding.pop_front();
  }
  t.cumulative_ack = cum;

  UnwrappedTsn highest_newly_acked = cum;
  UnwrappedTsn highest_in_sack = cum;
  // Gap offsets from `cum`, inclusive. Offset 1 is the chunk the cumulative ack says is missing:
  // a block that claims it contradicts the SACK's own cumulative ack, and taken at its word it
  // left that chunk acked but unsent for good (and the front of the queue acked, which the
  // FORWARD-TSN walks step over on every SACK). Blocks count from offset 2.
  auto ack_offsets = [&](uint32_t from, uint32_t to) {
    from = std::max<uint32_t>(from, 2);
    const size_t end = std::min<size_t>(to, t.outstanding.size());  // index past the block
    if (from > end) return;
    highest_in_sack = std::max(highest_in_sack, t.outstanding[end - 1].tsn);
    // Only what is not acked yet: a SACK reports every gap-acked chunk again, and walking them
    // all made each SACK cost the window (bench/sctp_bench.cc, "hostile_sack").
    for (size_t idx = NextUnacked(from - 1); idx < end; idx = NextUnacked(idx + 1)) {
      OutstandingChunk& ch = t.outstanding[idx];
      ack_chunk(ch);
      highest_newly_acked = std::max(highest_newly_acked, ch.tsn);
    }
  };
  // Section 3.3.4: the blocks come in ascending order, apart, and are walked as they come. Out of
  // order or overlapping, they are sorted and every offset is visited once, so that one SACK
  // costs at most the window: one block repeated in every slot of a SACK made it walk the window
  // that many times over (bench/sctp_bench.cc, "hostile_sack").
  bool ascending = true;
  for (size_t i = 1; i < sack->gap_block_count && ascending; ++i)
    ascending = sack->gap_block(i).start > sack->gap_block(i - 1).end;
  if (ascending) {
    for (size_t i = 0; i < sack->gap_block_count; ++i)
      ack_offsets(sack->gap_block(i).start, sack->gap_block(i).end);
  } else {
    std::vector<GapAckBlock> blocks(sack->gap_block_count);
    for (size_t i = 0; i < blocks.size(); ++i)
      blocks[i] = sack->gap_block(i);
    std::sort(blocks.begin(), blocks.end(),
              [](const GapAckBlock& x, const GapAckBlock& y) { return x.start < y.start; });
    uint32_t next = 1;  // the lowest offset not yet visited
    for (const GapAckBlock& g : blocks) {
      const uint32_t from = std::max<uint32_t>(g.start, next);
      if (from > g.end) continue;
      ack_offsets(from, g.end);
      next = uint32_t{g.end} + 1;
    }
  }
  if (rtt) {
    t.rto.Observe(*rtt);
    OnRttSample(now, *rtt);
  }
  t.rack_highest_reported = std::max(t.rack_highest_reported, highest_in_sack);
  if (rack_sent && (!t.rack_sent || rack_order > t.rack_order)) {
    t.rack_sent = rack_sent;
    t.rack_order = rack_order;
    t.rack_rtt = now - *rack_sent;
  }
  t.round_acked += newly_acked;
  if (cum_advanced && cum >= t.hystart_round_end) OnRoundEnd(now);

  // Section 7.2.4: miss indications with the HTNA rule; in fast recovery a
  // SACK that advances the cumulative ack counts every reported hole.
  bool in_recovery = t.fast_recovery_exit.has_value();
  UnwrappedTsn limit = (in_recovery && cum_advanced) ? highest_in_sack : highest_newly_acked;
  bool any_fast = false;
  if (sack->gap_block_count > 0) {
    for (size_t idx = NextUnacked(0); idx < t.outstanding.size(); idx = NextUnacked(idx + 1)) {
      OutstandingChunk& ch = t.outstanding[idx];
      if (ch.tsn >= limit) break;
      if (ch.state != OutstandingChunk::State::kInFlight) continue;
      // A retransmitted chunk is missing only if something sent after its
      // retransmission was newly acked; three such SACKs and it is sent again
      // (RFC 9260 leaves this open; dcSCTP and Linux do the same in spirit).
      if (ch.transmissions > 1 && highest_newly_acked < ch.retransmit_fence) continue;
      if (++ch.nacks < 3) continue;
      const bool rapid = InRapidStartAccounting(ch);
      if (!DeclareLost(now, ch)) continue;
      if (rapid) first_lost += ch.size;
      any_fast = true;
    }
  }
  if (options_.rack && RackDetectLosses(now, first_lost)) any_fast = true;
  if (t.fast_recovery_exit && cum >= *t.fast_recovery_exit) {
    t.fast_recovery_exit.reset();
    if (t.bbr) t.bbr->OnExitRecovery(&t.cwnd);
  }
  if (any_fast) OnLossesDeclared(newly_acked);
  if (t.tlp_end) OnTailLossProbeSack(*sack, cum, newly_acked);
  if (t.bbr) {
    const RateSample rs = t.rate.TakeSample(t.bbr->min_rtt());
    t.bbr->OnAck(now, rs, rtt, newly_acked, t.flight_bytes, t.rate.delivered(), &t.cwnd);
    // ProbeRTT's 4 MTUs per round trip say nothing about the path: what is sent during it is
    // application-limited (the draft's BBRHandleProbeRTT, Linux's bbr_update_min_rtt). Counted,
    // those samples aged the real estimate out of the filter, and ProbeBW then crawled back
    // from a fraction of a Mbit/s at 1.25x per cycle (SctpFairness.*).
    if (t.bbr->mode() == Bbr::Mode::kProbeRtt) t.rate.MarkAppLimited(t.flight_bytes);
  } else {
    OnBytesAcked(newly_acked, cum_advanced);
    OnRapidStartRecoveryAck(first_acked, first_lost);
  }
  if (t.resume) OnCarefulResumeAck(newly_acked, rtt.has_value() && cum_advanced);

  // Section 6.2.1: rwnd = a_rwnd - bytes still outstanding.
  t.peer_rwnd = sack->a_rwnd > t.outstanding_bytes ? sack->a_rwnd - t.outstanding_bytes : 0;
  // Section 8.3: the error counter restarts when a DATA chunk is acknowledged, not on any SACK: a
  // peer that keeps answering but never acknowledges a chunk sent again and again is not
  // reachable for it (and would hold what Options::max_retransmit_buffer allows for good).
  // Section 6.1: nor do unanswered zero window probes count while SACKs come in.
  if (newly_acked > 0 || t.peer_rwnd < options_.mtu) t.error_count = 0;

  // Section 6.3.2 R2/R3.
  if (t.flight_bytes == 0 && t.to_retransmit == 0 && t.outstanding_bytes == 0) {
    t.t3_rtx.reset();
  } else if (cum_advanced) {
    t.t3_rtx = now + t.rto.rto();
  }
  if (t.caps.forward_tsn && AdvancedPeerAckPoint() > t.cumulative_ack) t.forward_tsn_needed = true;
  ArmTailLossProbe(now);
  if (!spare_buffers_.empty() && !HasDataInFlight()) spare_buffers_ = {};  // idle: keep no spares
}

size_t Association::NextUnacked(size_t i) {
  // The first index at or after i whose chunk is neither acked nor abandoned (or the end). Those
  // states are final, and each such chunk's `skip` spans only chunks in them, so the walk jumps
  // over runs; every chunk passed is then pointed at the answer (path compression), and a later
  // walk over the same run takes one step.
  std::deque<OutstandingChunk>& q = tcb_->outstanding;
  size_t j = i;
  while (j < q.size() && q[j].Final())
    j += std::max<uint32_t>(q[j].skip, 1);  // never 0 (IsConsistent); a slip must not hang the walk
  for (size_t k = i; k < j;) {
    const size_t next = k + std::max<uint32_t>(q[k].skip, 1);
    q[k].skip = static_cast<uint32_t>(j - k);
    k = next;
  }
  return j;
}

bool Association::InRapidStartAccounting(const OutstandingChunk& c) const {
  // Options::rapid_start: the fate of what was in flight when recovery began, each chunk counted
  // once (a retransmission's ack, or data sent during recovery, is not what the reduction is
  // about). Only while a Rapid Start recovery may begin or is under way.
  const Tcb& t = *tcb_;
  const bool counting = t.rapid == Tcb::RapidStart::kGrowing || t.rapid == Tcb::RapidStart::kRecovering;
  return counting && c.transmissions == 1 && (!t.fast_recovery_exit || c.tsn <= *t.fast_recovery_exit);
}

bool Association::DeclareLost(Instant now, OutstandingChunk& c) {
  Tcb& t = *tcb_;
  if (ShouldAbandon(now, c)) {
    AbandonMessage(c);
    return false;
  }
  c.state = OutstandingChunk::State::kToRetransmit;
  c.fast_retransmitted = true;
  t.flight_bytes -= c.size;
  t.to_retransmit++;
  counters_.fast_retransmits++;
  t.round_lossy = true;
  if (t.bbr) t.bbr->OnLoss(c.size);
  return true;
}

bool Association::RackDetectLosses(Instant now, size_t& rapid_lost) {
  // RFC 8985 section 6.2 (RACK_detect_loss), in time order without a time-sorted list. First
  // transmissions leave in TSN order, so they are walked from a cursor below which no chunk can
  // be an in-flight first transmission again; retransmissions are walked in the order they left
  // (rack_rtx_order, entries whose chunk has since been acked, lost or sent again are dropped).
  // Either walk stops at the first chunk sent after the reference or not yet lost, since every
  // later one left later: each SACK costs what it decides, not the window. Nor is a chunk above
  // the highest TSN the peer has reported judged: a SACK with more gaps than fit in a packet
  // leaves its highest blocks out, and what they hold would look lost.
  Tcb& t = *tcb_;
  t.rack_timer.reset();
  if (t.outstanding.empty()) {
    t.rack_rtx_order = {};  // released: an idle connection keeps no buffer
    t.rack_rtx_head = 0;
    return false;
  }
  if (!t.rack_sent) return false;
  const Duration reo_wnd = t.min_rtt ? std::min(*t.min_rtt / 4, t.rto.srtt().value_or(*t.min_rtt)) : Duration::Zero();
  const UnwrappedTsn front = t.outstanding.front().tsn;
  // Sent before the reference: by send order, not by time and TSN. Within one instant a
  // retransmission may leave before or after new data whatever its TSN; read as earlier, one
  // made at the instant a SACK delivered the reference was lost on the spot and sent again, over
  // and over while the clock stood still (50,000 times in one exchange on the zero-latency test
  // pair, against a receiver that never acknowledged it).
  auto sent_before_reference = [&](const OutstandingChunk& ch) {
    return ch.tsn <= t.rack_highest_reported && ch.send_order < t.rack_order;
  };
  bool any = false;
  // False when the chunk may still arrive: the timer is set for when it would be lost.
  auto lost = [&](OutstandingChunk& ch) {
    const Instant lost_at = ch.sent_at + t.rack_rtt + reo_wnd;
    if (lost_at > now) {
      if (!t.rack_timer || lost_at < *t.rack_timer) t.rack_timer = lost_at;
      return false;
    }
    const bool rapid = InRapidStartAccounting(ch);
    if (DeclareLost(now, ch)) {
      counters_.rack_losses++;
      if (rapid) rapid_lost += ch.size;
      any = true;
    }
    return true;
  };
  size_t i = t.rack_first_cursor > front ? static_cast<size_t>(t.rack_first_cursor - front) : 0;
  for (; i < t.outstanding.size(); ++i) {
    OutstandingChunk& ch = t.outstanding[i];
    if (ch.state != OutstandingChunk::State::kInFlight || ch.transmissions != 1) continue;
    if (!sent_before_reference(ch) || !lost(ch)) break;
  }
  t.rack_first_cursor = front + i;
  for (; t.rack_rtx_head < t.rack_rtx_order.size(); ++t.rack_rtx_head) {
    const auto [tsn, sent] = t.rack_rtx_order[t.rack_rtx_head];
    OutstandingChunk* ch = tsn >= front && tsn - front < t.outstanding.size() ? &t.outstanding[tsn - front] : nullptr;
    if (ch == nullptr || ch->state != OutstandingChunk::State::kInFlight || ch->sent_at != sent)
      continue;  // acked, lost or sent again since
    if (!sent_before_reference(*ch) || !lost(*ch)) break;
  }
  // Drop what the walk has passed once it is most of the vector.
  if (t.rack_rtx_head > 64 && 2 * t.rack_rtx_head > t.rack_rtx_order.size()) {
    t.rack_rtx_order.erase(t.rack_rtx_order.begin(),
                           t.rack_rtx_order.begin() + static_cast<ptrdiff_t>(t.rack_rtx_head));
    t.rack_rtx_head = 0;
  }
  return any;
}

void Association::OnRackTimer(Instant now) {
  Tcb& t = *tcb_;
  size_t rapid_lost = 0;
  if (!RackDetectLosses(now, rapid_lost)) return;
  OnLossesDeclared(0);
  if (!t.bbr) OnRapidStartRecoveryAck(0, rapid_lost);
}

void Association::ArmTailLossProbe(Instant now) {
  // RFC 8985 section 7.2, after new data leaves or a SACK arrives: a probe timeout of two SRTTs
  // while data is in flight, no probe is outstanding and no loss is being repaired.
  Tcb& t = *tcb_;
  t.tlp_timer.reset();
  const std::optional<Duration> srtt = t.rto.srtt();
  if (!options_.tail_loss_probe || !options_.rack || !srtt || t.flight_bytes == 0 || t.tlp_end ||
      t.fast_recovery_exit || t.to_retransmit > 0 || !t.t3_rtx)
    return;
  // Plus 2 ms, as Linux adds two timer ticks: below a millisecond of RTT (loopback, namespaces)
  // two SRTTs are shorter than one scheduling delay of either process, and each such wait would
  // send a probe for nothing.
  Duration pto = *srtt * 2 + Duration::Millis(2);
  // The SACK for a flight of one packet may wait for the peer's delayed-ack timer, unless that
  // packet asked for an immediate one; we take the peer's timer to be what ours is.
  if (t.flight_bytes <= options_.mtu && !t.last_data_immediate) pto += options_.delayed_ack;
  // Never later than T3: when T3 would come first (from ~100 ms of RTT up, with the 200 ms RTO
  // floor), the probe is sent in its place (RFC 8985 section 7.2), and T3 restarts after it.
  t.tlp_timer = std::min(now + pto, *t.t3_rtx);
}

void Association::OnTailLossProbeTimer() {
  Tcb& t = *tcb_;
  t.tlp_timer.reset();
  // Armed only in the state below, and any change since (a SACK, a loss, a T3) re-armed or
  // cleared it; checked again all the same.
  if (t.flight_bytes == 0 || t.tlp_end || t.fast_recovery_exit || t.to_retransmit > 0) return;
  t.tlp_due = true;
}

bool Association::WriteTailLossProbe(Instant now, ByteWriter& w) {
  // RFC 8985 section 7.3 with no new data to send: the highest TSN sent, again. If it is acked or
  // abandoned there is nothing to probe for (a reported chunk above a hole is RACK's to judge).
  Tcb& t = *tcb_;
  if (t.outstanding.empty()) return false;
  OutstandingChunk& c = t.outstanding.back();
  // A probe is a retransmission: a message past its PR-SCTP budget is not resent for it (T3 or
  // the next SACK abandons it).
  if (c.state != OutstandingChunk::State::kInFlight || ShouldAbandon(now, c)) return false;
  if (w.remaining() < PadTo4(DataHeaderSize() + c.fragment.length)) return false;
  WriteDataChunk(w, c.tsn, c.fragment, true);  // and the peer SACKs at once
  // Still in flight (nothing was declared lost); sent again, so no RTT sample from its SACK.
  OnChunkResent(now, c);
  t.tlp_resent = c.tsn;
  return true;
}

void Association::OnTailLossProbeSack(const SackChunk& sack, UnwrappedTsn cum, size_t newly_acked) {
  // RFC 8985 section 7.4: once everything sent up to the probe is acked, the episode is over. A
  // probe that resent a chunk the peer never reported as a duplicate delivered it: the original
  // was lost, and the loss is answered like any other, once per recovery episode.
  Tcb& t = *tcb_;
  if (t.tlp_resent && !t.tlp_duplicate) {
    const Tsn resent = TsnUnwrapper::Wrap(*t.tlp_resent);
    for (size_t i = 0; i < sack.duplicate_count && !t.tlp_duplicate; ++i)
      t.tlp_duplicate = sack.duplicate(i) == resent;
  }
  if (cum < *t.tlp_end) return;
  const bool repaired = t.tlp_resent && !t.tlp_duplicate;
  t.tlp_end.reset();
  t.tlp_resent.reset();
  t.tlp_duplicate = false;
  if (!repaired) return;
  counters_.tlp_repairs++;
  t.round_lossy = true;
  if (t.fast_recovery_exit) return;  // this episode's reduction is made
  EnterFastRecovery(newly_acked);
  OnCarefulResumeCongestion();
}

void Association::OnLossesDeclared(size_t newly_acked) {
  // Section 7.2.4 steps 2-3, whichever rule found the losses: one window reduction per recovery
  // episode, and the next packet may carry the retransmissions whatever cwnd says.
  Tcb& t = *tcb_;
  if (!t.fast_recovery_exit) EnterFastRecovery(newly_acked);
  OnCarefulResumeCongestion();
  t.fast_retransmit_now = true;
}

bool Association::ShouldAbandon(Instant now, const OutstandingChunk& c) const {
  if (!tcb_->caps.forward_tsn) return false;
  const Fragment& f = c.fragment;
  if (f.max_retransmits && c.transmissions > *f.max_retransmits) return true;
  if (f.expires_at && now > *f.expires_at) return true;
  return false;
}

void Association::AbandonMessage(const OutstandingChunk& c) {
  // RFC 3758 section 3.5 A1-A3, for the message `c` belongs to. Its fragments take rising TSNs,
  // from its first to its last, and without I-DATA nothing else lies between them: the walk spans
  // the message (and whatever interleaved with it), not the window. A fragment before it may be
  // acked and gone, and the rest may not have been sent yet.
  Tcb& t = *tcb_;
  std::deque<OutstandingChunk>& q = t.outstanding;
  const uint64_t message_id = c.fragment.message_id;
  const StreamId stream_id = c.fragment.stream_id;
  size_t i = static_cast<size_t>(c.tsn - q.front().tsn);
  PL_DCHECK(i < q.size() && &q[i] == &c);
  while (i > 0 && !(q[i].fragment.message_id == message_id && q[i].fragment.beginning))
    --i;
  for (; i < q.size(); ++i) {
    OutstandingChunk& ch = q[i];
    if (ch.fragment.message_id != message_id) continue;
    if (ch.state == OutstandingChunk::State::kInFlight) t.flight_bytes -= ch.size;
    if (ch.state == OutstandingChunk::State::kToRetransmit) t.to_retransmit--;
    if (ch.state != OutstandingChunk::State::kAcked) {
      ch.state = OutstandingChunk::State::kAbandoned;
      ch.skip = 1;
    }
    if (ch.fragment.ending) break;
  }
  // A3: the unsent rest of the message is dropped too.
  t.send_queue.DiscardRest(stream_id, message_id);
  t.forward_tsn_needed = true;
  counters_.messages_abandoned++;
}

UnwrappedTsn Association::AdvancedPeerAckPoint() {
  // RFC 3758 section 3.5 C1: the last chunk of the run of acked or abandoned chunks at the front
  // (NextUnacked finds its end), stepped back to the end of a message unless I-DATA is used:
  // with DATA the receiver drops fragments up to the new cumulative TSN, so the point never
  // splits a message that is still being delivered. An abandoned chunk ends the step back (its
  // whole message is abandoned), as does the last fragment of the message before, so it is at
  // most one message long.
  const Tcb& t = *tcb_;
  for (size_t k = NextUnacked(0); k > 0; --k) {
    const OutstandingChunk& ch = t.outstanding[k - 1];
    if (t.caps.i_data || ch.state == OutstandingChunk::State::kAbandoned || ch.fragment.ending) return ch.tsn;
  }
  return t.cumulative_ack;
}

void ForwardTsnSummary::Walk(const std::deque<OutstandingChunk>& outstanding, bool i_data, size_t from, size_t to) {
  for (size_t i = from; i < to; ++i) {
    const OutstandingChunk& ch = outstanding[i];
    if (ch.state != OutstandingChunk::State::kAbandoned) continue;
    const Fragment& f = ch.fragment;
    if (!f.unordered) {
      ordered[f.stream_id.value()] = {f.ssn_or_mid, ch.tsn};
    } else if (i_data) {  // with DATA an unordered message needs no entry
      if (unordered.empty() || unordered.back().stream != f.stream_id.value() || unordered.back().mid != f.ssn_or_mid)
        unordered.push_back({f.stream_id.value(), f.ssn_or_mid, ch.tsn});
      else
        unordered.back().tsn = ch.tsn;
    }
  }
}

void ForwardTsnSummary::Trim(UnwrappedTsn cumulative_ack) {
  if (trimmed_at == cumulative_ack) return;
  trimmed_at = cumulative_ack;
  std::erase_if(ordered, [&](const auto& e) { return e.second.tsn <= cumulative_ack; });
  while (!unordered.empty() && unordered.front().tsn <= cumulative_ack)
    unordered.pop_front();
}

bool ForwardTsnSummary::SameAs(ForwardTsnSummary other, UnwrappedTsn cumulative_ack) const {
  ForwardTsnSummary self = *this;
  self.Trim(cumulative_ack);
  other.Trim(cumulative_ack);
  auto same_latest = [](const auto& a, const auto& b) {
    return a.first == b.first && a.second.ssn_or_mid == b.second.ssn_or_mid && a.second.tsn == b.second.tsn;
  };
  auto same_unordered = [](const Unordered& a, const Unordered& b) {
    return a.stream == b.stream && a.mid == b.mid && a.tsn == b.tsn;
  };
  return std::equal(self.ordered.begin(), self.ordered.end(), other.ordered.begin(), other.ordered.end(),
                    same_latest) &&
         std::equal(self.unordered.begin(), self.unordered.end(), other.unordered.begin(), other.unordered.end(),
                    same_unordered);
}

void Association::UpdateForwardTsnSummary(UnwrappedTsn point) {
  // Walks only what the point has moved past since the last FORWARD-TSN. The cumulative ack only
  // rises, and every chunk up to the point is in a final state, so the point does not fall below
  // what was walked; were it ever to, the summary is built again.
  Tcb& t = *tcb_;
  if (!t.forward_tsn) {
    t.forward_tsn = std::make_unique<ForwardTsnSummary>();
    t.forward_tsn->walked = t.forward_tsn->trimmed_at = t.cumulative_ack;
  }
  ForwardTsnSummary& s = *t.forward_tsn;
  if (point < s.walked) {
    s = ForwardTsnSummary{};
    s.walked = s.trimmed_at = t.cumulative_ack;
  }
  s.Trim(t.cumulative_ack);
  s.walked = std::max(s.walked, t.cumulative_ack);
  const UnwrappedTsn front = t.cumulative_ack + 1;
  s.Walk(t.outstanding, t.caps.i_data, static_cast<size_t>(s.walked + 1 - front),
         static_cast<size_t>(point + 1 - front));
  s.walked = point;
}

void Association::WriteForwardTsn(ByteWriter& w) {
  Tcb& t = *tcb_;
  const UnwrappedTsn point = AdvancedPeerAckPoint();
  UpdateForwardTsnSummary(point);
  const ForwardTsnSummary& s = *t.forward_tsn;
  const size_t room = w.remaining() > 64 ? (w.remaining() - 64) : 0;
  if (t.caps.i_data) {
    // One entry per abandoned message: (stream, U, MID); unordered ones first, one by one (their
    // MIDs are independent), then the latest ordered one per stream.
    std::vector<IForwardTsnChunk::Skipped> skipped;
    for (const ForwardTsnSummary::Unordered& u : s.unordered) {
      if (skipped.size() * 8 >= room) break;
      skipped.push_back({StreamId(u.stream), true, Mid(u.mid)});
    }
    for (const auto& [sid, latest] : s.ordered) {
      if (skipped.size() * 8 >= room) break;
      skipped.push_back({StreamId(sid), false, Mid(latest.ssn_or_mid)});
    }
    IForwardTsnChunk::Serialize(w, TsnUnwrapper::Wrap(point), skipped);
  } else {
    std::vector<ForwardTsnChunk::Skipped> skipped;
    for (const auto& [sid, latest] : s.ordered) {
      if (skipped.size() * 4 >= room) break;
      skipped.push_back({StreamId(sid), Ssn(static_cast<uint16_t>(latest.ssn_or_mid))});
    }
    ForwardTsnChunk::Serialize(w, TsnUnwrapper::Wrap(point), skipped);
  }
}

void Association::HandleForwardTsn(Instant now, const ChunkView& c) {
  (void)now;
  if (!tcb_ || state_ == State::kCookieWait || state_ == State::kCookieEchoed) return;
  Tcb& t = *tcb_;
  if (!t.caps.forward_tsn) return;
  bool ifwd = c.type == static_cast<uint8_t>(ChunkType::kIForwardTsn);
  if (ifwd != t.caps.i_data) return;  // RFC 8260 section 2.3: the wrong kind is ignored
  if (ifwd) {
    auto f = IForwardTsnChunk::Parse(c);
    if (!f) return;
    UnwrappedTsn cum = t.tracker.Unwrap(f->new_cumulative_tsn);
    if (cum - t.tracker.cumulative() > DataTracker::kMaxTsnDistance && cum > t.tracker.cumulative()) return;
    std::vector<IForwardTsnChunk::Skipped> skipped;
    skipped.reserve(f->skipped_count);
    for (size_t i = 0; i < f->skipped_count; ++i)
      skipped.push_back(f->skipped(i));
    t.tracker.ForwardTo(cum);
    t.reassembly.HandleIForwardTsn(skipped);
  } else {
    auto f = ForwardTsnChunk::Parse(c);
    if (!f) return;
    UnwrappedTsn cum = t.tracker.Unwrap(f->new_cumulative_tsn);
    if (cum - t.tracker.cumulative() > DataTracker::kMaxTsnDistance && cum > t.tracker.cumulative()) return;
    std::vector<ForwardTsnChunk::Skipped> skipped;
    skipped.reserve(f->skipped_count);
    for (size_t i = 0; i < f->skipped_count; ++i)
      skipped.push_back(f->skipped(i));
    t.tracker.ForwardTo(cum);
    t.reassembly.HandleForwardTsn(cum, skipped);  // not past it: later fragments may be live
  }
  // RFC 3758 section 3.6: answer with a SACK right away.
  t.sack_now = true;
  ProcessDeferredIncomingReset();
}

void Association::OnT3Expired(Instant now) {
  Tcb& t = *tcb_;
  t.t3_rtx.reset();
  // The probe, if one was sent, did not prevent the timeout: its episode ends (RFC 8985 7.4.1).
  t.tlp_timer.reset();
  t.tlp_end.reset();
  t.tlp_resent.reset();
  t.tlp_duplicate = false;
  counters_.t3_expiries++;
  t.round_lossy = true;
  if (CountError(now, "retransmission timeout")) return;
  t.rto.Backoff();  // section 6.3.3 E2
  OnT3CongestionEvent();
  // E3: everything in flight is marked for retransmission.
  for (OutstandingChunk& ch : t.outstanding) {
    if (ch.state != OutstandingChunk::State::kInFlight) continue;
    if (ShouldAbandon(now, ch)) {
      AbandonMessage(ch);
      continue;
    }
    ch.state = OutstandingChunk::State::kToRetransmit;
    ch.nacks = 0;
    t.flight_bytes -= ch.size;
    t.to_retransmit++;
  }
  t.fast_retransmit_now = false;
  if (t.caps.forward_tsn && AdvancedPeerAckPoint() > t.cumulative_ack) t.forward_tsn_needed = true;
  // Keep the timer running while anything is unacknowledged (retransmissions,
  // or a FORWARD-TSN that must be repeated until acked).
  if (!t.outstanding.empty()) t.t3_rtx = now + t.rto.rto();
}

}  // namespace peerlink::sctp
