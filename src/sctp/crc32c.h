// CRC32c (Castagnoli, reflected polynomial 0x82F63B78), the SCTP checksum
// (RFC 9260 appendix A). Crc32c() uses the SSE4.2 `crc32` instruction when
// the CPU has it (detected once at run time) and slicing-by-8 tables
// otherwise. Both return the final (inverted) CRC; SCTP stores it in the
// common header least significant byte first (RFC 9260 appendix A).
#pragma once

#include <cstdint>

#include "src/base/byte_io.h"

namespace peerlink::sctp {

uint32_t Crc32c(ByteView data);
uint32_t Crc32cSoftware(ByteView data);
// Only call when Crc32cHardwareAvailable().
uint32_t Crc32cHardware(ByteView data);
bool Crc32cHardwareAvailable();

// Incremental form: start from kCrc32cInit, extend over pieces, then
// Crc32cFinish(). Crc32c(a ++ b) == Crc32cFinish(Crc32cExtend(Crc32cExtend(kCrc32cInit, a), b)).
inline constexpr uint32_t kCrc32cInit = 0xFFFFFFFF;
uint32_t Crc32cExtend(uint32_t state, ByteView data);
inline uint32_t Crc32cFinish(uint32_t state) {
  return ~state;
}

}  // namespace peerlink::sctp
