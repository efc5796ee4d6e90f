// Links against an installed peerlink and checks the package is self-consistent.
#include <peerlink/version.h>

#include <cstdint>
#include <cstdio>
#include <cstring>

#include "src/base/rng.h"

int main() {
  std::printf("peerlink %s (package config says %s)\n", peerlink::kVersionString, PEERLINK_PACKAGE_VERSION);
  if (std::strcmp(peerlink::kVersionString, PEERLINK_PACKAGE_VERSION) != 0) {
    std::fprintf(stderr, "version mismatch between <peerlink/version.h> and peerlinkConfigVersion.cmake\n");
    return 1;
  }
  peerlink::CryptoRng rng;
  const uint64_t a = rng.U64();
  const uint64_t b = rng.U64();
  std::printf("random: %llu\n", static_cast<unsigned long long>(a));
  // Two equal 64-bit draws from a working CSPRNG are vanishingly unlikely.
  if (a == b) {
    std::fprintf(stderr, "CryptoRng returned the same value twice\n");
    return 1;
  }
  return 0;
}
