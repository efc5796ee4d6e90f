// The data-channel layer: WebRTC data channels (RFC 8831) opened with DCEP
// (RFC 8832) or negotiated out of band, as a sans-I/O core.
//
// The Controller does not own the SCTP association. The peer layer owns both
// and wires them together:
//   SCTP -> Controller:  HandleSctpConnected, HandleMessage, HandleStreamsResetByPeer,
//                        HandleStreamsResetDone, HandleBufferedAmount, HandleSctpClosed
//   Controller -> SCTP:  PollOutput() yields SctpSend (-> Association::Send) and
//                        SctpReset (-> Association::ResetStreams, outgoing streams)
//   Controller -> app:   PollOutput() yields Event (W3C RTCDataChannel events)
// Outputs must be applied in the order they are polled: a channel's OPEN, its
// user messages and its reset are queued in that order and SCTP must see them
// in that order (RFC 8832 section 6: user data may follow the OPEN at once,
// ordered after it).
//
// Not thread-safe; one owner drives it. No clocks, no timers: PollOutput ends
// with Deadline{Instant::Max()} (the shape is kept for the parent core).
// Details and the state machine: docs/datachannel.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "src/base/byte_io.h"
#include "src/base/fifo.h"
#include "src/base/time.h"
#include "src/datachannel/channel.h"
#include "src/datachannel/dcep.h"
#include "src/datachannel/stream_set.h"
#include "src/datachannel/types.h"

namespace peerlink::datachannel {

struct Config {
  // Channels in any state but closed (local and remote together). An OPEN
  // beyond this is refused by resetting its stream.
  size_t max_channels = 1024;
  // Number of SCTP streams in each direction the association negotiated;
  // stream ids are < num_streams (at most 65535, id 65535 being reserved).
  uint32_t num_streams = 65535;
  // Longest label / protocol accepted from the application or in an OPEN
  // (the wire allows 65535). Bounds per-channel memory.
  size_t max_label_length = 4096;
  size_t max_protocol_length = 4096;
  // Send() refuses (kBufferFull) when a channel's bufferedAmount would pass this.
  size_t max_buffered_amount = 16 * 1024 * 1024;
  // Reassembly of the deprecated PPID 52/54 fragments: per message, and over
  // all channels together. Exceeding either closes the channel with an error.
  size_t max_reassembled_message_size = 256 * 1024;
  size_t max_total_reassembly = 4 * 1024 * 1024;
};

// --- Outputs for the peer layer ---------------------------------------------

// Hand to sctp::Association::Send(now, stream, ppid, payload, {unordered,
// max_retransmits, lifetime}).
struct SctpSend {
  StreamId stream;
  Ppid ppid = Ppid::kBinary;
  std::vector<uint8_t> payload;
  bool unordered = false;
  std::optional<uint16_t> max_retransmits;
  std::optional<Duration> lifetime;
};
// Hand to sctp::Association::ResetStreams(now, streams): reset our outgoing
// streams. Completion comes back as HandleStreamsResetDone.
struct SctpReset {
  std::vector<StreamId> streams;
};

// --- Events for the application (W3C RTCDataChannel) --------------------------

struct ChannelOpened {  // "open"
  ChannelId id;
};
struct IncomingChannel {  // RTCPeerConnection "datachannel"; followed by ChannelOpened
  ChannelId id;
  std::string label;
  std::string protocol;
  ChannelOptions options;  // negotiated = false, id = the stream id
};
struct Message {  // "message"
  ChannelId id;
  std::vector<uint8_t> payload;
  bool binary = false;
};
struct BufferedAmountLow {  // "bufferedamountlow"
  ChannelId id;
};
struct ChannelClosing {  // "closing"
  ChannelId id;
};
struct ChannelClosed {  // "close"; the id is forgotten afterwards
  ChannelId id;
};
struct ChannelError {  // "error"; a close follows
  ChannelId id;
  std::string reason;
};
using Event = std::
    variant<ChannelOpened, IncomingChannel, Message, BufferedAmountLow, ChannelClosing, ChannelClosed, ChannelError>;

struct Deadline {
  Instant at;  // always Instant::Max(): DCEP has no timers
};
using Output = std::variant<SctpSend, SctpReset, Event, Deadline>;

// --- API misuse results -------------------------------------------------------

enum class CreateError : uint8_t {
  kTransportClosed,        // the SCTP association has closed
  kLabelTooLong,           // label longer than Config::max_label_length
  kProtocolTooLong,        // protocol longer than Config::max_protocol_length
  kBothReliabilityLimits,  // max_retransmits and max_packet_lifetime are exclusive
  kLifetimeOutOfRange,     // negative, or more than 2^32-1 ms
  kNegotiatedWithoutId,    // negotiated channels need the pre-agreed id
  kIdRequiresNegotiated,   // DCEP channels get their id from the DTLS role
  kIdOutOfRange,           // id >= num_streams or 65535
  kIdInUse,                // another channel (or a stream still resetting) has it
  kTooManyChannels,        // Config::max_channels reached
  kNoFreeStreamId,         // every stream id of our parity is taken
};
std::string_view ToString(CreateError e);

enum class [[nodiscard]] SendStatus : uint8_t{
    kOk,
    kUnknownChannel,   // closed (ids are forgotten once closed) or never existed
    kNotOpen,          // still connecting (W3C InvalidStateError)
    kClosing,          // Close() was called or the peer reset the stream
    kMessageTooLarge,  // larger than the remote's max message size
    kBufferFull,       // bufferedAmount would exceed Config::max_buffered_amount
};
std::string_view ToString(SendStatus s);

struct Stats {
  uint64_t opens_received = 0;
  uint64_t opens_rejected = 0;     // stream reset instead of an ACK (RFC 8832 section 6)
  uint64_t dcep_malformed = 0;     // PPID 50 messages that did not parse
  uint64_t dcep_unexpected = 0;    // well-formed but out of place (e.g. a stray ACK)
  uint64_t messages_dropped = 0;   // user data on a stream without an open channel
  uint64_t messages_received = 0;  // delivered as Message events
  uint64_t messages_sent = 0;      // SctpSend outputs for user data
};

class Controller {
 public:
  explicit Controller(const Config& config = {});
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // --- Configuration -----------------------------------------------------------
  // RFC 8832 section 6: the DTLS client opens channels on even stream ids,
  // the server on odd ones. Needed before ids can be allocated; channels
  // created earlier wait in `connecting`.
  void SetDtlsRole(bool client);
  // The remote's a=max-message-size (RFC 8841); 0 means no limit. Default
  // 65536 (the RFC 8841 value when the attribute is absent).
  void SetMaxMessageSize(size_t bytes);
  size_t max_message_size() const { return max_message_size_; }

  // --- User commands ------------------------------------------------------------
  // RTCPeerConnection.createDataChannel. The channel starts `connecting`;
  // it opens (ChannelOpened) once SCTP is connected and, for DCEP channels,
  // the DTLS role is known and the OPEN has been queued.
  [[nodiscard]] Result<ChannelId, CreateError> CreateChannel(Instant now,
                                                             std::string_view label,
                                                             const ChannelOptions& options = {});
  // RTCDataChannel.send: binary (ArrayBuffer) or string (UTF-8 bytes, not
  // validated here). An empty message goes out as one zero byte with PPID
  // 56/57 (RFC 8831 section 6.6).
  // `storage`, if given, is where the payload copy is built (an empty buffer
  // with capacity, e.g. sctp::Association::TakeMessageBuffer), so large
  // messages can reuse the blocks of finished ones. It is taken only when the
  // send is accepted: a refused send leaves it to the caller to give back.
  SendStatus Send(Instant now, ChannelId id, ByteView data, bool binary, std::vector<uint8_t>* storage = nullptr);
  SendStatus Send(Instant now, ChannelId id, std::string_view text) { return Send(now, id, AsBytes(text), false); }
  // RTCDataChannel.close: `closing`, our outgoing stream is reset after the
  // messages already queued; `closed` once both directions are reset. A
  // no-op for closing/unknown channels.
  void Close(Instant now, ChannelId id);
  // Returns false for an unknown channel.
  bool SetBufferedAmountLowThreshold(ChannelId id, size_t threshold);

  // --- From the peer layer (SCTP) ----------------------------------------------------
  void HandleSctpConnected(Instant now);
  void HandleMessage(Instant now, StreamId stream, Ppid ppid, std::vector<uint8_t> payload);
  // The peer reset its outgoing streams (our incoming).
  void HandleStreamsResetByPeer(Instant now, std::span<const StreamId> streams);
  // Our outgoing stream reset requests completed.
  void HandleStreamsResetDone(Instant now, std::span<const StreamId> streams);
  // sctp::Association::buffered_amount(stream) after it has taken every
  // SctpSend polled so far for that stream (report after sends and acks).
  void HandleBufferedAmount(Instant now, StreamId stream, size_t amount);
  // The association is gone: every channel errors (if `reason` is set) and closes.
  void HandleSctpClosed(Instant now, std::string_view reason);

  // --- Outputs -----------------------------------------------------------------
  [[nodiscard]] Output PollOutput(Instant now);

  // --- Getters -----------------------------------------------------------------
  // nullptr once the channel is closed (its ChannelClosed was queued).
  const Channel* Find(ChannelId id) const;
  // kClosed for unknown (closed and forgotten) ids.
  ReadyState ready_state(ChannelId id) const;
  size_t buffered_amount(ChannelId id) const;
  std::optional<ChannelId> FindByStream(StreamId stream) const;
  size_t channel_count() const { return channels_.size(); }
  std::vector<ChannelId> channel_ids() const;
  bool connected() const { return connected_; }
  bool transport_closed() const { return transport_closed_; }
  std::optional<bool> dtls_client() const { return dtls_client_; }
  const Stats& stats() const { return stats_; }
  const Config& config() const { return config_; }

  bool IsConsistent() const;

 private:
  struct Queued {
    Output output;
    std::optional<ChannelId> owner;  // for SctpSend: whose bufferedAmount it counts in
  };

  Channel* FindMutable(ChannelId id);
  Channel* FindByStreamMutable(uint16_t stream);
  bool StreamInUse(uint16_t stream) const;
  std::optional<uint16_t> AllocateStreamId() const;
  bool OursByParity(uint16_t stream) const;

  // controller.cc
  void OpenPendingChannels();
  bool OpenChannel(Channel& ch);
  void QueueEvent(Event e);
  void QueueSend(Channel& ch, Ppid ppid, std::vector<uint8_t> payload, bool dcep);
  void QueueReset(uint16_t stream);

  // receive.cc
  void HandleDcep(uint16_t stream, ByteView payload);
  void HandleOpen(uint16_t stream, const DataChannelOpen& open);
  void RejectStream(uint16_t stream);
  void HandleUserMessage(Channel& ch, Ppid ppid, std::vector<uint8_t> payload);
  void FailChannel(Channel& ch, std::string reason);
  void DropReassembly(Channel& ch);

  // close.cc
  void StartClosing(Channel& ch);
  void RequestOutgoingReset(Channel& ch);
  void MaybeFinishClose(Channel& ch);
  void Forget(ChannelId id);
  void CheckBufferedLow(Channel& ch, size_t before);

  Config config_;
  std::optional<bool> dtls_client_;
  size_t max_message_size_ = 65536;
  bool connected_ = false;
  bool transport_closed_ = false;
  uint64_t next_channel_id_ = 1;
  std::map<ChannelId, Channel> channels_;
  std::map<uint16_t, ChannelId> by_stream_;
  // Streams whose OPEN we refused (no channel object): our outgoing reset is
  // pending / the peer's reset of its outgoing is awaited. Reserved until
  // both clear, so a new channel cannot inherit the dying stream. Bounded
  // whatever a peer sends, and empty (no memory) when nothing is pending.
  StreamSet rejected_out_pending_;
  StreamSet rejected_in_pending_;
  // Deduplicates resets queued but not yet polled.
  StreamSet reset_queued_;
  size_t total_reassembly_ = 0;
  Fifo<Queued> queue_;
  Stats stats_;
};

}  // namespace peerlink::datachannel
