// Injected randomness. Cores take `Rng&`; production passes CryptoRng
// (OpenSSL's CSPRNG), tests pass SeededRng for reproducible runs.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace peerlink {

class Rng {
 public:
  virtual ~Rng() = default;
  virtual void Fill(std::span<uint8_t> out) = 0;

  uint32_t U32();
  uint64_t U64();
  // Uniform in [0, n) (n > 0).
  uint64_t Below(uint64_t n);
  // Uniform in [0, 1).
  double Unit();
  // `len` characters from the ICE-char set (ALPHA / DIGIT / "+" / "/"), RFC 8445 section 5.3.
  std::string IceChars(size_t len);
};

// OpenSSL RAND_bytes. Aborts if the CSPRNG cannot produce bytes (a broken
// platform, not a recoverable condition).
class CryptoRng final : public Rng {
 public:
  void Fill(std::span<uint8_t> out) override;
};

// Deterministic generator (splitmix64) for tests and simulation only.
class SeededRng final : public Rng {
 public:
  explicit SeededRng(uint64_t seed) : state_(seed) {}
  void Fill(std::span<uint8_t> out) override;

 private:
  uint64_t Next();
  uint64_t state_;
};

}  // namespace peerlink
