// Connection::PollOutput: drains the children in a fixed order and wires their outputs into
// each other (ICE <-> DTLS <-> SCTP <-> data-channel controller).
#include <algorithm>
#include <utility>

#include "src/base/check.h"
#include "src/dtls/demux.h"
#include "src/peer/connection.h"

namespace peerlink::peer {

Output Connection::PollOutput(Instant now) {
  // Each pass polls ICE, then DTLS, SCTP and the controller, one output at a time; whatever a
  // lower child produced flows up (SCTP packet -> DTLS record -> ICE datagram), so the pass
  // restarts at the top. Bounded: every step consumes one queued item of a child.
  for (int guard = 0; guard < 1'000'000; ++guard) {
    if (!events_.empty()) {
      Event e = std::move(events_.front());
      events_.pop_front();
      return e;
    }
    Output out;
    if (StepIce(now, &out)) {
      if (std::holds_alternative<Transmit>(out)) return out;
      continue;
    }
    if (StepDtls(now)) continue;
    if (StepSctp(now)) continue;
    if (StepController(now)) continue;
    UpdateState("");
    if (!events_.empty()) continue;
    Deadline d{Instant::Max(), "idle"};
    if (ice_deadline_ < d.at) d = {ice_deadline_, "ice"};
    if (dtls_deadline_ < d.at) d = {dtls_deadline_, "dtls"};
    if (sctp_deadline_ < d.at) d = {sctp_deadline_, "sctp"};
    if (close_deadline_ && *close_deadline_ < d.at) d = {*close_deadline_, "close"};
    return d;
  }
  PL_CHECK(false && "peer connection output did not drain");
  return Deadline{Instant::Max(), "idle"};
}

bool Connection::StepIce(Instant now, Output* out) {
  // Polled even once closed: the DTLS close_notify and TURN deallocations still leave.
  ice::Output o = ice_->PollOutput(now);
  if (auto* t = std::get_if<ice::Transmit>(&o)) {
    ++datagrams_sent_;
    bytes_sent_ += t->data.size();
    *out = Transmit{t->source, t->destination, t->transport, std::move(t->data)};
    return true;
  }
  if (auto* e = std::get_if<ice::AgentEvent>(&o)) {
    if (!closed_) HandleIceEvent(now, *e);
    *out = Deadline{};
    return true;
  }
  const auto& d = std::get<ice::Deadline>(o);
  ice_deadline_ = d.at;
  ice_timer_ = d.timer;
  return false;
}

void Connection::HandleIceEvent(Instant now, ice::AgentEvent& e) {
  if (auto* c = std::get_if<ice::LocalCandidateEvent>(&e)) {
    QueueEvent(IceCandidate{std::move(c->candidate)});
  } else if (auto* g = std::get_if<ice::GatheringStateEvent>(&e)) {
    QueueEvent(IceGatheringStateChange{g->state});
  } else if (auto* s = std::get_if<ice::StateEvent>(&e)) {
    QueueEvent(IceConnectionStateChange{s->state, s->reason});
    if (s->state == ice::State::kFailed) failure_reason_ = "ICE failed: " + s->reason;
    UpdateState(s->state == ice::State::kFailed || s->state == ice::State::kDisconnected ? s->reason : "");
  } else if (auto* p = std::get_if<ice::SelectedPairEvent>(&e)) {
    ++selected_pair_changes_;
    QueueEvent(SelectedCandidatePairChange{p->local, p->remote});
    MaybeStartDtls(now);
  } else if (auto* d = std::get_if<ice::ApplicationDataEvent>(&e)) {
    // Through a TURN relay: apply the same RFC 7983 demultiplexing.
    if (dtls::ClassifyDatagram(d->data) == dtls::DatagramKind::kDtls) {
      DeliverToDtls(now, d->data);
    } else {
      ++datagrams_discarded_;
    }
  }
  // RoleEvent (role conflict resolved): nothing depends on the ICE role above ICE.
}

bool Connection::StepDtls(Instant now) {
  if (!dtls_ || closed_) {
    dtls_deadline_ = Instant::Max();
    return false;
  }
  dtls::Output o = dtls_->PollOutput(now);
  if (auto* t = std::get_if<dtls::Transmit>(&o)) {
    // Over the selected pair. Before ICE has one (or after consent is lost) the record is
    // lost, as on a dead path; DTLS retransmits handshake flights, SCTP retransmits data.
    if (ice_->SendData(now, t->datagram) != ice::SendResult::kOk) ++datagrams_discarded_;
    dtls_->RecycleBuffer(std::move(t->datagram));  // SendData copied or sent it
    return true;
  }
  if (auto* e = std::get_if<dtls::Event>(&o)) {
    HandleDtlsEvent(now, *e);
    return true;
  }
  dtls_deadline_ = std::get<dtls::Deadline>(o).at;
  return false;
}

void Connection::HandleDtlsEvent(Instant now, dtls::Event& e) {
  if (auto* c = std::get_if<dtls::Connected>(&e)) {
    dtls_cipher_ = c->cipher;
    UpdateState("");
    if (!closing_) StartSctp(now);
  } else if (auto* a = std::get_if<dtls::ApplicationData>(&e)) {
    if (sctp_ && sctp_started_ && !sctp_closed_) {
      sctp_->HandlePacket(now, a->data);
      dtls_->RecycleBuffer(std::move(a->data));  // HandlePacket copies what it keeps
      ReportBufferedAmounts(now);
    } else if (sctp_ && !sctp_started_ && !closing_) {
      // The peer's INIT can arrive before our own Connected was polled.
      StartSctp(now);
      sctp_->HandlePacket(now, a->data);
    }
  } else if (auto* cl = std::get_if<dtls::Closed>(&e)) {
    if (cl->by_peer) {
      // close_notify is authenticated: the peer is done with this connection. Nothing can be
      // sent or received any more, so the connection is closed (as libdatachannel does) rather
      // than waiting for ICE consent to expire.
      if (sctp_ && !sctp_closed_) {
        sctp_closed_ = true;
        controller_.HandleSctpClosed(now, "");
      }
      FinishClose(now, "closed by the peer (DTLS close_notify)");
    } else if (closing_) {
      FinishClose(now, "");
    }
  } else if (auto* f = std::get_if<dtls::Failed>(&e)) {
    failure_reason_ = "DTLS failed: " + f->reason;
    if (sctp_ && !sctp_closed_) {
      sctp_closed_ = true;
      if (sctp_->state() != sctp::State::kClosed) sctp_->Abort(now, "DTLS failed");  // stops its timers
      controller_.HandleSctpClosed(now, failure_reason_);
    }
    UpdateState(failure_reason_);
    if (closing_) FinishClose(now, failure_reason_);
  }
}

bool Connection::StepSctp(Instant now) {
  if (!sctp_ || closed_) {
    sctp_deadline_ = Instant::Max();
    return false;
  }
  sctp::Output o = sctp_->PollOutput(now);
  if (auto* t = std::get_if<sctp::Transmit>(&o)) {
    if (dtls_->state() == dtls::State::kConnected) {
      const dtls::SendResult r = dtls_->Send(now, t->packet);
      if (r != dtls::SendResult::kOk) ++datagrams_discarded_;  // SCTP retransmits
    }
    sctp_->RecycleBuffer(std::move(t->packet));
    return true;
  }
  if (auto* e = std::get_if<sctp::Event>(&o)) {
    HandleSctpEvent(now, *e);
    return true;
  }
  sctp_deadline_ = std::get<sctp::Deadline>(o).at;
  return false;
}

void Connection::HandleSctpEvent(Instant now, sctp::Event& e) {
  using datachannel::StreamId;
  if (std::holds_alternative<sctp::Connected>(e)) {
    controller_.HandleSctpConnected(now);
  } else if (auto* m = std::get_if<sctp::MessageReceived>(&e)) {
    controller_.HandleMessage(now, StreamId(m->stream_id.value()), datachannel::Ppid(m->ppid.value()),
                              std::move(m->payload));
  } else if (auto* r = std::get_if<sctp::StreamsResetByPeer>(&e)) {
    std::vector<StreamId> ids;
    for (sctp::StreamId s : r->streams)
      ids.push_back(StreamId(s.value()));
    controller_.HandleStreamsResetByPeer(now, ids);
  } else if (auto* d = std::get_if<sctp::StreamsResetDone>(&e)) {
    std::vector<StreamId> ids;
    for (sctp::StreamId s : d->streams)
      ids.push_back(StreamId(s.value()));
    controller_.HandleStreamsResetDone(now, ids);
  } else if (std::holds_alternative<sctp::StreamsResetFailed>(e)) {
    ++sctp_reset_failures_;  // the peer refused; the channel stays closing until the transport ends
  } else if (auto* b = std::get_if<sctp::BufferedAmountLow>(&e)) {
    buffered_streams_.insert(b->stream_id.value());
    ReportBufferedAmounts(now);
  } else if (auto* c = std::get_if<sctp::Closed>(&e)) {
    if (!sctp_closed_) {
      sctp_closed_ = true;
      // A graceful shutdown (ours, or the peer's SHUTDOWN) closes channels without an error, as
      // W3C closes them on a clean transport close; an abort or a failure is an error.
      controller_.HandleSctpClosed(now, closing_ || c->graceful ? "" : c->reason);
    }
    if (closing_) FinishClose(now, "");
  }
  // TotalBufferedAmountLow, Restarted: nothing to do at this layer.
}

bool Connection::StepController(Instant now) {
  datachannel::Output o = controller_.PollOutput(now);
  if (auto* s = std::get_if<datachannel::SctpSend>(&o)) {
    if (sctp_ && !sctp_closed_) {
      sctp::SendOptions so;
      so.unordered = s->unordered;
      so.max_retransmits = s->max_retransmits;
      so.lifetime = s->lifetime;
      const uint16_t stream = s->stream.value();
      const sctp::SendStatus st = sctp_->Send(now, sctp::StreamId(stream), sctp::Ppid(static_cast<uint32_t>(s->ppid)),
                                              std::move(s->payload), so);
      (void)st;  // refused sends (buffer full after a race, resetting) are reflected in the amount reported
      buffered_streams_.insert(stream);
      ReportBufferedAmounts(now);
    }
    return true;
  }
  if (auto* r = std::get_if<datachannel::SctpReset>(&o)) {
    if (sctp_ && !sctp_closed_) {
      std::vector<sctp::StreamId> ids;
      for (datachannel::StreamId s : r->streams)
        ids.push_back(sctp::StreamId(s.value()));
      sctp_->ResetStreams(now, ids);
    }
    return true;
  }
  if (auto* e = std::get_if<datachannel::Event>(&o)) {
    HandleChannelEvent(*e);
    return true;
  }
  return false;
}

void Connection::HandleChannelEvent(datachannel::Event& e) {
  std::visit(
      [&](auto& ev) {
        using T = std::decay_t<decltype(ev)>;
        if constexpr (std::is_same_v<T, datachannel::IncomingChannel>) {
          channel_counters_[ev.id] = {};
        } else if constexpr (std::is_same_v<T, datachannel::ChannelOpened>) {
          ++channels_opened_;
        } else if constexpr (std::is_same_v<T, datachannel::Message>) {
          ChannelCounters& c = channel_counters_[ev.id];
          ++c.messages_received;
          c.bytes_received += ev.payload.size();
        } else if constexpr (std::is_same_v<T, datachannel::ChannelClosed>) {
          ++channels_closed_;
          channel_counters_.erase(ev.id);
        }
        QueueEvent(Event(std::move(ev)));
      },
      e);
}

}  // namespace peerlink::peer
