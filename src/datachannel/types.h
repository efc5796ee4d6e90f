// Vocabulary of the data-channel layer: wire ids (stream, PPID), the local
// channel handle, W3C-shaped options and states.
//
// This layer does not include src/sctp. StreamId and Ppid here mirror the
// SCTP layer's types; the peer layer converts with `.value()` /
// static_cast when it wires our outputs into its sctp::Association.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "src/base/strong_id.h"
#include "src/base/time.h"

namespace peerlink::datachannel {

// An SCTP stream identifier. RFC 8831 section 6.5: one data channel uses the
// incoming and outgoing stream with the same id; 65535 is reserved.
using StreamId = StrongId<struct StreamIdTag, uint16_t>;
inline constexpr uint16_t kMaxStreamId = 65534;

// A local handle for one channel. Never reused within one Controller (unlike
// stream ids, which come back once a channel is closed), so a stale handle
// can never address a newer channel.
using ChannelId = StrongId<struct ChannelIdTag, uint64_t>;

// SCTP Payload Protocol Identifiers (RFC 8831 section 8, RFC 8832 section 8.1).
enum class Ppid : uint32_t {
  kDcep = 50,
  kString = 51,
  kBinaryPartial = 52,  // deprecated (RFC 8831 section 6.6), understood on receive
  kBinary = 53,
  kStringPartial = 54,  // deprecated (RFC 8831 section 6.6), understood on receive
  kStringEmpty = 56,
  kBinaryEmpty = 57,
};
std::string_view ToString(Ppid p);

// RFC 8832 section 5.1 priority values, named as W3C RTCPriorityType.
enum class Priority : uint16_t {
  kVeryLow = 128,  // "below normal"
  kLow = 256,      // "normal" (the W3C default)
  kMedium = 512,   // "high"
  kHigh = 1024,    // "extra high"
};
std::string_view ToString(Priority p);
// The W3C bucket for any 16-bit wire priority (<=128, <=256, <=512, above).
Priority PriorityFromWire(uint16_t wire);

// RTCDataChannelState.
enum class ReadyState : uint8_t { kConnecting, kOpen, kClosing, kClosed };
std::string_view ToString(ReadyState s);

// RTCDataChannelInit. At most one of max_retransmits / max_packet_lifetime.
struct ChannelOptions {
  bool ordered = true;
  std::optional<uint16_t> max_retransmits;
  // Sent on the wire in whole milliseconds (32 bits).
  std::optional<Duration> max_packet_lifetime;
  std::string protocol;
  // negotiated: both applications create the channel with the same id out of
  // band (SDP, the application protocol); no DCEP handshake (RFC 8832 section 4).
  bool negotiated = false;
  std::optional<uint16_t> id;
  Priority priority = Priority::kLow;
};

}  // namespace peerlink::datachannel
