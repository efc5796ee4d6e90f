// y-webrtc room-password encryption of signaling messages, wire-compatible with y-webrtc 10.x
// (src/crypto.js). Sans-I/O: randomness comes from an injected Rng, nothing here does I/O.
//
// Key:        PBKDF2-HMAC-SHA256(password UTF-8, salt = room name UTF-8, 100,000 iterations) -> 32 bytes,
//             used as an AES-256-GCM key. Deriving costs ~30-100 ms of CPU: derive once per
//             (room, password) and keep the RoomKey (RoomKeyCache does that).
// Sealed box: lib0 var-string "AES-GCM", var-uint8-array IV (12 random bytes),
//             var-uint8-array AES-GCM ciphertext || 16-byte tag (no AAD).
// Plaintext:  the inner message encoded with lib0 `writeAny` (NOT JSON text): y-webrtc's
//             encryptJson/decryptJson use lib0's any-encoding.
// On the wire the sealed box is standard base64 (with padding) in the `data` string of
// {"type":"publish","topic":<room>,"data":"..."}.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/base/byte_io.h"
#include "src/base/result.h"
#include "src/base/rng.h"

namespace peerlink::signaling {

inline constexpr int kRoomKeyPbkdf2Iterations = 100000;
inline constexpr size_t kRoomKeyBytes = 32;
inline constexpr size_t kRoomIvBytes = 12;
inline constexpr size_t kRoomTagBytes = 16;
// Bound on a sealed box (decoded bytes) and on a plaintext; the signaling server's default
// message limit is 64 KiB, so nothing legitimate comes close.
inline constexpr size_t kMaxSealedBytes = size_t{64} * 1024;

enum class RoomCryptoError {
  kMalformed,         // not a lib0 sealed box / not base64 / too large
  kUnknownAlgorithm,  // the box names an algorithm other than "AES-GCM"
  kAuthFailed,        // GCM tag check failed: wrong password/room, or tampered ciphertext
  kBadPlaintext,      // decrypted fine, but the plaintext is not a lib0 any value / JSON
  kTooLarge,          // plaintext or box above kMaxSealedBytes
};
std::string_view ToString(RoomCryptoError e);

// A derived AES-256-GCM key. Wiped on destruction.
class RoomKey {
 public:
  explicit RoomKey(const std::array<uint8_t, kRoomKeyBytes>& raw) : raw_(raw) {}
  RoomKey(const RoomKey&) = default;
  RoomKey& operator=(const RoomKey&) = default;
  ~RoomKey();
  const std::array<uint8_t, kRoomKeyBytes>& raw() const { return raw_; }

 private:
  std::array<uint8_t, kRoomKeyBytes> raw_;
};

// PBKDF2-SHA256 as above. Expensive (100,000 iterations); cache the result.
RoomKey DeriveRoomKey(std::string_view room, std::string_view password);

// Remembers derived keys by (room, SHA-256(password)); at most `capacity` entries, evicting the
// oldest. Not thread-safe (one per client).
class RoomKeyCache {
 public:
  explicit RoomKeyCache(size_t capacity = 16) : capacity_(capacity) {}
  const RoomKey& Get(std::string_view room, std::string_view password);
  size_t size() const { return keys_.size(); }

 private:
  using CacheKey = std::pair<std::string, std::array<uint8_t, 32>>;
  size_t capacity_;
  uint64_t next_age_ = 0;
  std::map<CacheKey, std::pair<uint64_t, RoomKey>> keys_;
};

// Seals `plaintext` into a lib0 sealed box with a fresh IV from `rng`.
Result<std::vector<uint8_t>, RoomCryptoError> Encrypt(const RoomKey& key, ByteView plaintext, Rng& rng);
// Opens a lib0 sealed box. Trailing bytes after the ciphertext are ignored, as y-webrtc does.
Result<std::vector<uint8_t>, RoomCryptoError> Decrypt(const RoomKey& key, ByteView sealed);

// y-webrtc encryptJson + base64: the string to put in publish.data.
Result<std::string, RoomCryptoError> EncryptJson(const RoomKey& key, const nlohmann::json& message, Rng& rng);
// base64 publish.data -> decryptJson -> JSON value.
Result<nlohmann::json, RoomCryptoError> DecryptJson(const RoomKey& key, std::string_view base64_data);

}  // namespace peerlink::signaling
