// One data channel's state as the application sees it (the W3C
// RTCDataChannel attributes), owned by the Controller. Read-only outside it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "src/base/time.h"
#include "src/datachannel/types.h"

namespace peerlink::datachannel {

class Controller;

class Channel {
 public:
  ChannelId handle() const { return handle_; }
  // RTCDataChannel.id: the SCTP stream id; empty until allocated (a DCEP
  // channel created before SCTP is connected or the DTLS role is known).
  std::optional<uint16_t> id() const { return stream_; }
  const std::string& label() const { return label_; }
  const std::string& protocol() const { return protocol_; }
  bool ordered() const { return options_.ordered; }
  std::optional<uint16_t> max_retransmits() const { return options_.max_retransmits; }
  std::optional<Duration> max_packet_lifetime() const { return options_.max_packet_lifetime; }
  bool negotiated() const { return options_.negotiated; }
  Priority priority() const { return options_.priority; }
  ReadyState ready_state() const { return state_; }
  // bufferedAmount, in SCTP payload bytes on this channel's stream not yet
  // acknowledged: payloads still in the Controller's queue, plus those polled
  // but not yet covered by a HandleBufferedAmount report, plus SCTP's last
  // reported amount. Counts what SCTP counts (a DCEP OPEN/ACK, the one byte
  // standing for an empty message), so reports never make it jump; only
  // user data arms the bufferedamountlow event.
  size_t buffered_amount() const { return queued_ + polled_unreported_ + sctp_reported_; }
  size_t buffered_amount_low_threshold() const { return low_threshold_; }
  // Whether we opened it with DATA_CHANNEL_OPEN (false: remote or negotiated).
  bool locally_initiated() const { return locally_initiated_; }

 private:
  friend class Controller;
  enum class OutReset : uint8_t { kNone, kRequested, kDone };

  ChannelId handle_;
  std::optional<uint16_t> stream_;
  std::string label_;
  std::string protocol_;
  ChannelOptions options_;  // options_.id mirrors stream_ once known
  ReadyState state_ = ReadyState::kConnecting;
  bool locally_initiated_ = false;
  // RFC 8832 section 6: until the ACK or any other message arrives, an
  // initiator sends everything ordered.
  bool heard_from_peer_ = false;
  OutReset out_reset_ = OutReset::kNone;
  bool in_reset_ = false;
  size_t queued_ = 0;
  size_t polled_unreported_ = 0;
  size_t sctp_reported_ = 0;
  size_t low_threshold_ = 0;
  // User data was sent since the last bufferedamountlow: the event is about
  // the application's messages, not a DCEP OPEN/ACK draining.
  bool user_data_since_low_ = false;
  // Deprecated PPID 52/54 fragments (RFC 8831 section 6.6).
  std::vector<uint8_t> partial_;
  std::optional<bool> partial_binary_;
};

}  // namespace peerlink::datachannel
