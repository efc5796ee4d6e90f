// Controller, closing: RFC 8831 section 6.7 (a channel is closed by
// resetting its outgoing stream; the peer answers by resetting its own) and
// the end of the association.
#include <string>

#include "src/base/check.h"
#include "src/base/fifo.h"
#include "src/datachannel/controller.h"

namespace peerlink::datachannel {

void Controller::Close(Instant /*now*/, ChannelId id) {
  Channel* ch = FindMutable(id);
  if (!ch || ch->state_ == ReadyState::kClosing) return;
  if (ch->state_ == ReadyState::kConnecting) {
    // Nothing reached the wire yet (SCTP not connected or no id): no reset
    // to wait for.
    QueueEvent(ChannelClosing{id});
    QueueEvent(ChannelClosed{id});
    Forget(id);
  } else {
    StartClosing(*ch);
  }
  PL_DCHECK(IsConsistent());
}

void Controller::StartClosing(Channel& ch) {
  if (ch.state_ == ReadyState::kClosing) return;
  PL_DCHECK(ch.stream_.has_value());
  ch.state_ = ReadyState::kClosing;
  QueueEvent(ChannelClosing{ch.handle_});
  RequestOutgoingReset(ch);
  MaybeFinishClose(ch);
}

void Controller::RequestOutgoingReset(Channel& ch) {
  if (ch.out_reset_ != Channel::OutReset::kNone) return;
  ch.out_reset_ = Channel::OutReset::kRequested;
  // Queued behind this channel's pending sends: SCTP resets the stream after
  // the messages it already accepted (RFC 6525 section 5.2.2).
  QueueReset(*ch.stream_);
}

void Controller::MaybeFinishClose(Channel& ch) {
  if (ch.state_ != ReadyState::kClosing || ch.out_reset_ != Channel::OutReset::kDone || !ch.in_reset_) return;
  const ChannelId handle = ch.handle_;
  QueueEvent(ChannelClosed{handle});
  Forget(handle);
}

void Controller::Forget(ChannelId id) {
  auto it = channels_.find(id);
  if (it == channels_.end()) return;
  Channel& ch = it->second;
  total_reassembly_ -= ch.partial_.size();
  if (ch.stream_) by_stream_.erase(*ch.stream_);
  channels_.erase(it);
}

void Controller::HandleStreamsResetByPeer(Instant /*now*/, std::span<const StreamId> streams) {
  if (transport_closed_) return;
  for (StreamId s : streams) {
    const uint16_t sid = s.value();
    if (sid > kMaxStreamId) continue;
    if (Channel* ch = FindByStreamMutable(sid)) {
      ch->in_reset_ = true;
      DropReassembly(*ch);
      if (ch->state_ != ReadyState::kClosing) {
        // RFC 8832 section 6: a reset before any answer to our OPEN means
        // the peer refused the channel.
        if (ch->locally_initiated_ && !ch->heard_from_peer_)
          QueueEvent(ChannelError{ch->handle_, "peer refused the channel (stream reset before DATA_CHANNEL_ACK)"});
        StartClosing(*ch);  // resets our outgoing side too (RFC 8831 section 6.7)
      }
      MaybeFinishClose(*ch);
    } else if (rejected_in_pending_.test(sid)) {
      rejected_in_pending_.reset(sid);
    } else if (!rejected_out_pending_.test(sid)) {
      // A stream we hold no channel on (e.g. a negotiated channel the
      // application never created here): reset ours as well, so the peer's
      // channel can finish closing.
      rejected_out_pending_.set(sid);
      QueueReset(sid);
    }
  }
  PL_DCHECK(IsConsistent());
}

void Controller::HandleStreamsResetDone(Instant /*now*/, std::span<const StreamId> streams) {
  if (transport_closed_) return;
  for (StreamId s : streams) {
    const uint16_t sid = s.value();
    if (sid > kMaxStreamId || reset_queued_.test(sid)) continue;  // not handed out yet: cannot be done
    if (Channel* ch = FindByStreamMutable(sid)) {
      if (ch->out_reset_ == Channel::OutReset::kRequested) {
        ch->out_reset_ = Channel::OutReset::kDone;
        MaybeFinishClose(*ch);
      }
    } else {
      rejected_out_pending_.reset(sid);
    }
  }
  PL_DCHECK(IsConsistent());
}

void Controller::HandleSctpClosed(Instant /*now*/, std::string_view reason) {
  if (transport_closed_) return;
  transport_closed_ = true;
  connected_ = false;
  // Nothing more goes to SCTP; events already queued stay.
  Fifo<Queued> kept;
  for (Queued& q : queue_)
    if (std::holds_alternative<Event>(q.output)) kept.push_back(std::move(q));
  queue_ = std::move(kept);
  reset_queued_.reset();
  for (auto& [id, ch] : channels_) {
    if (!reason.empty()) QueueEvent(ChannelError{id, "SCTP association closed: " + std::string(reason)});
    QueueEvent(ChannelClosed{id});
  }
  channels_.clear();
  by_stream_.clear();
  rejected_out_pending_.reset();
  rejected_in_pending_.reset();
  total_reassembly_ = 0;
  PL_DCHECK(IsConsistent());
}

}  // namespace peerlink::datachannel
