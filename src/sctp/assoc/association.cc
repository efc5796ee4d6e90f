// Association: construction, packet dispatch (RFC 9260 section 8.5 tag
// rules, section 3.2 unknown chunk handling), timers, PollOutput, metrics.
#include "src/sctp/association.h"

#include "src/base/check.h"
#include "src/sctp/assoc/tcb.h"
#include "src/sctp/control_chunks.h"
#include "src/sctp/data_chunks.h"
#include "src/sctp/packet.h"
#include "src/sctp/parameters.h"

namespace peerlink::sctp {

std::string_view ToString(SendStatus s) {
  switch (s) {
    case SendStatus::kOk: return "ok";
    case SendStatus::kMessageTooLarge: return "message too large";
    case SendStatus::kBufferFull: return "send buffer full";
    case SendStatus::kNotConnected: return "not connected";
    case SendStatus::kStreamResetting: return "stream is resetting";
    case SendStatus::kClosed: return "closed";
  }
  return "?";
}

std::string_view ToString(CongestionControl c) {
  switch (c) {
    case CongestionControl::kReno: return "reno";
    case CongestionControl::kBbr: return "bbr";
  }
  return "?";
}

std::string_view ToString(State s) {
  switch (s) {
    case State::kClosed: return "closed";
    case State::kCookieWait: return "cookie-wait";
    case State::kCookieEchoed: return "cookie-echoed";
    case State::kEstablished: return "established";
    case State::kShutdownPending: return "shutdown-pending";
    case State::kShutdownSent: return "shutdown-sent";
    case State::kShutdownReceived: return "shutdown-received";
    case State::kShutdownAckSent: return "shutdown-ack-sent";
  }
  return "?";
}

Association::Association(const Options& options, Rng& rng, Instant now) : options_(options), rng_(rng) {
  (void)now;
  PL_CHECK(options_.mtu >= 256 && options_.mtu <= 65535);
  PL_CHECK(options_.announced_streams > 0);
  cookie_secret_.resize(32);
  rng_.Fill(cookie_secret_);
  t1_rto_ = options_.rto_initial;
}

Association::~Association() = default;

bool Association::ZeroChecksumActive() const {
  return tcb_ && tcb_->caps.zero_checksum;
}

std::vector<uint8_t> Association::FinishControl(PacketBuilder& b, bool may_zero_checksum) {
  size_t n = b.Finish(may_zero_checksum && ZeroChecksumActive());
  PL_DCHECK(n > 0);
  auto w = b.writer().written();
  return std::vector<uint8_t>(w.begin(), w.begin() + n);
}

void Association::HandlePacket(Instant now, ByteView bytes) {
  counters_.packets_received++;
  counters_.bytes_received += bytes.size();
  auto parsed = PacketView::Parse(bytes, options_.enable_zero_checksum);
  if (!parsed) {
    if (parsed.error().code == ParseErrorCode::kBadChecksum) counters_.checksum_errors++;
    return;  // RFC 9260 section 6.8: silently discard
  }
  const PacketView& pkt = *parsed;
  if (terminated_) {
    // Section 8.4 rule 5: a SHUTDOWN ACK for an association we already closed
    // (our SHUTDOWN COMPLETE was lost) gets a SHUTDOWN COMPLETE with the T bit.
    if (pkt.first_chunk().type == static_cast<uint8_t>(ChunkType::kShutdownAck)) {
      std::vector<uint8_t> buf(16);
      PacketBuilder b(buf, options_.local_port, options_.remote_port, pkt.header().verification_tag);
      EmptyChunk{ChunkType::kShutdownComplete, true}.SerializeTo(b.writer());
      QueueControlPacket(FinishControl(b, false));
    }
    return;
  }
  // RFC 8261 section 5: fixed ports; a packet for other ports is not ours.
  if (pkt.header().destination_port != options_.local_port || pkt.header().source_port != options_.remote_port) return;
  ChunkView first = pkt.first_chunk();
  VerificationTag tag = pkt.header().verification_tag;
  VerificationTag local_tag = tcb_ ? tcb_->local_tag : init_tag_;
  // RFC 9260 section 8.5.1: tag rules per chunk type.
  switch (static_cast<ChunkType>(first.type)) {
    case ChunkType::kInit:
      // Section 6.10: INIT is never bundled; its packet carries tag 0.
      if (pkt.chunk_count() != 1 || tag.value() != 0) return;
      HandleInit(now, first, tag);
      CheckConsistency();
      return;
    case ChunkType::kCookieEcho: break;  // validated against the cookie's contents
    case ChunkType::kAbort:
      if (first.flags & 1) {
        if (!tcb_ || tag != tcb_->peer_tag) return;
      } else if (tag != local_tag || (!tcb_ && state_ != State::kCookieWait)) {
        return;
      }
      break;
    case ChunkType::kShutdownComplete:
      if (first.flags & 1) {
        if (!tcb_ || tag != tcb_->peer_tag) return;
      } else if (tag != local_tag) {
        return;
      }
      break;
    default:
      if (tag != local_tag || (state_ == State::kClosed)) return;
      break;
  }

  bool had_data = false;
  bool immediate = false;
  bool had_gaps = tcb_ && tcb_->tracker.has_gaps();
  size_t dups_before = tcb_ ? tcb_->tracker.duplicates().size() : 0;
  PacketView::Iterator it = pkt.chunks();
  ChunkView c;
  while (it.Next(&c) && !terminated_) {
    switch (static_cast<ChunkType>(c.type)) {
      case ChunkType::kData:
      case ChunkType::kIData:
        had_data = true;
        if (c.flags & DataChunk::kFlagImmediate) immediate = true;
        HandleData(now, c);
        break;
      case ChunkType::kInit: return;  // bundled INIT: discard the rest (section 6.10)
      case ChunkType::kInitAck: HandleInitAck(now, c); break;
      case ChunkType::kSack: HandleSack(now, c); break;
      case ChunkType::kHeartbeat: HandleHeartbeat(now, c); break;
      case ChunkType::kHeartbeatAck: HandleHeartbeatAck(now, c); break;
      case ChunkType::kAbort: HandleAbort(now, c); break;
      case ChunkType::kShutdown: HandleShutdown(now, c); break;
      case ChunkType::kShutdownAck: HandleShutdownAck(now); break;
      case ChunkType::kError: HandleError(now, c); break;
      case ChunkType::kCookieEcho:
        if (tag.value() == 0) return;
        HandleCookieEcho(now, c, tag);
        // The packet tag must match the cookie's (checked inside); data that
        // follows is handled with the new TCB.
        break;
      case ChunkType::kCookieAck: HandleCookieAck(now); break;
      case ChunkType::kShutdownComplete: HandleShutdownComplete(now); break;
      case ChunkType::kReConfig: HandleReConfig(now, c); break;
      case ChunkType::kForwardTsn:
      case ChunkType::kIForwardTsn: HandleForwardTsn(now, c); break;
      default: {
        // RFC 9260 section 3.2: the upper two bits of an unknown type say
        // whether to stop (00, 01) and whether to report it (01, 11).
        bool report = c.type & 0x40;
        bool skip = c.type & 0x80;
        if (report && tcb_) {
          std::vector<uint8_t> buf(options_.mtu);
          PacketBuilder b(buf, options_.local_port, options_.remote_port, tcb_->peer_tag);
          size_t at = BeginChunk(b.writer(), static_cast<uint8_t>(ChunkType::kError), 0);
          // The cause carries the unrecognized chunk (truncated to fit).
          size_t len = std::min(c.value.size(), options_.mtu - 64);
          b.writer().U16(cause::kUnrecognizedChunkType);
          b.writer().U16(static_cast<uint16_t>(4 + 4 + len));
          b.writer().U8(c.type);
          b.writer().U8(c.flags);
          b.writer().U16(static_cast<uint16_t>(4 + c.value.size()));
          b.writer().Bytes(c.value.first(len));
          b.writer().Zeros(PaddingFor(len));
          FinishChunk(b.writer(), at);
          QueueControlPacket(FinishControl(b, true));
        }
        if (!skip) goto done;
        break;
      }
    }
  }
done:
  if (had_data && tcb_ && !terminated_) {
    // RFC 9260 section 6.2 / 6.7: ack at least every second packet with DATA
    // and immediately on gaps, duplicates, filled gaps or the I bit.
    Tcb& t = *tcb_;
    bool gaps_changed = had_gaps != t.tracker.has_gaps() || t.tracker.has_gaps();
    bool dup = t.tracker.duplicates().size() != dups_before;
    if (immediate || gaps_changed || dup || ++t.data_packets_since_sack >= 2 || state_ == State::kShutdownSent ||
        state_ == State::kShutdownReceived) {
      t.sack_now = true;
    } else if (!t.delayed_ack) {
      t.delayed_ack = now + options_.delayed_ack;
    }
  }
  if (tcb_) MaybeProgressShutdown(now);
  CheckConsistency();
}

void Association::HandleTimeout(Instant now) {
  if (terminated_) return;
  if ((t1_init_ && *t1_init_ <= now) || (t1_cookie_ && *t1_cookie_ <= now)) OnT1Expired(now);
  // The probe before T3: one due at T3's time is sent in T3's place. The packet that carries it
  // restarts T3; if none can carry it, T3 is still due and fires on the next call.
  if (tcb_ && tcb_->tlp_timer && *tcb_->tlp_timer <= now) OnTailLossProbeTimer();
  if (tcb_ && tcb_->t3_rtx && *tcb_->t3_rtx <= now && !tcb_->tlp_due) OnT3Expired(now);
  if (tcb_ && tcb_->rack_timer && *tcb_->rack_timer <= now) OnRackTimer(now);
  if (tcb_ && tcb_->delayed_ack && *tcb_->delayed_ack <= now) {
    tcb_->delayed_ack.reset();
    tcb_->sack_now = true;
  }
  if (tcb_ && tcb_->pacing_timer && *tcb_->pacing_timer <= now) tcb_->pacing_timer.reset();
  if (tcb_ && tcb_->t2_shutdown && *tcb_->t2_shutdown <= now) OnT2Expired(now);
  if (tcb_ &&
      ((tcb_->heartbeat && *tcb_->heartbeat <= now) || (tcb_->heartbeat_timeout && *tcb_->heartbeat_timeout <= now)))
    OnHeartbeatTimer(now);
  if (tcb_ && tcb_->reconfig_timer && *tcb_->reconfig_timer <= now) OnReconfigTimer(now);
  message_pool_.OnTimer(now);
  CheckConsistency();
}

Instant Association::NextDeadline() const {
  Instant at = Instant::Max();
  auto consider = [&](const std::optional<Instant>& t) {
    if (t && *t < at) at = *t;
  };
  consider(t1_init_);
  consider(t1_cookie_);
  if (tcb_) {
    consider(tcb_->t3_rtx);
    consider(tcb_->rack_timer);
    consider(tcb_->tlp_timer);
    consider(tcb_->delayed_ack);
    consider(tcb_->t2_shutdown);
    consider(tcb_->heartbeat);
    consider(tcb_->heartbeat_timeout);
    consider(tcb_->reconfig_timer);
    consider(tcb_->pacing_timer);
  }
  consider(message_pool_.release_at());
  return at;
}

Output Association::PollOutput(Instant now) {
  if (tcb_ && !terminated_ && tcb_->reconfig_packet_needed) MaybeSendResetRequest(now);
  if (!control_packets_.empty()) {
    Transmit t{std::move(control_packets_.front())};
    control_packets_.pop_front();
    counters_.packets_sent++;
    counters_.bytes_sent += t.packet.size();
    return t;
  }
  if (tcb_ && !terminated_) {
    Transmit t;
    if (BuildDataPacket(now, &t)) {
      counters_.packets_sent++;
      counters_.bytes_sent += t.packet.size();
      CheckConsistency();
      return t;
    }
    DeliverMessages();
    for (StreamId sid : tcb_->send_queue.TakeLowEvents())
      EmitEvent(BufferedAmountLow{sid});
    if (tcb_->send_queue.TakeTotalLowEvent()) EmitEvent(TotalBufferedAmountLow{});
  }
  if (!events_.empty()) {
    Event e = std::move(events_.front());
    events_.pop_front();
    return e;
  }
  if (terminated_) {
    message_pool_.Clear();
    return Deadline{Instant::Max()};
  }
  message_pool_.Arm(now);
  return Deadline{NextDeadline()};
}

std::vector<uint8_t> Association::TakeMessageBuffer(size_t size) {
  return message_pool_.Take(size);
}

void Association::ReturnUnusedMessageBuffer(std::vector<uint8_t> buffer) {
  if (!terminated_) message_pool_.Untake(std::move(buffer));
}

void Association::RecycleMessageBuffer(std::vector<uint8_t> buffer) {
  if (!terminated_) message_pool_.Put(std::move(buffer));
}

void Association::RecycleBuffer(std::vector<uint8_t> buffer) {
  // Kept only while data waits to be sent or acknowledged: an idle association (one of many
  // on a server) holds none.
  if (!HasDataInFlight()) {
    spare_buffers_ = {};
    return;
  }
  if (spare_buffers_.size() < kMaxSpareBuffers && buffer.capacity() >= options_.mtu)
    spare_buffers_.push_back(std::move(buffer));
}

bool Association::HasDataInFlight() const {
  return tcb_ && (tcb_->send_queue.total_buffered() > 0 || !tcb_->outstanding.empty());
}

void Association::DeliverMessages() {
  auto& ready = tcb_->reassembly.ready();
  while (!ready.empty()) {
    counters_.messages_received++;
    EmitEvent(std::move(ready.front()));
    ready.pop_front();
  }
}

SendStatus Association::Send(Instant now,
                             StreamId stream_id,
                             Ppid ppid,
                             std::vector<uint8_t> payload,
                             const SendOptions& o) {
  if (payload.size() > options_.max_message_size || payload.empty()) return SendStatus::kMessageTooLarge;
  if (terminated_) return SendStatus::kClosed;
  if (state_ == State::kShutdownPending || state_ == State::kShutdownSent || state_ == State::kShutdownReceived ||
      state_ == State::kShutdownAckSent)
    return SendStatus::kClosed;
  if (state_ != State::kEstablished || !tcb_) return SendStatus::kNotConnected;
  Tcb& t = *tcb_;
  if (stream_id.value() >= t.outbound_streams) return SendStatus::kNotConnected;
  if (t.send_queue.IsPaused(stream_id) || t.streams_to_reset.count(stream_id.value()))
    return SendStatus::kStreamResetting;
  if (!t.send_queue.CanAccept(stream_id, payload.size())) return SendStatus::kBufferFull;
  std::optional<Instant> expires;
  std::optional<uint16_t> max_rtx;
  if (t.caps.forward_tsn) {  // without PR-SCTP support every message is reliable
    if (o.lifetime) expires = now + *o.lifetime;
    max_rtx = o.max_retransmits;
  }
  t.send_queue.Add(stream_id, ppid, std::move(payload), o.unordered, max_rtx, expires, t.next_message_id++);
  counters_.messages_sent++;
  CheckConsistency();
  return SendStatus::kOk;
}

size_t Association::buffered_amount(StreamId stream_id) const {
  return tcb_ ? tcb_->send_queue.buffered_amount(stream_id) : 0;
}

size_t Association::total_buffered_amount() const {
  return tcb_ ? tcb_->send_queue.total_buffered() : 0;
}

void Association::SetBufferedAmountLowThreshold(StreamId stream_id, size_t bytes) {
  if (tcb_) tcb_->send_queue.SetLowThreshold(stream_id, bytes);
}

void Association::SetTotalBufferedAmountLowThreshold(size_t bytes) {
  if (tcb_) tcb_->send_queue.SetTotalLowThreshold(bytes);
}

bool Association::AllDataAcked() const {
  return !tcb_ || (tcb_->outstanding.empty() && !tcb_->send_queue.HasDataToSend());
}

Metrics Association::metrics() const {
  Metrics m = counters_;
  m.message_buffers_reused = message_pool_.reused();
  if (tcb_) {
    const Tcb& t = *tcb_;
    m.cwnd = t.cwnd;
    m.ssthresh = t.ssthresh;
    m.peer_rwnd = t.peer_rwnd;
    size_t held = t.reassembly.buffered_bytes();
    m.local_rwnd = held >= options_.max_receive_buffer ? 0 : options_.max_receive_buffer - held;
    m.bytes_in_flight = t.flight_bytes;
    m.retransmit_buffer = t.held_bytes;
    m.srtt = t.rto.srtt();
    m.rto = t.rto.rto();
    m.interleaving = t.caps.i_data;
    m.zero_checksum = t.caps.zero_checksum;
    m.partial_reliability = t.caps.forward_tsn;
    m.reconfig = t.caps.reconfig;
    m.negotiated_outbound_streams = t.outbound_streams;
    m.negotiated_inbound_streams = t.inbound_streams;
    m.messages_abandoned += t.send_queue.expired_unsent();
    m.retained_cwnd = t.retained_cwnd;
    m.min_rtt = t.min_rtt;
    if (t.resume) {
      m.resume_phase = ToString(t.resume->phase());
      m.resume_outcome = ToString(t.resume->outcome());
      m.resume_jump = t.resume->jump_cwnd();
    }
    if (t.bbr) {
      m.bbr_bandwidth = t.bbr->bandwidth();
      m.bbr_pacing_rate = t.bbr->pacing_rate();
      m.bbr_min_rtt = t.bbr->min_rtt();
      m.bbr_inflight_cap = t.bbr->inflight_cap().value_or(0);
      m.bbr_loss_cuts = t.bbr->loss_cuts();
      m.bbr_delay_exits = t.bbr->delay_exits();
      m.bbr_probe_rtts = t.bbr->probe_rtts();
    }
  } else {
    m.rto = t1_rto_;
  }
  return m;
}

bool Association::IsConsistent() const {
  if (!message_pool_.IsConsistent()) return false;
  if (!tcb_) return true;
  const Tcb& t = *tcb_;
  if (!t.send_queue.IsConsistent() || !t.tracker.IsConsistent() || !t.reassembly.IsConsistent()) return false;
  size_t flight = 0, outstanding = 0, rtx = 0, held = 0;
  UnwrappedTsn expect = t.cumulative_ack + 1;
  for (size_t i = 0; i < t.outstanding.size(); ++i) {
    const OutstandingChunk& c = t.outstanding[i];
    if (c.tsn != expect++) return false;
    // NextUnacked's skips end inside the queue, on a chunk in a final state.
    if (c.Final() && (c.skip == 0 || i + c.skip > t.outstanding.size() || !t.outstanding[i + c.skip - 1].Final()))
      return false;
    held += c.size;
    if (c.state == OutstandingChunk::State::kInFlight) flight += c.size;
    if (c.state != OutstandingChunk::State::kAcked) outstanding += c.size;
    if (c.state == OutstandingChunk::State::kToRetransmit) ++rtx;
  }
  if (expect != t.next_tsn) return false;
  // A tail loss probe in flight was sent, and what it resent was sent up to it.
  if (t.tlp_end && *t.tlp_end >= t.next_tsn) return false;
  if (t.tlp_resent && (!t.tlp_end || *t.tlp_resent > *t.tlp_end)) return false;
  if (t.tlp_duplicate && !t.tlp_resent) return false;
  if (t.forward_tsn) {
    // The FORWARD-TSN summary says what a fresh walk of the same chunks says.
    const ForwardTsnSummary& s = *t.forward_tsn;
    const UnwrappedTsn from = std::max(s.walked, t.cumulative_ack);
    if (from >= t.next_tsn || s.trimmed_at > t.cumulative_ack) return false;
    ForwardTsnSummary fresh;
    fresh.Walk(t.outstanding, t.caps.i_data, 0, static_cast<size_t>(from - t.cumulative_ack));
    if (!s.SameAs(std::move(fresh), t.cumulative_ack)) return false;
  }
  return flight == t.flight_bytes && outstanding == t.outstanding_bytes && held == t.held_bytes &&
         rtx == t.to_retransmit && t.cwnd >= options_.mtu;
}

void Association::CheckConsistency() {
  // The full walk is linear in the outstanding chunks; with multi-megabyte
  // windows it runs on every 64th call only, so benchmarks measure the protocol.
  if (tcb_ && tcb_->outstanding.size() > 128 && (++consistency_calls_ % 64) != 0) return;
  PL_DCHECK(IsConsistent());
}

}  // namespace peerlink::sctp
