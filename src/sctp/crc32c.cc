#include "src/sctp/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace peerlink::sctp {
namespace {

constexpr uint32_t kPolynomial = 0x82F63B78;  // reflected Castagnoli

using Tables = std::array<std::array<uint32_t, 256>, 8>;

constexpr Tables MakeTables() {
  Tables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k)
      c = (c & 1) ? (c >> 1) ^ kPolynomial : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i)
    for (size_t s = 1; s < 8; ++s)
      t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
  return t;
}

constexpr Tables kTables = MakeTables();

uint64_t LoadLe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}

#if defined(__x86_64__)
// The crc32 instruction has a latency of 3 cycles and a throughput of 1, so a
// long buffer is cut into three lanes of kLane bytes computed side by side and
// recombined (CRC is linear: crc(s, A|B|C) = shift_2L(crc(s, A)) ^
// shift_L(crc(0, B)) ^ crc(0, C), where shift_L advances a state over L zero
// bytes; the shifts are table lookups, one table per byte of the state).
constexpr size_t kLane = 128;
struct ShiftTables {
  std::array<std::array<uint32_t, 256>, 4> by_lane{}, by_two_lanes{};
};
uint32_t ShiftOverZeros(uint32_t c, size_t bytes) {
  for (size_t i = 0; i < bytes; ++i)
    c = (c >> 8) ^ kTables[0][c & 0xFF];
  return c;
}
const ShiftTables& Shifts() {
  static const ShiftTables t = [] {
    ShiftTables s;
    for (uint32_t k = 0; k < 4; ++k)
      for (uint32_t b = 0; b < 256; ++b) {
        s.by_lane[k][b] = ShiftOverZeros(b << (8 * k), kLane);
        s.by_two_lanes[k][b] = ShiftOverZeros(b << (8 * k), 2 * kLane);
      }
    return s;
  }();
  return t;
}
uint32_t Shift(const std::array<std::array<uint32_t, 256>, 4>& t, uint32_t c) {
  return t[0][c & 0xFF] ^ t[1][(c >> 8) & 0xFF] ^ t[2][(c >> 16) & 0xFF] ^ t[3][c >> 24];
}

__attribute__((target("sse4.2"))) uint32_t HardwareImpl(uint32_t state, const uint8_t* p, size_t n) {
  uint64_t crc = state;
  if (n >= 3 * kLane) {
    const ShiftTables& shifts = Shifts();
    while (n >= 3 * kLane) {
      uint64_t c0 = crc, c1 = 0, c2 = 0;
      for (size_t i = 0; i < kLane; i += 8) {
        uint64_t v0, v1, v2;
        std::memcpy(&v0, p + i, 8);
        std::memcpy(&v1, p + kLane + i, 8);
        std::memcpy(&v2, p + 2 * kLane + i, 8);
        c0 = _mm_crc32_u64(c0, v0);
        c1 = _mm_crc32_u64(c1, v1);
        c2 = _mm_crc32_u64(c2, v2);
      }
      crc = Shift(shifts.by_two_lanes, static_cast<uint32_t>(c0)) ^ Shift(shifts.by_lane, static_cast<uint32_t>(c1)) ^
            static_cast<uint32_t>(c2);
      p += 3 * kLane;
      n -= 3 * kLane;
    }
  }
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    crc = _mm_crc32_u64(crc, v);
    p += 8;
    n -= 8;
  }
  uint32_t c = static_cast<uint32_t>(crc);
  while (n-- > 0)
    c = _mm_crc32_u8(c, *p++);
  return c;
}
#endif

bool DetectHardware() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
#else
  return false;
#endif
}

uint32_t SoftwareImpl(uint32_t c, const uint8_t* p, size_t n) {
  while (n >= 8) {
    uint64_t v = LoadLe64(p) ^ c;
    c = kTables[7][v & 0xFF] ^ kTables[6][(v >> 8) & 0xFF] ^ kTables[5][(v >> 16) & 0xFF] ^
        kTables[4][(v >> 24) & 0xFF] ^ kTables[3][(v >> 32) & 0xFF] ^ kTables[2][(v >> 40) & 0xFF] ^
        kTables[1][(v >> 48) & 0xFF] ^ kTables[0][v >> 56];
    p += 8;
    n -= 8;
  }
  while (n-- > 0)
    c = (c >> 8) ^ kTables[0][(c ^ *p++) & 0xFF];
  return c;
}

}  // namespace

uint32_t Crc32cSoftware(ByteView data) {
  return ~SoftwareImpl(kCrc32cInit, data.data(), data.size());
}

bool Crc32cHardwareAvailable() {
  static const bool available = DetectHardware();
  return available;
}

uint32_t Crc32cHardware(ByteView data) {
#if defined(__x86_64__)
  return ~HardwareImpl(kCrc32cInit, data.data(), data.size());
#else
  return Crc32cSoftware(data);
#endif
}

uint32_t Crc32cExtend(uint32_t state, ByteView data) {
#if defined(__x86_64__)
  if (Crc32cHardwareAvailable()) return HardwareImpl(state, data.data(), data.size());
#endif
  return SoftwareImpl(state, data.data(), data.size());
}

uint32_t Crc32c(ByteView data) {
  return Crc32cFinish(Crc32cExtend(kCrc32cInit, data));
}

}  // namespace peerlink::sctp
