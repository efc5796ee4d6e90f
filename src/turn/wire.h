// TURN-specific wire pieces that the STUN codec does not cover: the
// ChannelData message (RFC 8656 section 12.4) and attributes that may repeat
// (XOR-PEER-ADDRESS in CreatePermission, section 9.1).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "src/base/byte_io.h"
#include "src/base/parse_error.h"
#include "src/base/result.h"
#include "src/base/socket_address.h"
#include "src/base/time.h"
#include "src/stun/message.h"

namespace peerlink::turn {

// RFC 8656 section 12: channel numbers 0x4000 through 0x4FFF.
inline constexpr uint16_t kMinChannel = 0x4000;
inline constexpr uint16_t kMaxChannel = 0x4FFF;
inline constexpr bool IsValidChannel(uint16_t c) {
  return c >= kMinChannel && c <= kMaxChannel;
}

// Section 14.7: REQUESTED-TRANSPORT protocol number for UDP.
inline constexpr uint8_t kProtocolUdp = 17;

// Section 9: a permission lasts 300 s; section 12: a channel binding 600 s.
inline constexpr Duration kPermissionLifetime = Duration::Seconds(300);
inline constexpr Duration kChannelLifetime = Duration::Seconds(600);

// Largest application payload relayed in one message: keeps a Send indication
// (header, XOR-PEER-ADDRESS for IPv6, DATA, FINGERPRINT) under the 16-bit
// STUN length and a relayed UDP datagram under 65507 bytes.
inline constexpr size_t kMaxPeerData = 65000;

// ChannelData message (RFC 8656 section 12.4):
//
//     0                   1                   2                   3
//     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |         Channel Number        |            Length             |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    /                       Application Data                        /
//    +-------------------------------+-------------------------------+
//
// Over TCP/TLS the message is padded to a multiple of four bytes (section
// 12.5); over UDP padding is optional, so a receiver accepts up to three
// bytes after Length either way.
struct ChannelData {
  uint16_t channel = 0;
  ByteView data;  // a view into the parsed buffer

  // Accepts channel numbers 0x4000..0x7FFF (the RFC 7983 demultiplexing
  // range); the caller decides whether the number is bound.
  static Result<ChannelData, ParseError> Parse(ByteView bytes);
  // Header + data, padded to four bytes when `pad` (stream transports).
  static std::vector<uint8_t> Build(uint16_t channel, ByteView data, bool pad);
  // Writes the same bytes into `w`.
  static void SerializeTo(uint16_t channel, ByteView data, bool pad, ByteWriter& w);
};

// Every XOR-PEER-ADDRESS before MESSAGE-INTEGRITY, in order (at most `max`).
// Returns nullopt if any of them is malformed.
std::optional<std::vector<SocketAddress>> GetXorPeerAddresses(const stun::StunMessage& msg, size_t max);

}  // namespace peerlink::turn
