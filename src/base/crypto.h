// Thin wrappers over OpenSSL 3 for the primitives the protocol cores need.
// Nothing here implements a cipher, MAC or KDF; it only calls OpenSSL.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "src/base/byte_io.h"

namespace peerlink::crypto {

using Sha1Digest = std::array<uint8_t, 20>;
using Sha256Digest = std::array<uint8_t, 32>;
using Md5Digest = std::array<uint8_t, 16>;

Sha1Digest HmacSha1(ByteView key, ByteView data);
Sha256Digest HmacSha256(ByteView key, ByteView data);
Sha256Digest Sha256(ByteView data);
Md5Digest Md5(ByteView data);

// SHA-256 over data fed in pieces (a stream too large to hold); Finish() once, then Update() no
// more. Equal to Sha256() over the concatenation.
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  void Update(ByteView data);
  Sha256Digest Finish();

 private:
  struct Ctx;
  Ctx* ctx_;
  bool finished_ = false;
};

std::string Base64Encode(ByteView data);
std::optional<std::vector<uint8_t>> Base64Decode(std::string_view text);
std::string HexEncode(ByteView data);

// CRC-32 (ISO 3309 / ITU-T V.42 polynomial), as used by STUN FINGERPRINT.
uint32_t Crc32(ByteView data);

}  // namespace peerlink::crypto
