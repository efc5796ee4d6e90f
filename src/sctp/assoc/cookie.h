// Our State Cookie (RFC 9260 section 5.1.3): everything needed to build the
// TCB, signed with HMAC-SHA256 under a per-association secret and stamped
// with its creation time, so nothing is kept for a peer before it echoes a
// valid cookie (section 5.1.5).
//
// Layout (big endian): magic, created (ns), local tag, peer tag, local initial
// TSN, peer initial TSN, peer a_rwnd, OS, MIS, capability bits, 3 bytes zero,
// tie-tags (local, peer), then the 32-byte MAC over all of it.
#pragma once

#include <cstdint>

#include "src/base/byte_io.h"
#include "src/base/parse_error.h"
#include "src/base/result.h"
#include "src/base/time.h"
#include "src/sctp/types.h"

namespace peerlink::sctp {

struct StateCookie {
  static constexpr uint32_t kMagic = 0x504C434B;  // "PLCK"
  static constexpr size_t kBodySize = 48;
  static constexpr size_t kSize = kBodySize + 32;
  static constexpr uint8_t kCapIData = 1, kCapZeroChecksum = 2, kCapForwardTsn = 4, kCapReconfig = 8;

  Instant created;
  VerificationTag local_tag, peer_tag;
  Tsn local_initial_tsn, peer_initial_tsn;
  uint32_t peer_a_rwnd = 0;
  uint16_t outbound_streams = 0, inbound_streams = 0;  // negotiated
  uint8_t capabilities = 0;
  VerificationTag tie_local_tag, tie_peer_tag;  // zero unless an association existed (section 5.2.2)

  void SerializeTo(ByteWriter& w, ByteView secret) const;
  // Checks size, magic and MAC (kBadChecksum on a forged or corrupted cookie).
  // Lifetime is the caller's business (it needs `now`).
  static Result<StateCookie, ParseError> Parse(ByteView cookie, ByteView secret);
};

}  // namespace peerlink::sctp
