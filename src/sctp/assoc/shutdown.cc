// Graceful shutdown (RFC 9260 section 9.2), ABORT (9.1), ERROR, HEARTBEAT
// (8.3), and the association error counter (8.1).
#include <algorithm>

#include "src/base/check.h"
#include "src/sctp/assoc/tcb.h"
#include "src/sctp/control_chunks.h"
#include "src/sctp/packet.h"
#include "src/sctp/parameters.h"

namespace peerlink::sctp {

void Association::Shutdown(Instant now) {
  if (terminated_) return;
  if (!tcb_ || state_ == State::kClosed || state_ == State::kCookieWait || state_ == State::kCookieEchoed) {
    CloseWithReason("shut down before the association was established", false);
    return;
  }
  if (state_ == State::kEstablished) state_ = State::kShutdownPending;
  MaybeProgressShutdown(now);
  CheckConsistency();
}

void Association::MaybeProgressShutdown(Instant now) {
  if (!tcb_ || terminated_) return;
  Tcb& t = *tcb_;
  ProcessDeferredIncomingReset();
  if ((state_ != State::kShutdownPending && state_ != State::kShutdownReceived) || !AllDataAcked()) return;
  std::vector<uint8_t> buf(32);
  PacketBuilder b(buf, options_.local_port, options_.remote_port, t.peer_tag);
  if (state_ == State::kShutdownPending) {
    // Section 9.2: all our data is acked; SHUTDOWN carries our cumulative TSN ack.
    ShutdownChunk{t.tracker.cumulative_tsn()}.SerializeTo(b.writer());
    state_ = State::kShutdownSent;
  } else {
    EmptyChunk{ChunkType::kShutdownAck}.SerializeTo(b.writer());
    state_ = State::kShutdownAckSent;
  }
  QueueControlPacket(FinishControl(b, true));
  t.t2_count = 0;
  t.t2_shutdown = now + t.rto.rto();
  t.t3_rtx.reset();
}

void Association::OnT2Expired(Instant now) {
  Tcb& t = *tcb_;
  t.t2_shutdown.reset();
  // Section 9.2: T2 retransmissions count against Association.Max.Retrans.
  if (++t.t2_count > options_.max_retransmissions) {
    CloseWithReason("peer did not complete the shutdown handshake", false);
    return;
  }
  t.rto.Backoff();
  std::vector<uint8_t> buf(32);
  PacketBuilder b(buf, options_.local_port, options_.remote_port, t.peer_tag);
  if (state_ == State::kShutdownSent)
    ShutdownChunk{t.tracker.cumulative_tsn()}.SerializeTo(b.writer());
  else if (state_ == State::kShutdownAckSent)
    EmptyChunk{ChunkType::kShutdownAck}.SerializeTo(b.writer());
  else
    return;
  QueueControlPacket(FinishControl(b, true));
  t.t2_shutdown = now + t.rto.rto();
}

void Association::HandleShutdown(Instant now, const ChunkView& c) {
  if (!tcb_) return;
  auto s = ShutdownChunk::Parse(c);
  if (!s) return;
  Tcb& t = *tcb_;
  switch (state_) {
    case State::kEstablished:
    case State::kShutdownPending:
      state_ = State::kShutdownReceived;  // section 9.2: stop accepting new user data
      MaybeProgressShutdown(now);
      break;
    case State::kShutdownSent: {
      // Section 9.2: SHUTDOWN collision: answer with SHUTDOWN ACK.
      std::vector<uint8_t> buf(32);
      PacketBuilder b(buf, options_.local_port, options_.remote_port, t.peer_tag);
      EmptyChunk{ChunkType::kShutdownAck}.SerializeTo(b.writer());
      QueueControlPacket(FinishControl(b, true));
      state_ = State::kShutdownAckSent;
      t.t2_shutdown = now + t.rto.rto();
      break;
    }
    default: break;
  }
}

void Association::HandleShutdownAck(Instant now) {
  (void)now;
  if (!tcb_ || (state_ != State::kShutdownSent && state_ != State::kShutdownAckSent)) return;
  std::vector<uint8_t> buf(32);
  PacketBuilder b(buf, options_.local_port, options_.remote_port, tcb_->peer_tag);
  EmptyChunk{ChunkType::kShutdownComplete}.SerializeTo(b.writer());
  QueueControlPacket(FinishControl(b, true));
  CloseWithReason("shutdown complete", false, true);
}

void Association::HandleShutdownComplete(Instant now) {
  (void)now;
  if (state_ != State::kShutdownAckSent) return;
  CloseWithReason("shutdown complete (closed by peer)", true, true);
}

void Association::HandleAbort(Instant now, const ChunkView& c) {
  (void)now;
  auto a = ErrorCausesChunk::Parse(c);
  std::string why = a ? a->Describe() : std::string("malformed causes");
  CloseWithReason("peer aborted the association: " + why, true);
}

void Association::HandleError(Instant now, const ChunkView& c) {
  (void)now;
  auto e = ErrorCausesChunk::Parse(c);
  if (!e) return;
  if (state_ == State::kCookieEchoed && e->causes.Find(cause::kStaleCookie)) {
    // Section 5.2.6: our cookie went stale in transit (the peer's cookie lifetime is shorter than the RTT allows).
    CloseWithReason("peer rejected our state cookie as stale (round trip longer than its cookie lifetime?)", true);
    return;
  }
  auto unrecognized = e->causes.Find(cause::kUnrecognizedChunkType);
  if (unrecognized && !unrecognized->value.empty() && tcb_ && tcb_->inflight_reset &&
      unrecognized->value[0] == static_cast<uint8_t>(ChunkType::kReConfig)) {
    auto streams = tcb_->inflight_reset->streams;
    tcb_->inflight_reset.reset();
    tcb_->reconfig_timer.reset();
    for (StreamId sid : streams)
      tcb_->send_queue.Resume(sid);
    EmitEvent(StreamsResetFailed{streams, "peer does not understand RE-CONFIG"});
  }
}

void Association::HandleHeartbeat(Instant now, const ChunkView& c) {
  (void)now;
  if (!tcb_ || state_ == State::kCookieWait) return;
  auto h = HeartbeatChunk::Parse(c);
  if (!h) return;
  // Section 8.3: echo the Heartbeat Info unchanged.
  std::vector<uint8_t> buf(std::max<size_t>(options_.mtu, h->info.size() + 32));
  PacketBuilder b(buf, options_.local_port, options_.remote_port, tcb_->peer_tag);
  HeartbeatChunk{ChunkType::kHeartbeatAck, h->info}.SerializeTo(b.writer());
  QueueControlPacket(FinishControl(b, true));
}

void Association::HandleHeartbeatAck(Instant now, const ChunkView& c) {
  if (!tcb_) return;
  auto h = HeartbeatChunk::Parse(c);
  if (!h || h->info.size() != 16) return;
  ByteReader r(h->info);
  Instant sent = Instant::FromNanos(static_cast<int64_t>(r.U64()));
  uint64_t nonce = r.U64();
  Tcb& t = *tcb_;
  if (nonce != t.heartbeat_nonce || !t.heartbeat_timeout || sent > now) return;
  t.heartbeat_timeout.reset();
  t.error_count = 0;
  t.rto.Observe(now - sent);
}

void Association::OnHeartbeatTimer(Instant now) {
  Tcb& t = *tcb_;
  if (t.heartbeat_timeout && *t.heartbeat_timeout <= now) {
    t.heartbeat_timeout.reset();
    if (CountError(now, "heartbeat unanswered")) return;
    t.rto.Backoff();
  }
  if (!t.heartbeat || *t.heartbeat > now) return;
  t.heartbeat = now + options_.heartbeat_interval;
  // Section 8.3: only an idle path is probed.
  if (state_ != State::kEstablished || t.heartbeat_timeout || now - t.last_data_sent < options_.heartbeat_interval)
    return;
  t.heartbeat_nonce = rng_.U64();
  uint8_t info[16];
  ByteWriter iw(info);
  iw.U64(static_cast<uint64_t>(now.nanos()));
  iw.U64(t.heartbeat_nonce);
  std::vector<uint8_t> buf(64);
  PacketBuilder b(buf, options_.local_port, options_.remote_port, t.peer_tag);
  HeartbeatChunk{ChunkType::kHeartbeat, iw.written()}.SerializeTo(b.writer());
  QueueControlPacket(FinishControl(b, true));
  t.heartbeat_timeout = now + t.rto.rto();
}

bool Association::CountError(Instant now, std::string_view what) {
  (void)now;
  Tcb& t = *tcb_;
  if (++t.error_count <= options_.max_retransmissions) return false;
  CloseWithReason(
      "peer unreachable: " + std::to_string(t.error_count) + " consecutive failures (" + std::string(what) + ")",
      false);
  return true;
}

void Association::SendAbort(uint16_t cause_code, std::string_view text, bool reflect_tag, VerificationTag tag) {
  VerificationTag packet_tag = reflect_tag ? tag : tcb_ ? tcb_->peer_tag : tag;
  if (packet_tag.value() == 0 && !reflect_tag) return;  // nobody to tell
  std::vector<uint8_t> buf(std::max<size_t>(options_.mtu, 64));
  PacketBuilder b(buf, options_.local_port, options_.remote_port, packet_tag);
  size_t at = BeginChunk(b.writer(), static_cast<uint8_t>(ChunkType::kAbort), reflect_tag ? 1 : 0);
  size_t len = std::min(text.size(), options_.mtu - 64);
  b.writer().U16(cause_code);
  b.writer().U16(static_cast<uint16_t>(4 + len));
  b.writer().Bytes(AsBytes(text.substr(0, len)));
  b.writer().Zeros(PaddingFor(len));
  FinishChunk(b.writer(), at);
  QueueControlPacket(FinishControl(b, true));
}

void Association::Abort(Instant now, std::string_view reason) {
  (void)now;
  if (terminated_) return;
  if (tcb_) SendAbort(cause::kUserInitiatedAbort, reason);
  CloseWithReason("aborted locally: " + std::string(reason), false);
}

void Association::CloseWithReason(std::string reason, bool by_peer, bool graceful) {
  if (terminated_) return;
  if (tcb_) {
    DeliverMessages();
    Tcb& t = *tcb_;
    t.t3_rtx.reset();
    t.tlp_timer.reset();
    t.delayed_ack.reset();
    t.heartbeat.reset();
    t.heartbeat_timeout.reset();
    t.t2_shutdown.reset();
    t.reconfig_timer.reset();
    // Nothing will be sent or retransmitted again: what was kept for that goes now, not when the
    // owner gets round to destroying the association (metrics stay readable).
    t.outstanding = {};
    t.cumulative_ack = t.next_tsn - 1;  // an empty queue starts at cum + 1 (IsConsistent)
    t.flight_bytes = t.outstanding_bytes = t.held_bytes = t.to_retransmit = 0;
    t.rack_rtx_order = {};
    t.rack_rtx_head = 0;
    t.forward_tsn.reset();
    t.send_queue.Clear();
  }
  spare_buffers_ = {};
  message_pool_.Clear();
  t1_init_.reset();
  t1_cookie_.reset();
  terminated_ = true;
  state_ = State::kClosed;
  EmitEvent(Closed{std::move(reason), by_peer, graceful});
}

}  // namespace peerlink::sctp
