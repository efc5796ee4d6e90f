#include "src/base/rng.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cstring>

#include "src/base/check.h"

namespace peerlink {

uint32_t Rng::U32() {
  uint8_t b[4];
  Fill(b);
  uint32_t v;
  std::memcpy(&v, b, 4);
  return v;
}

uint64_t Rng::U64() {
  uint8_t b[8];
  Fill(b);
  uint64_t v;
  std::memcpy(&v, b, 8);
  return v;
}

uint64_t Rng::Below(uint64_t n) {
  PL_CHECK(n > 0);
  // Rejection sampling avoids modulo bias.
  const uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
  for (;;) {
    uint64_t v = U64();
    if (v < limit) return v % n;
  }
}

double Rng::Unit() {
  return static_cast<double>(U64() >> 11) * (1.0 / 9007199254740992.0);
}

std::string Rng::IceChars(size_t len) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  // One byte per character, drawn in one Fill per 64 characters: 64 divides 256, so the low six
  // bits are uniform. (A Below(64) per character cost a RAND_bytes call each with OpenSSL 3,
  // ~2 us apiece: 32 calls for the ufrag and pwd of every connection.)
  std::string s(len, 'x');
  uint8_t bytes[64];
  for (size_t at = 0; at < len; at += sizeof bytes) {
    const size_t n = std::min(sizeof bytes, len - at);
    Fill(std::span<uint8_t>(bytes, n));
    for (size_t i = 0; i < n; ++i)
      s[at + i] = kAlphabet[bytes[i] & 63];
  }
  return s;
}

void CryptoRng::Fill(std::span<uint8_t> out) {
  if (out.empty()) return;
  PL_CHECK(RAND_bytes(out.data(), static_cast<int>(out.size())) == 1);
}

uint64_t SeededRng::Next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void SeededRng::Fill(std::span<uint8_t> out) {
  size_t i = 0;
  while (i < out.size()) {
    uint64_t v = Next();
    for (int k = 0; k < 8 && i < out.size(); ++k, ++i)
      out[i] = static_cast<uint8_t>(v >> (8 * k));
  }
}

}  // namespace peerlink
