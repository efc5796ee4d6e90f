// Controller, receive path: DCEP (RFC 8832 section 6) and user messages
// (RFC 8831 section 6.6).
#include <string>
#include <utility>

#include "src/base/check.h"
#include "src/datachannel/controller.h"

namespace peerlink::datachannel {

void Controller::HandleMessage(Instant /*now*/, StreamId stream, Ppid ppid, std::vector<uint8_t> payload) {
  const uint16_t sid = stream.value();
  // SCTP never delivers on a stream outside the negotiated range; a peer
  // layer that does is not a reason to touch state.
  if (transport_closed_ || sid > kMaxStreamId || sid >= config_.num_streams) {
    ++stats_.messages_dropped;
    return;
  }
  if (ppid == Ppid::kDcep) {
    HandleDcep(sid, payload);
  } else {
    Channel* ch = FindByStreamMutable(sid);
    if (!ch || ch->in_reset_ || (ch->state_ != ReadyState::kOpen && ch->state_ != ReadyState::kClosing)) {
      // E.g. data for a negotiated channel the application has not created.
      ++stats_.messages_dropped;
    } else {
      HandleUserMessage(*ch, ppid, std::move(payload));
    }
  }
  PL_DCHECK(IsConsistent());
}

void Controller::HandleDcep(uint16_t stream, ByteView payload) {
  DcepLimits limits;
  limits.max_label_length = config_.max_label_length;
  limits.max_protocol_length = config_.max_protocol_length;
  auto parsed = ParseDcep(payload, limits);
  if (!parsed) {
    ++stats_.dcep_malformed;
    // RFC 8832 section 6: an OPEN that is not well formed closes the
    // channel; we cannot tell a broken OPEN from a broken ACK, so any
    // unparsable DCEP message closes whatever is on the stream.
    if (Channel* ch = FindByStreamMutable(stream)) {
      FailChannel(*ch, std::string("malformed DCEP message (") + parsed.error().what + ": " +
                           std::string(ToString(parsed.error().code)) + ")");
    } else {
      RejectStream(stream);
    }
    return;
  }
  if (const auto* open = std::get_if<DataChannelOpen>(&*parsed)) {
    HandleOpen(stream, *open);
    return;
  }
  // DATA_CHANNEL_ACK: only meaningful on a channel we opened with DCEP.
  Channel* ch = FindByStreamMutable(stream);
  if (!ch || !ch->locally_initiated_) {
    ++stats_.dcep_unexpected;
    return;
  }
  ch->heard_from_peer_ = true;
}

void Controller::HandleOpen(uint16_t stream, const DataChannelOpen& open) {
  ++stats_.opens_received;
  // RFC 8832 section 6: an OPEN on a used stream, breaking the odd/even
  // rule, or with bad parameters is answered by closing the channel (a
  // reset), never with an ACK.
  if (Channel* ch = FindByStreamMutable(stream)) {
    ++stats_.opens_rejected;
    FailChannel(*ch, "DATA_CHANNEL_OPEN received on stream " + std::to_string(stream) + ", which is already in use");
    return;
  }
  if (StreamInUse(stream) || OursByParity(stream) || channels_.size() >= config_.max_channels) {
    RejectStream(stream);
    return;
  }
  const ChannelId handle(next_channel_id_++);
  Channel& ch = channels_[handle];
  ch.handle_ = handle;
  ch.stream_ = stream;
  by_stream_[stream] = handle;
  ch.label_ = std::string(open.label);
  ch.protocol_ = std::string(open.protocol);
  ch.options_.ordered = !IsUnordered(open.channel_type);
  // The reliability parameter is ignored for reliable types (RFC 8832
  // section 5.1). W3C maxRetransmits is 16 bits: clamp.
  if (IsRexmit(open.channel_type))
    ch.options_.max_retransmits = static_cast<uint16_t>(std::min<uint32_t>(open.reliability_parameter, 0xffff));
  if (IsTimed(open.channel_type))
    ch.options_.max_packet_lifetime = Duration::Millis(int64_t{open.reliability_parameter});
  ch.options_.protocol = ch.protocol_;
  ch.options_.negotiated = false;
  ch.options_.id = stream;
  ch.options_.priority = PriorityFromWire(open.priority);
  ch.heard_from_peer_ = true;
  ch.state_ = ReadyState::kOpen;
  QueueSend(ch, Ppid::kDcep, DataChannelAck{}.Serialize(), /*dcep=*/true);
  QueueEvent(IncomingChannel{handle, ch.label_, ch.protocol_, ch.options_});
  QueueEvent(ChannelOpened{handle});
}

void Controller::RejectStream(uint16_t stream) {
  ++stats_.opens_rejected;
  rejected_in_pending_.set(stream);
  if (!rejected_out_pending_.test(stream)) {
    rejected_out_pending_.set(stream);
    QueueReset(stream);
  }
}

void Controller::HandleUserMessage(Channel& ch, Ppid ppid, std::vector<uint8_t> payload) {
  ch.heard_from_peer_ = true;
  bool binary = false;
  switch (ppid) {
    case Ppid::kString:
    case Ppid::kBinary: {
      binary = ppid == Ppid::kBinary;
      if (ch.partial_binary_) {
        // The last fragment of a deprecated PPID 52/54 message.
        if (*ch.partial_binary_ != binary) {
          FailChannel(ch, "fragment of a deprecated partial message ended with the other data type");
          return;
        }
        if (ch.partial_.size() + payload.size() > config_.max_reassembled_message_size) {
          FailChannel(ch, "reassembled message exceeds max_reassembled_message_size");
          return;
        }
        ch.partial_.insert(ch.partial_.end(), payload.begin(), payload.end());
        total_reassembly_ -= ch.partial_.size() - payload.size();
        payload = std::move(ch.partial_);
        ch.partial_.clear();
        ch.partial_binary_.reset();
      }
      break;
    }
    case Ppid::kStringEmpty:
    case Ppid::kBinaryEmpty:
      if (ch.partial_binary_) {
        FailChannel(ch, "empty-message PPID inside a deprecated partial message");
        return;
      }
      binary = ppid == Ppid::kBinaryEmpty;
      payload.clear();  // one (ignored) byte on the wire stands for nothing
      break;
    case Ppid::kStringPartial:
    case Ppid::kBinaryPartial: {
      // RFC 8831 section 6.6: the deprecated PPID-based fragmentation only
      // ever worked on reliable ordered channels; elsewhere fragments may be
      // lost or reordered, so treat it as an error condition and close.
      binary = ppid == Ppid::kBinaryPartial;
      if (!ch.options_.ordered || ch.options_.max_retransmits || ch.options_.max_packet_lifetime) {
        FailChannel(ch, "deprecated partial PPID on an unordered or partially reliable channel");
        return;
      }
      if (ch.partial_binary_ && *ch.partial_binary_ != binary) {
        FailChannel(ch, "deprecated partial message mixes string and binary fragments");
        return;
      }
      if (ch.partial_.size() + payload.size() > config_.max_reassembled_message_size ||
          total_reassembly_ + payload.size() > config_.max_total_reassembly) {
        FailChannel(ch, "reassembled message exceeds the reassembly limits");
        return;
      }
      ch.partial_.insert(ch.partial_.end(), payload.begin(), payload.end());
      total_reassembly_ += payload.size();
      ch.partial_binary_ = binary;
      return;
    }
    default:
      // RFC 8831 section 6.6: an unsupported PPID SHOULD close the channel.
      FailChannel(ch, "unsupported PPID " + std::to_string(static_cast<uint32_t>(ppid)));
      return;
  }
  ++stats_.messages_received;
  QueueEvent(Message{ch.handle_, std::move(payload), binary});
}

void Controller::FailChannel(Channel& ch, std::string reason) {
  QueueEvent(ChannelError{ch.handle_, std::move(reason)});
  DropReassembly(ch);
  if (ch.state_ == ReadyState::kConnecting) {
    const ChannelId handle = ch.handle_;
    QueueEvent(ChannelClosed{handle});
    Forget(handle);
    return;
  }
  StartClosing(ch);
}

void Controller::DropReassembly(Channel& ch) {
  total_reassembly_ -= ch.partial_.size();
  ch.partial_.clear();
  ch.partial_.shrink_to_fit();
  ch.partial_binary_.reset();
}

}  // namespace peerlink::datachannel
