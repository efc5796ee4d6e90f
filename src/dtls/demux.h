// RFC 7983 section 7 (updating RFC 5764 section 5.1.2): which protocol a datagram on the ICE
// 5-tuple carries, from its first byte.
//
//   0..3     STUN
//   16..19   ZRTP
//   20..63   DTLS
//   64..79   TURN ChannelData
//   128..191 RTP/RTCP
//   other    drop
#pragma once

#include <cstdint>
#include <string_view>

#include "src/base/byte_io.h"

namespace peerlink::dtls {

enum class DatagramKind : uint8_t { kStun, kZrtp, kDtls, kTurnChannelData, kRtp, kDrop };

constexpr DatagramKind ClassifyDatagram(ByteView datagram) {
  if (datagram.empty()) return DatagramKind::kDrop;
  const uint8_t b = datagram[0];
  if (b <= 3) return DatagramKind::kStun;
  if (b >= 16 && b <= 19) return DatagramKind::kZrtp;
  if (b >= 20 && b <= 63) return DatagramKind::kDtls;
  if (b >= 64 && b <= 79) return DatagramKind::kTurnChannelData;
  if (b >= 128 && b <= 191) return DatagramKind::kRtp;
  return DatagramKind::kDrop;
}

constexpr std::string_view ToString(DatagramKind k) {
  switch (k) {
    case DatagramKind::kStun: return "stun";
    case DatagramKind::kZrtp: return "zrtp";
    case DatagramKind::kDtls: return "dtls";
    case DatagramKind::kTurnChannelData: return "turn-channel-data";
    case DatagramKind::kRtp: return "rtp";
    case DatagramKind::kDrop: return "drop";
  }
  return "drop";
}

}  // namespace peerlink::dtls
