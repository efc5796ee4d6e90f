// Data Channel Establishment Protocol messages (RFC 8832 section 5), carried
// with PPID 50 on the stream of the channel they open.
//
// Parse() is allocation-free: label and protocol are views into the caller's
// buffer, valid as long as it is. Parsing is strict: a message must be exactly
// as long as its fields say (no padding, no trailing bytes), because SCTP
// delivers whole messages and anything else is a malformed peer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "src/base/byte_io.h"
#include "src/base/parse_error.h"
#include "src/base/result.h"

namespace peerlink::datachannel {

// RFC 8832 section 8.2.1 (IANA "Message Types").
enum class DcepMessageType : uint8_t {
  kAck = 0x02,
  kOpen = 0x03,
};

// RFC 8832 section 5.1 / 8.2.2. Bit 0x80 = unordered; low bits = reliability.
enum class ChannelType : uint8_t {
  kReliable = 0x00,
  kPartialReliableRexmit = 0x01,
  kPartialReliableTimed = 0x02,
  kReliableUnordered = 0x80,
  kPartialReliableRexmitUnordered = 0x81,
  kPartialReliableTimedUnordered = 0x82,
};
std::string_view ToString(ChannelType t);
// Whether `raw` is one of the six channel types above.
bool IsKnownChannelType(uint8_t raw);
constexpr bool IsUnordered(ChannelType t) {
  return (static_cast<uint8_t>(t) & 0x80) != 0;
}
constexpr bool IsRexmit(ChannelType t) {
  return (static_cast<uint8_t>(t) & 0x7f) == 0x01;
}
constexpr bool IsTimed(ChannelType t) {
  return (static_cast<uint8_t>(t) & 0x7f) == 0x02;
}
ChannelType MakeChannelType(bool ordered, bool rexmit, bool timed);

// Bounds applied while parsing, so an OPEN with a huge label is refused
// before anything is copied out of it.
struct DcepLimits {
  size_t max_label_length = 0xffff;
  size_t max_protocol_length = 0xffff;
};

/*
 * RFC 8832 section 5.1, DATA_CHANNEL_OPEN:
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |  Message Type |  Channel Type |            Priority           |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                    Reliability Parameter                      |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |         Label Length          |       Protocol Length         |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  \                                                               /
 *  |                             Label                             |
 *  /                                                               \
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  \                                                               /
 *  |                            Protocol                           |
 *  /                                                               \
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Message Type 0x03. Reliability Parameter: retransmissions for *_REXMIT,
 * milliseconds for *_TIMED; "ignored" for reliable types (the sender sets
 * 0, the receiver MUST ignore it) - we keep the raw value for round trips.
 */
struct DataChannelOpen {
  static constexpr size_t kHeaderSize = 12;

  ChannelType channel_type = ChannelType::kReliable;
  uint16_t priority = 256;
  uint32_t reliability_parameter = 0;
  std::string_view label;
  std::string_view protocol;

  static Result<DataChannelOpen, ParseError> Parse(ByteView data, const DcepLimits& limits = {});
  size_t SerializedSize() const { return kHeaderSize + label.size() + protocol.size(); }
  // Fails (writer not ok) when label or protocol exceed 65535 bytes or the
  // writer is too small.
  void SerializeTo(ByteWriter& w) const;
  // Empty on failure (label/protocol longer than 65535 bytes).
  std::vector<uint8_t> Serialize() const;
  std::string ToString() const;

  bool operator==(const DataChannelOpen&) const = default;
};

// RFC 8832 section 5.2, DATA_CHANNEL_ACK:
//
//   0 1 2 3 4 5 6 7
//  +-+-+-+-+-+-+-+-+
//  |  Message Type |
//  +-+-+-+-+-+-+-+-+
//
// Message Type 0x02.
struct DataChannelAck {
  static constexpr size_t kSize = 1;

  static Result<DataChannelAck, ParseError> Parse(ByteView data);
  void SerializeTo(ByteWriter& w) const;
  std::vector<uint8_t> Serialize() const;
  std::string ToString() const;

  bool operator==(const DataChannelAck&) const = default;
};

using DcepMessage = std::variant<DataChannelOpen, DataChannelAck>;

// Dispatches on the Message Type byte. Unknown / reserved types are
// kUnsupported (RFC 8832 section 8.2.1 assigns only 0x02 and 0x03).
Result<DcepMessage, ParseError> ParseDcep(ByteView data, const DcepLimits& limits = {});
std::string ToString(const DcepMessage& m);

}  // namespace peerlink::datachannel
