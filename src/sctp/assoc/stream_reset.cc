// Stream reconfiguration (RFC 6525): our Outgoing SSN Reset Requests, the
// peer's, and Re-configuration Responses. Only the outgoing reset is
// supported (what data channels use, RFC 8831 section 6.7); other request
// types are answered "Denied".
#include "src/base/check.h"
#include "src/sctp/assoc/tcb.h"
#include "src/sctp/control_chunks.h"
#include "src/sctp/packet.h"
#include "src/sctp/parameters.h"

namespace peerlink::sctp {

void Association::ResetStreams(Instant now, std::span<const StreamId> outgoing) {
  (void)now;
  if (outgoing.empty() || terminated_) return;
  if (!tcb_ || state_ != State::kEstablished) {
    EmitEvent(StreamsResetFailed{{outgoing.begin(), outgoing.end()}, "association not established"});
    return;
  }
  Tcb& t = *tcb_;
  if (!t.caps.reconfig) {
    EmitEvent(StreamsResetFailed{{outgoing.begin(), outgoing.end()}, "peer does not support RE-CONFIG (RFC 6525)"});
    return;
  }
  for (StreamId sid : outgoing) {
    t.streams_to_reset.insert(sid.value());
    t.send_queue.Pause(sid);
  }
  t.reconfig_packet_needed = true;
  CheckConsistency();
}

void Association::MaybeSendResetRequest(Instant now) {
  Tcb& t = *tcb_;
  if (t.inflight_reset || t.streams_to_reset.empty()) {
    t.reconfig_packet_needed = false;
    return;
  }
  // Section 5.1.1 / RFC 8831: the request follows the data already handed to
  // SCTP; wait until no message on those streams is half sent.
  for (uint16_t sid : t.streams_to_reset)
    if (!t.send_queue.IsDrained(StreamId(sid))) return;  // re-checked on the next poll
  t.reconfig_packet_needed = false;
  Tcb::InflightReset r;
  r.sequence = t.next_request_sequence++;
  for (uint16_t sid : t.streams_to_reset)
    r.streams.push_back(StreamId(sid));
  r.last_tsn = TsnUnwrapper::Wrap(t.next_tsn - 1);
  t.streams_to_reset.clear();
  t.inflight_reset = r;
  OnReconfigTimer(now);  // sends the request and arms the timer
}

void Association::OnReconfigTimer(Instant now) {
  Tcb& t = *tcb_;
  bool retransmission = t.reconfig_timer.has_value();
  t.reconfig_timer.reset();
  if (!t.inflight_reset) return;
  if (retransmission && CountError(now, "RE-CONFIG request unanswered")) return;
  const auto& r = *t.inflight_reset;
  std::vector<uint8_t> buf(std::max<size_t>(options_.mtu, 64 + 2 * r.streams.size()));
  PacketBuilder b(buf, options_.local_port, options_.remote_port, t.peer_tag);
  size_t at = BeginChunk(b.writer(), static_cast<uint8_t>(ChunkType::kReConfig), 0);
  OutgoingSsnResetRequestParameter::Serialize(b.writer(), r.sequence, t.peer_next_request_sequence - 1, r.last_tsn,
                                              r.streams);
  FinishChunk(b.writer(), at);
  QueueControlPacket(FinishControl(b, true));
  t.reconfig_timer = now + t.rto.rto();
}

void Association::ProcessDeferredIncomingReset() {
  if (!tcb_) return;
  Tcb& t = *tcb_;
  if (!t.deferred_incoming_reset || t.deferred_incoming_reset->last_tsn > t.tracker.cumulative()) return;
  // Section 5.2.2: every TSN up to the sender's last assigned one has arrived.
  DeliverMessages();
  t.reassembly.ResetStreams(t.deferred_incoming_reset->streams);
  EmitEvent(StreamsResetByPeer{t.deferred_incoming_reset->streams});
  t.last_peer_result = ReconfigResponseParameter::kSuccessPerformed;
  t.deferred_incoming_reset.reset();
}

void Association::HandleReConfig(Instant now, const ChunkView& c) {
  if (!tcb_ || state_ == State::kCookieWait || state_ == State::kCookieEchoed) return;
  Tcb& t = *tcb_;
  auto chunk = ReConfigChunk::Parse(c);
  if (!chunk) return;
  std::vector<ReconfigResponseParameter> responses;
  TlvList::Iterator it = chunk->parameters.begin();
  Tlv p;
  while (it.Next(&p)) {
    if (p.type == param::kOutgoingSsnResetRequest) {
      auto req = OutgoingSsnResetRequestParameter::Parse(p);
      if (!req) continue;
      ReconfigResponseParameter resp;
      resp.response_sequence = req->request_sequence;
      if (req->request_sequence == t.peer_next_request_sequence) {
        t.peer_next_request_sequence++;
        std::vector<StreamId> streams;
        for (size_t i = 0; i < req->stream_count; ++i)
          streams.push_back(req->stream(i));
        // An empty list means all streams (section 4.1); data channels never send it.
        UnwrappedTsn last = t.tracker.Unwrap(req->sender_last_assigned_tsn);
        t.deferred_incoming_reset = Tcb::DeferredReset{req->request_sequence, last, std::move(streams)};
        t.last_peer_result = ReconfigResponseParameter::kInProgress;
        ProcessDeferredIncomingReset();
        resp.result = t.last_peer_result;
      } else if (req->request_sequence == t.peer_next_request_sequence - 1) {
        // A retransmission: repeat the outcome (section 5.2.1).
        ProcessDeferredIncomingReset();
        resp.result = t.last_peer_result;
      } else {
        resp.result = ReconfigResponseParameter::kErrorBadSequenceNumber;
      }
      responses.push_back(resp);
    } else if (p.type == param::kReconfigResponse) {
      auto resp = ReconfigResponseParameter::Parse(p);
      if (!resp || !t.inflight_reset || resp->response_sequence != t.inflight_reset->sequence) continue;
      auto streams = t.inflight_reset->streams;
      if (resp->result == ReconfigResponseParameter::kInProgress) {
        // The peer waits for our data to arrive; ask again after a short while.
        t.reconfig_timer = now + std::min(t.rto.rto(), Duration::Millis(100));
        t.error_count = 0;
        continue;
      }
      t.inflight_reset.reset();
      t.reconfig_timer.reset();
      if (resp->result == ReconfigResponseParameter::kSuccessPerformed ||
          resp->result == ReconfigResponseParameter::kSuccessNothingToDo) {
        for (StreamId sid : streams)
          t.send_queue.ResetAndResume(sid);  // section 5.1.1: SSNs restart at 0
        EmitEvent(StreamsResetDone{streams});
      } else {
        for (StreamId sid : streams)
          t.send_queue.Resume(sid);
        EmitEvent(
            StreamsResetFailed{streams, "peer answered the reset request with result " + std::to_string(resp->result)});
      }
      t.reconfig_packet_needed = !t.streams_to_reset.empty();
    } else if (p.value.size() >= 4) {
      // Other requests (incoming reset, SSN/TSN reset, add streams): denied.
      ByteReader r(p.value);
      uint32_t seq = r.U32();
      if (seq == t.peer_next_request_sequence) t.peer_next_request_sequence++;
      ReconfigResponseParameter resp;
      resp.response_sequence = seq;
      resp.result = ReconfigResponseParameter::kDenied;
      responses.push_back(resp);
    }
  }
  if (responses.empty()) return;
  std::vector<uint8_t> buf(options_.mtu);
  PacketBuilder b(buf, options_.local_port, options_.remote_port, t.peer_tag);
  size_t at = BeginChunk(b.writer(), static_cast<uint8_t>(ChunkType::kReConfig), 0);
  for (size_t i = 0; i < responses.size() && i < 2; ++i)
    responses[i].SerializeTo(b.writer());
  FinishChunk(b.writer(), at);
  QueueControlPacket(FinishControl(b, true));
}

}  // namespace peerlink::sctp
