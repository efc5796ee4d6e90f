// Controller: API, channel creation and opening, sending, the output queue,
// getters and invariants. Receive path: receive.cc. Closing: close.cc.
#include "src/datachannel/controller.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "src/base/check.h"

namespace peerlink::datachannel {

std::string_view ToString(Ppid p) {
  switch (p) {
    case Ppid::kDcep: return "DCEP";
    case Ppid::kString: return "WebRTC String";
    case Ppid::kBinaryPartial: return "WebRTC Binary Partial (deprecated)";
    case Ppid::kBinary: return "WebRTC Binary";
    case Ppid::kStringPartial: return "WebRTC String Partial (deprecated)";
    case Ppid::kStringEmpty: return "WebRTC String Empty";
    case Ppid::kBinaryEmpty: return "WebRTC Binary Empty";
  }
  return "unknown PPID";
}

std::string_view ToString(Priority p) {
  switch (p) {
    case Priority::kVeryLow: return "very-low";
    case Priority::kLow: return "low";
    case Priority::kMedium: return "medium";
    case Priority::kHigh: return "high";
  }
  return "unknown";
}

Priority PriorityFromWire(uint16_t wire) {
  if (wire <= 128) return Priority::kVeryLow;
  if (wire <= 256) return Priority::kLow;
  if (wire <= 512) return Priority::kMedium;
  return Priority::kHigh;
}

std::string_view ToString(ReadyState s) {
  switch (s) {
    case ReadyState::kConnecting: return "connecting";
    case ReadyState::kOpen: return "open";
    case ReadyState::kClosing: return "closing";
    case ReadyState::kClosed: return "closed";
  }
  return "unknown";
}

std::string_view ToString(CreateError e) {
  switch (e) {
    case CreateError::kTransportClosed: return "the SCTP association is closed";
    case CreateError::kLabelTooLong: return "label is longer than the configured maximum";
    case CreateError::kProtocolTooLong: return "protocol is longer than the configured maximum";
    case CreateError::kBothReliabilityLimits: return "max_retransmits and max_packet_lifetime cannot both be set";
    case CreateError::kLifetimeOutOfRange: return "max_packet_lifetime must be between 0 and 2^32-1 ms";
    case CreateError::kNegotiatedWithoutId: return "a negotiated channel needs an id";
    case CreateError::kIdRequiresNegotiated:
      return "an id can only be given for a negotiated channel (DCEP ids follow the DTLS role)";
    case CreateError::kIdOutOfRange: return "id is out of range (0..65534 and below the SCTP stream count)";
    case CreateError::kIdInUse: return "id is already used by another channel or a stream still being reset";
    case CreateError::kTooManyChannels: return "too many channels (Config::max_channels)";
    case CreateError::kNoFreeStreamId: return "no free SCTP stream id for our DTLS role";
  }
  return "unknown error";
}

std::string_view ToString(SendStatus s) {
  switch (s) {
    case SendStatus::kOk: return "ok";
    case SendStatus::kUnknownChannel: return "channel is closed or unknown";
    case SendStatus::kNotOpen: return "channel is still connecting";
    case SendStatus::kClosing: return "channel is closing";
    case SendStatus::kMessageTooLarge: return "message is larger than the remote's max message size";
    case SendStatus::kBufferFull: return "bufferedAmount would exceed the configured maximum";
  }
  return "unknown status";
}

Controller::Controller(const Config& config) : config_(config) {
  config_.num_streams = std::min<uint32_t>(config_.num_streams, 65535);
  config_.max_label_length = std::min<size_t>(config_.max_label_length, 0xffff);
  config_.max_protocol_length = std::min<size_t>(config_.max_protocol_length, 0xffff);
}

void Controller::SetDtlsRole(bool client) {
  // The role is fixed by the DTLS handshake; once ids are handed out a
  // change would break the parity rule, so only the first value counts.
  if (dtls_client_) return;
  dtls_client_ = client;
  OpenPendingChannels();
}

void Controller::SetMaxMessageSize(size_t bytes) {
  max_message_size_ = bytes == 0 ? std::numeric_limits<size_t>::max() : bytes;
}

Result<ChannelId, CreateError> Controller::CreateChannel(Instant /*now*/,
                                                         std::string_view label,
                                                         const ChannelOptions& options) {
  if (transport_closed_) return MakeUnexpected(CreateError::kTransportClosed);
  if (label.size() > config_.max_label_length) return MakeUnexpected(CreateError::kLabelTooLong);
  if (options.protocol.size() > config_.max_protocol_length) return MakeUnexpected(CreateError::kProtocolTooLong);
  if (options.max_retransmits && options.max_packet_lifetime)
    return MakeUnexpected(CreateError::kBothReliabilityLimits);
  if (options.max_packet_lifetime &&
      (*options.max_packet_lifetime < Duration::Zero() || options.max_packet_lifetime->millis() > 0xffffffffLL))
    return MakeUnexpected(CreateError::kLifetimeOutOfRange);
  if (options.negotiated && !options.id) return MakeUnexpected(CreateError::kNegotiatedWithoutId);
  if (!options.negotiated && options.id) return MakeUnexpected(CreateError::kIdRequiresNegotiated);
  if (options.id && (*options.id > kMaxStreamId || *options.id >= config_.num_streams))
    return MakeUnexpected(CreateError::kIdOutOfRange);
  if (options.id && StreamInUse(*options.id)) return MakeUnexpected(CreateError::kIdInUse);
  if (channels_.size() >= config_.max_channels) return MakeUnexpected(CreateError::kTooManyChannels);
  if (!options.negotiated && connected_ && dtls_client_ && !AllocateStreamId())
    return MakeUnexpected(CreateError::kNoFreeStreamId);

  const ChannelId handle(next_channel_id_++);
  Channel& ch = channels_[handle];
  ch.handle_ = handle;
  ch.label_ = std::string(label);
  ch.protocol_ = options.protocol;
  ch.options_ = options;
  ch.locally_initiated_ = !options.negotiated;
  if (options.negotiated) {
    ch.stream_ = *options.id;
    by_stream_[*options.id] = handle;
    // Negotiated channels never hear a DCEP message; unordered is safe at once.
    ch.heard_from_peer_ = true;
  }
  if (connected_) OpenChannel(ch);
  PL_DCHECK(IsConsistent());
  return handle;
}

void Controller::OpenPendingChannels() {
  if (!connected_ || transport_closed_) return;
  std::vector<ChannelId> pending;
  for (const auto& [id, ch] : channels_)
    if (ch.state_ == ReadyState::kConnecting) pending.push_back(id);
  for (ChannelId id : pending) {
    if (Channel* ch = FindMutable(id)) OpenChannel(*ch);
  }
}

bool Controller::OpenChannel(Channel& ch) {
  PL_DCHECK(connected_ && ch.state_ == ReadyState::kConnecting);
  if (!ch.options_.negotiated) {
    if (!dtls_client_) return false;  // waits for SetDtlsRole
    const std::optional<uint16_t> stream = AllocateStreamId();
    if (!stream) {
      const ChannelId handle = ch.handle_;
      QueueEvent(ChannelError{handle, std::string(ToString(CreateError::kNoFreeStreamId))});
      QueueEvent(ChannelClosed{handle});
      Forget(handle);
      return false;
    }
    ch.stream_ = *stream;
    ch.options_.id = *stream;
    by_stream_[*stream] = ch.handle_;
    DataChannelOpen open;
    const bool rexmit = ch.options_.max_retransmits.has_value();
    const bool timed = ch.options_.max_packet_lifetime.has_value();
    open.channel_type = MakeChannelType(ch.options_.ordered, rexmit, timed);
    open.priority = static_cast<uint16_t>(ch.options_.priority);
    if (rexmit) open.reliability_parameter = *ch.options_.max_retransmits;
    if (timed) open.reliability_parameter = static_cast<uint32_t>(ch.options_.max_packet_lifetime->millis());
    open.label = ch.label_;
    open.protocol = ch.protocol_;
    // Sizes were checked against max_label/protocol_length (<= 65535).
    QueueSend(ch, Ppid::kDcep, open.Serialize(), /*dcep=*/true);
  }
  // Open at once, without waiting for the ACK (RFC 8832 section 6 allows
  // user data to follow the OPEN; browsers do the same).
  ch.state_ = ReadyState::kOpen;
  QueueEvent(ChannelOpened{ch.handle_});
  return true;
}

SendStatus Controller::Send(Instant /*now*/, ChannelId id, ByteView data, bool binary, std::vector<uint8_t>* storage) {
  Channel* ch = FindMutable(id);
  if (!ch) return SendStatus::kUnknownChannel;
  switch (ch->state_) {
    case ReadyState::kConnecting: return SendStatus::kNotOpen;
    case ReadyState::kClosing: return SendStatus::kClosing;
    case ReadyState::kClosed: return SendStatus::kUnknownChannel;
    case ReadyState::kOpen: break;
  }
  if (data.size() > max_message_size_) return SendStatus::kMessageTooLarge;
  // RFC 8831 section 6.6: an empty message is one zero byte with PPID 56/57.
  const size_t wire_size = data.empty() ? 1 : data.size();
  if (ch->buffered_amount() + wire_size > config_.max_buffered_amount) return SendStatus::kBufferFull;
  std::vector<uint8_t> payload = storage ? std::move(*storage) : std::vector<uint8_t>{};
  Ppid ppid;
  if (data.empty()) {
    payload.assign(1, 0);
    ppid = binary ? Ppid::kBinaryEmpty : Ppid::kStringEmpty;
  } else {
    payload.assign(data.begin(), data.end());
    ppid = binary ? Ppid::kBinary : Ppid::kString;
  }
  QueueSend(*ch, ppid, std::move(payload), /*dcep=*/false);
  ch->user_data_since_low_ = true;
  ++stats_.messages_sent;
  PL_DCHECK(IsConsistent());
  return SendStatus::kOk;
}

bool Controller::SetBufferedAmountLowThreshold(ChannelId id, size_t threshold) {
  Channel* ch = FindMutable(id);
  if (!ch) return false;
  ch->low_threshold_ = threshold;
  return true;
}

void Controller::HandleSctpConnected(Instant /*now*/) {
  if (connected_ || transport_closed_) return;
  connected_ = true;
  OpenPendingChannels();
  PL_DCHECK(IsConsistent());
}

void Controller::HandleBufferedAmount(Instant /*now*/, StreamId stream, size_t amount) {
  Channel* ch = FindByStreamMutable(stream.value());
  if (!ch) return;
  const size_t before = ch->buffered_amount();
  ch->sctp_reported_ = amount;
  ch->polled_unreported_ = 0;
  CheckBufferedLow(*ch, before);
  PL_DCHECK(IsConsistent());
}

void Controller::CheckBufferedLow(Channel& ch, size_t before) {
  const size_t after = ch.buffered_amount();
  if (before > ch.low_threshold_ && after <= ch.low_threshold_ && ch.user_data_since_low_ &&
      ch.state_ != ReadyState::kClosed) {
    ch.user_data_since_low_ = false;
    QueueEvent(BufferedAmountLow{ch.handle_});
  }
}

void Controller::QueueEvent(Event e) {
  queue_.push_back(Queued{Output(std::move(e)), std::nullopt});
}

void Controller::QueueSend(Channel& ch, Ppid ppid, std::vector<uint8_t> payload, bool dcep) {
  PL_DCHECK(ch.stream_.has_value());
  SctpSend s;
  s.stream = StreamId(*ch.stream_);
  s.ppid = ppid;
  // RFC 8832 section 6: DCEP messages are ordered and reliable; user data
  // from the initiator stays ordered until the peer has been heard from.
  if (!dcep) {
    s.unordered = !ch.options_.ordered && ch.heard_from_peer_;
    s.max_retransmits = ch.options_.max_retransmits;
    s.lifetime = ch.options_.max_packet_lifetime;
  }
  ch.queued_ += payload.size();
  s.payload = std::move(payload);
  queue_.push_back(Queued{Output(std::move(s)), ch.handle_});
}

void Controller::QueueReset(uint16_t stream) {
  if (reset_queued_.test(stream)) return;
  reset_queued_.set(stream);
  queue_.push_back(Queued{Output(SctpReset{{StreamId(stream)}}), std::nullopt});
}

Output Controller::PollOutput(Instant /*now*/) {
  if (queue_.empty()) return Deadline{Instant::Max()};
  Queued q = std::move(queue_.front());
  queue_.pop_front();
  if (auto* send = std::get_if<SctpSend>(&q.output)) {
    if (q.owner) {
      if (Channel* ch = FindMutable(*q.owner)) {
        PL_DCHECK(ch->queued_ >= send->payload.size());
        ch->queued_ -= send->payload.size();
        ch->polled_unreported_ += send->payload.size();
      }
    }
  } else if (auto* reset = std::get_if<SctpReset>(&q.output)) {
    // Coalesce adjacent resets into one RE-CONFIG request.
    while (!queue_.empty()) {
      auto* next = std::get_if<SctpReset>(&queue_.front().output);
      if (!next) break;
      reset->streams.insert(reset->streams.end(), next->streams.begin(), next->streams.end());
      queue_.pop_front();
    }
    for (StreamId s : reset->streams)
      reset_queued_.reset(s.value());
  }
  return std::move(q.output);
}

const Channel* Controller::Find(ChannelId id) const {
  auto it = channels_.find(id);
  return it == channels_.end() ? nullptr : &it->second;
}

Channel* Controller::FindMutable(ChannelId id) {
  auto it = channels_.find(id);
  return it == channels_.end() ? nullptr : &it->second;
}

Channel* Controller::FindByStreamMutable(uint16_t stream) {
  auto it = by_stream_.find(stream);
  return it == by_stream_.end() ? nullptr : FindMutable(it->second);
}

std::optional<ChannelId> Controller::FindByStream(StreamId stream) const {
  auto it = by_stream_.find(stream.value());
  if (it == by_stream_.end()) return std::nullopt;
  return it->second;
}

ReadyState Controller::ready_state(ChannelId id) const {
  const Channel* ch = Find(id);
  return ch ? ch->ready_state() : ReadyState::kClosed;
}

size_t Controller::buffered_amount(ChannelId id) const {
  const Channel* ch = Find(id);
  return ch ? ch->buffered_amount() : 0;
}

std::vector<ChannelId> Controller::channel_ids() const {
  std::vector<ChannelId> ids;
  ids.reserve(channels_.size());
  for (const auto& [id, ch] : channels_)
    ids.push_back(id);
  return ids;
}

bool Controller::StreamInUse(uint16_t stream) const {
  return by_stream_.contains(stream) || rejected_out_pending_.test(stream) || rejected_in_pending_.test(stream);
}

bool Controller::OursByParity(uint16_t stream) const {
  // RFC 8832 section 6: DTLS client even, server odd.
  return dtls_client_ && ((stream % 2 == 0) == *dtls_client_);
}

std::optional<uint16_t> Controller::AllocateStreamId() const {
  if (!dtls_client_) return std::nullopt;
  const uint32_t limit = std::min<uint32_t>(config_.num_streams, uint32_t{kMaxStreamId} + 1);
  for (uint32_t s = *dtls_client_ ? 0 : 1; s < limit; s += 2) {
    if (!StreamInUse(static_cast<uint16_t>(s))) return static_cast<uint16_t>(s);
  }
  return std::nullopt;
}

bool Controller::IsConsistent() const {
  if (channels_.size() > config_.max_channels) return false;
  size_t streams_seen = 0;
  size_t reassembly = 0;
  for (const auto& [id, ch] : channels_) {
    if (ch.handle_ != id || id.value() >= next_channel_id_) return false;
    if (ch.state_ == ReadyState::kClosed) return false;  // closed channels are forgotten
    if (ch.state_ != ReadyState::kConnecting && !ch.stream_) return false;
    if (ch.stream_) {
      ++streams_seen;
      auto it = by_stream_.find(*ch.stream_);
      if (it == by_stream_.end() || it->second != id) return false;
      if (*ch.stream_ > kMaxStreamId) return false;
      if (rejected_out_pending_.test(*ch.stream_) || rejected_in_pending_.test(*ch.stream_)) return false;
      if (ch.options_.id != ch.stream_) return false;
    }
    if (ch.out_reset_ != Channel::OutReset::kNone && ch.state_ != ReadyState::kClosing) return false;
    if (ch.out_reset_ == Channel::OutReset::kDone && ch.in_reset_) return false;  // would have closed
    if (ch.options_.max_retransmits && ch.options_.max_packet_lifetime) return false;
    if (!ch.partial_.empty() && !ch.partial_binary_) return false;
    reassembly += ch.partial_.size();
  }
  if (streams_seen != by_stream_.size()) return false;
  if (reassembly != total_reassembly_ || total_reassembly_ > config_.max_total_reassembly) return false;
  if (transport_closed_ && (!channels_.empty() || connected_)) return false;
  return true;
}

}  // namespace peerlink::datachannel
