// Data transfer (RFC 9260 section 6): receiving DATA / I-DATA, building
// outgoing packets (control chunks, SACK, retransmissions, then new data as
// cwnd and the peer's rwnd allow), and SACK generation.
#include <algorithm>

#include "src/base/check.h"
#include "src/sctp/assoc/tcb.h"
#include "src/sctp/control_chunks.h"
#include "src/sctp/data_chunks.h"
#include "src/sctp/packet.h"
#include "src/sctp/parameters.h"

namespace peerlink::sctp {

void Association::HandleData(Instant now, const ChunkView& c) {
  (void)now;
  if (!tcb_) return;
  if (state_ != State::kEstablished && state_ != State::kShutdownPending && state_ != State::kShutdownSent &&
      state_ != State::kShutdownReceived)
    return;
  Tcb& t = *tcb_;
  bool idata = c.type == static_cast<uint8_t>(ChunkType::kIData);
  if (idata != t.caps.i_data) {
    // RFC 8260 section 2.1: DATA when I-DATA was negotiated (or the reverse) is a protocol violation.
    SendAbort(cause::kProtocolViolation, idata ? "I-DATA not negotiated" : "DATA sent although I-DATA negotiated");
    CloseWithReason(idata ? "peer sent I-DATA without negotiating it" : "peer sent DATA although I-DATA was negotiated",
                    false);
    return;
  }
  ReassemblyQueue::Incoming in;
  Tsn wire_tsn;
  if (idata) {
    auto d = IDataChunk::Parse(c);
    if (!d) {
      SendAbort(cause::kNoUserData, "");
      CloseWithReason("peer sent an I-DATA chunk without user data", false);
      return;
    }
    wire_tsn = d->tsn;
    in.stream_id = d->stream_id;
    in.ssn_or_mid = d->mid.value();
    in.fsn = d->fsn;
    in.ppid = d->ppid;
    in.unordered = d->unordered;
    in.beginning = d->beginning;
    in.ending = d->ending;
    in.payload = d->payload;
  } else {
    auto d = DataChunk::Parse(c);
    if (!d) {
      // RFC 9260 section 6.2: a DATA chunk with no user data -> ABORT "No User Data".
      SendAbort(cause::kNoUserData, "");
      CloseWithReason("peer sent a DATA chunk without user data", false);
      return;
    }
    wire_tsn = d->tsn;
    in.stream_id = d->stream_id;
    in.ssn_or_mid = d->unordered ? 0 : d->ssn.value();
    in.ppid = d->ppid;
    in.unordered = d->unordered;
    in.beginning = d->beginning;
    in.ending = d->ending;
    in.payload = d->payload;
  }
  in.tsn = t.tracker.Unwrap(wire_tsn);
  counters_.data_chunks_received++;
  switch (t.tracker.Check(in.tsn)) {
    case DataTracker::Verdict::kDuplicate: t.tracker.RecordDuplicate(wire_tsn); return;
    case DataTracker::Verdict::kDropped: return;
    case DataTracker::Verdict::kNew: break;
  }
  if (in.stream_id.value() >= t.inbound_streams) {
    // Section 6.5: ack the TSN, drop the data, report Invalid Stream Identifier.
    t.tracker.Record(in.tsn);
    std::vector<uint8_t> buf(64);
    PacketBuilder b(buf, options_.local_port, options_.remote_port, t.peer_tag);
    size_t at = BeginChunk(b.writer(), static_cast<uint8_t>(ChunkType::kError), 0);
    b.writer().U16(cause::kInvalidStreamIdentifier);
    b.writer().U16(8);
    b.writer().U16(in.stream_id.value());
    b.writer().U16(0);
    FinishChunk(b.writer(), at);
    QueueControlPacket(FinishControl(b, true));
    return;
  }
  // Section 6.2: data beyond the receive window may be dropped (not acked,
  // so the peer retransmits it). The next expected TSN is always taken so
  // that delivery can progress, up to a hard cap of twice the window.
  size_t held = t.reassembly.buffered_bytes();
  bool next_expected = in.tsn == t.tracker.cumulative() + 1;
  if (held + in.payload.size() > options_.max_receive_buffer && !next_expected) return;
  if (held + in.payload.size() > 2 * options_.max_receive_buffer) {
    SendAbort(cause::kOutOfResource, "receive buffer exhausted");
    CloseWithReason("peer overran the receive buffer (" + std::to_string(held) + " bytes held)", false);
    return;
  }
  t.tracker.Record(in.tsn);
  if (!t.reassembly.Add(in)) {
    std::string why = t.reassembly.error();
    SendAbort(cause::kProtocolViolation, why);
    CloseWithReason(why, false);
  }
}

size_t Association::DataHeaderSize() const {
  return tcb_ && tcb_->caps.i_data ? IDataChunk::kHeaderSize : DataChunk::kHeaderSize;
}

void Association::WriteDataChunk(ByteWriter& w, UnwrappedTsn tsn, const Fragment& f, bool immediate) const {
  if (tcb_->caps.i_data) {
    IDataChunk d;
    d.tsn = TsnUnwrapper::Wrap(tsn);
    d.stream_id = f.stream_id;
    d.mid = Mid(f.ssn_or_mid);
    d.ppid = f.ppid;
    d.fsn = f.fsn;
    d.unordered = f.unordered;
    d.beginning = f.beginning;
    d.ending = f.ending;
    d.immediate_ack = immediate;
    d.payload = f.data();
    d.SerializeTo(w);
  } else {
    DataChunk d;
    d.tsn = TsnUnwrapper::Wrap(tsn);
    d.stream_id = f.stream_id;
    d.ssn = Ssn(static_cast<uint16_t>(f.ssn_or_mid));
    d.ppid = f.ppid;
    d.unordered = f.unordered;
    d.beginning = f.beginning;
    d.ending = f.ending;
    d.immediate_ack = immediate;
    d.payload = f.data();
    d.SerializeTo(w);
  }
}

void Association::WriteSack(Instant now, ByteWriter& w) {
  (void)now;
  Tcb& t = *tcb_;
  size_t held = t.reassembly.buffered_bytes();
  uint32_t a_rwnd = static_cast<uint32_t>(held >= options_.max_receive_buffer ? 0 : options_.max_receive_buffer - held);
  const auto& dups = t.tracker.duplicates();
  size_t room = w.remaining() > 16 + 4 * dups.size() ? (w.remaining() - 16 - 4 * dups.size()) / 4 : 0;
  auto gaps = t.tracker.GapBlocks(room);
  SackChunk::Serialize(w, t.tracker.cumulative_tsn(), a_rwnd, gaps, dups);
  t.tracker.ClearDuplicates();
  t.sack_now = false;
  t.delayed_ack.reset();
  t.data_packets_since_sack = 0;
}

bool Association::HasRetransmitBufferRoom() const {
  // Options::max_retransmit_buffer; one chunk may always go, whatever the setting.
  const Tcb& t = *tcb_;
  return t.held_bytes < options_.max_retransmit_buffer || t.held_bytes == 0;
}

void Association::OnChunkResent(Instant now, OutstandingChunk& c) {
  // What every retransmission records (the caller wrote the chunk): its delivery state for BBR
  // (taken before the chunk counts as in flight again), one more transmission (Karn: no RTT
  // sample from it), no miss indications yet, what must be acked before a miss counts
  // (retransmit_fence), and when and in what order it left, for RACK.
  Tcb& t = *tcb_;
  if (t.bbr) c.rate = t.rate.OnSend(now, t.flight_bytes);
  c.transmissions++;
  c.nacks = 0;
  c.retransmit_fence = t.next_tsn;
  c.sent_at = now;
  c.send_order = t.next_send_order++;
  if (options_.rack) t.rack_rtx_order.emplace_back(c.tsn, now);
  counters_.retransmissions++;
  counters_.data_chunks_sent++;
}

bool Association::BuildDataPacket(Instant now, Transmit* out) {
  Tcb& t = *tcb_;
  bool can_send_data = state_ == State::kEstablished || state_ == State::kShutdownPending ||
                       state_ == State::kShutdownReceived || state_ == State::kShutdownSent;
  bool new_data_allowed =
      state_ == State::kEstablished || state_ == State::kShutdownPending || state_ == State::kShutdownReceived;
  // Options::tail_loss_probe: the probe timeout fired, and this packet carries one packet's worth
  // whatever cwnd and the pacer say (RFC 8985 section 7.3).
  const bool probe = t.tlp_due && can_send_data;
  t.tlp_due = false;
  bool want_retransmit = can_send_data && t.to_retransmit > 0 && (t.flight_bytes < t.cwnd || t.fast_retransmit_now);
  bool want_new = new_data_allowed && t.send_queue.HasDataToSend() && (t.flight_bytes < t.cwnd || probe) &&
                  (t.peer_rwnd > 0 || t.outstanding_bytes == 0) &&  // zero window probe: one chunk when idle
                  HasRetransmitBufferRoom();
  // Nothing to send and room in cwnd: rate samples until what is in flight is acked measure the
  // application, not the path.
  if (t.bbr && new_data_allowed && !t.send_queue.HasDataToSend() && t.flight_bytes < t.cwnd && t.to_retransmit == 0)
    t.rate.MarkAppLimited(t.flight_bytes);
  // Pacing holds new data (not retransmissions) until pacing_next; the timer
  // wakes us then.
  auto srtt = t.rto.srtt();
  Duration slack = srtt && *srtt < options_.pacing_slack_below_srtt ? options_.pacing_slack : Duration::Zero();
  bool paced = want_new && !probe && options_.enable_pacing && now + slack < t.pacing_next;
  if (paced) {
    want_new = false;
    t.pacing_timer = t.pacing_next - slack;
    t.pacer_limited = true;
  } else {
    t.pacing_timer.reset();
    if (!want_new) t.pacer_limited = false;
  }
  bool want_fwd = t.forward_tsn_needed && t.caps.forward_tsn && AdvancedPeerAckPoint() > t.cumulative_ack;
  if (!t.sack_now && !want_retransmit && !want_new && !want_fwd && !probe) {
    t.forward_tsn_needed = false;
    return false;
  }
  if (!spare_buffers_.empty()) {
    out->packet = std::move(spare_buffers_.back());
    spare_buffers_.pop_back();
  }
  out->packet.resize(options_.mtu);
  PacketBuilder b(out->packet, options_.local_port, options_.remote_port, t.peer_tag);
  ByteWriter& w = b.writer();
  // Section 6.4: control chunks come first, SACK bundled whenever one is due
  // (or with any data, since it costs little and speeds the peer up).
  if (t.sack_now || ((want_retransmit || want_new) && t.delayed_ack)) WriteSack(now, w);
  if (want_fwd) {
    WriteForwardTsn(w);
    t.forward_tsn_needed = false;
  }
  size_t header = DataHeaderSize();
  bool wrote_data = false, wrote_new = false;
  // 1) Retransmissions, lowest TSN first (section 6.1 rule C / 7.2.4).
  if (want_retransmit) {
    for (OutstandingChunk& c : t.outstanding) {
      if (t.to_retransmit == 0) break;
      if (c.state != OutstandingChunk::State::kToRetransmit) continue;
      if (ShouldAbandon(now, c)) {
        AbandonMessage(c);
        continue;
      }
      if (!t.fast_retransmit_now && t.flight_bytes >= t.cwnd) break;
      if (w.remaining() < PadTo4(header + c.fragment.length)) {
        if (wrote_data) break;
        continue;
      }
      WriteDataChunk(w, c.tsn, c.fragment, false);
      // Section 7.2.4 step 4: retransmitting the earliest outstanding chunk restarts T3. The timer
      // otherwise runs from the last cumulative-ack advance, and the miss indications plus the
      // retransmission's round trip outlast an RTO at its 200 ms floor once the RTT nears it:
      // such a loss then also ended in a timeout, cwnd = 1 MTU and go-back-N.
      if (c.tsn == t.outstanding.front().tsn) t.t3_rtx = now + t.rto.rto();
      OnChunkResent(now, c);
      c.state = OutstandingChunk::State::kInFlight;
      t.to_retransmit--;
      t.flight_bytes += c.size;
      wrote_data = true;
    }
    t.fast_retransmit_now = false;
  }
  // 2) New data while cwnd and the peer's window allow (section 6.1 rules A, B).
  if (new_data_allowed && !paced) {
    // A probe may take this one packet beyond cwnd.
    while ((t.flight_bytes < t.cwnd || probe) && (t.peer_rwnd > 0 || t.outstanding_bytes == 0) &&
           HasRetransmitBufferRoom()) {
      if (w.remaining() < header + 64 && (wrote_data || w.remaining() < header + 1)) break;
      size_t max_payload = w.remaining() - header;
      max_payload &= ~size_t{3};  // keep fragments 4-byte aligned: no padding in full packets
      if (max_payload == 0) break;
      auto f = t.send_queue.Produce(now, max_payload);
      if (!f) break;
      UnwrappedTsn tsn = t.next_tsn++;
      if (t.caps.forward_tsn && f->expires_at && now > *f->expires_at) {
        // RFC 3758 section 3.5 A3: the lifetime ran out after the message's first fragment
        // left. The rest is abandoned, not sent; this fragment still takes a TSN (never sent,
        // born abandoned) so the FORWARD-TSN names its stream and SSN/MID and the peer drops
        // the partial message instead of waiting for it.
        OutstandingChunk c;
        c.tsn = tsn;
        c.size = PadTo4(header + f->length);
        c.fragment = std::move(*f);
        c.sent_at = now;
        c.state = OutstandingChunk::State::kAbandoned;
        c.skip = 1;
        t.outstanding_bytes += c.size;
        t.held_bytes += c.size;
        t.outstanding.push_back(std::move(c));
        AbandonMessage(t.outstanding.back());
        continue;
      }
      bool last = !t.send_queue.HasDataToSend();
      // RFC 7053: ask for an immediate SACK when the queue runs dry, so the
      // last packet of a burst is not held by the peer's delayed ack; and for a probe.
      WriteDataChunk(w, tsn, *f, last || probe);
      t.last_data_immediate = last || probe;
      OutstandingChunk c;
      c.tsn = tsn;
      c.size = PadTo4(header + f->length);
      c.fragment = std::move(*f);
      c.sent_at = now;
      c.send_order = t.next_send_order++;
      if (t.bbr) c.rate = t.rate.OnSend(now, t.flight_bytes);
      t.flight_bytes += c.size;
      t.outstanding_bytes += c.size;
      t.held_bytes += c.size;
      t.peer_rwnd = t.peer_rwnd > c.size ? t.peer_rwnd - c.size : 0;
      t.outstanding.push_back(std::move(c));
      counters_.data_chunks_sent++;
      wrote_data = wrote_new = true;
    }
  }
  // The probe: the new data just written, or else the most recently sent chunk again.
  // (No probe is out when one is due, so tlp_resent and tlp_duplicate are clear here.)
  bool probed = false;
  if (probe && !want_retransmit) {
    probed = wrote_new || WriteTailLossProbe(now, w);
    if (probed) {
      wrote_data = true;
      t.tlp_end = t.next_tsn - 1;
      counters_.tlp_probes++;
    }
  }
  // A message abandoned while building (above) is announced in this packet: nothing else
  // may be in flight to prompt a later FORWARD-TSN.
  if (!want_fwd && t.forward_tsn_needed && t.caps.forward_tsn && w.remaining() >= 64 &&
      AdvancedPeerAckPoint() > t.cumulative_ack) {
    WriteForwardTsn(w);
    t.forward_tsn_needed = false;
  }
  if (wrote_data) {
    t.last_data_sent = now;
    if (!t.t3_rtx) t.t3_rtx = now + t.rto.rto();  // section 6.3.2 R1
    if (probed) t.t3_rtx = now + t.rto.rto();     // RFC 8985 section 7.3: the RTO restarts after a probe
    ArmTailLossProbe(now);
  }
  if (w.size() == kCommonHeaderSize) {
    RecycleBuffer(std::move(out->packet));
    out->packet.clear();
    return false;
  }
  size_t n = b.Finish(t.caps.zero_checksum);
  out->packet.resize(n);
  if (wrote_data) OnPacketPaced(now, n);
  return n > 0;
}

}  // namespace peerlink::sctp
