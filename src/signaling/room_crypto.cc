#include "src/signaling/room_crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <memory>

#include "src/base/check.h"
#include "src/base/crypto.h"
#include "src/signaling/lib0_codec.h"

namespace peerlink::signaling {

namespace {

constexpr std::string_view kAlgorithm = "AES-GCM";

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

}  // namespace

std::string_view ToString(RoomCryptoError e) {
  switch (e) {
    case RoomCryptoError::kMalformed: return "malformed encrypted message";
    case RoomCryptoError::kUnknownAlgorithm: return "unknown encryption algorithm (expected AES-GCM)";
    case RoomCryptoError::kAuthFailed: return "decryption failed: wrong room password or tampered message";
    case RoomCryptoError::kBadPlaintext: return "decrypted message is not a lib0-encoded JSON value";
    case RoomCryptoError::kTooLarge: return "encrypted message too large";
  }
  return "unknown";
}

RoomKey::~RoomKey() {
  OPENSSL_cleanse(raw_.data(), raw_.size());
}

RoomKey DeriveRoomKey(std::string_view room, std::string_view password) {
  std::array<uint8_t, kRoomKeyBytes> raw{};
  // PKCS5_PBKDF2_HMAC only fails on allocation failure or bad arguments: a bug, not input.
  static const char kEmpty = 0;
  PL_CHECK(PKCS5_PBKDF2_HMAC(password.empty() ? &kEmpty : password.data(), static_cast<int>(password.size()),
                             reinterpret_cast<const unsigned char*>(room.empty() ? &kEmpty : room.data()),
                             static_cast<int>(room.size()), kRoomKeyPbkdf2Iterations, EVP_sha256(),
                             static_cast<int>(raw.size()), raw.data()) == 1);
  RoomKey key(raw);
  OPENSSL_cleanse(raw.data(), raw.size());
  return key;
}

const RoomKey& RoomKeyCache::Get(std::string_view room, std::string_view password) {
  CacheKey ck{std::string(room), crypto::Sha256(AsBytes(password))};
  auto it = keys_.find(ck);
  if (it != keys_.end()) {
    it->second.first = next_age_++;
    return it->second.second;
  }
  if (capacity_ > 0 && keys_.size() >= capacity_) {
    auto oldest = keys_.begin();
    for (auto i = keys_.begin(); i != keys_.end(); ++i)
      if (i->second.first < oldest->second.first) oldest = i;
    keys_.erase(oldest);
  }
  auto [pos, inserted] = keys_.emplace(std::move(ck), std::make_pair(next_age_++, DeriveRoomKey(room, password)));
  PL_CHECK(inserted);
  return pos->second.second;
}

Result<std::vector<uint8_t>, RoomCryptoError> Encrypt(const RoomKey& key, ByteView plaintext, Rng& rng) {
  if (plaintext.size() > kMaxSealedBytes) return MakeUnexpected(RoomCryptoError::kTooLarge);
  std::array<uint8_t, kRoomIvBytes> iv{};
  rng.Fill(iv);

  std::vector<uint8_t> cipher(plaintext.size() + kRoomTagBytes);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  PL_CHECK(ctx != nullptr);
  int len = 0;
  PL_CHECK(EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1);
  PL_CHECK(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(iv.size()), nullptr) == 1);
  PL_CHECK(EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key.raw().data(), iv.data()) == 1);
  if (!plaintext.empty()) {
    PL_CHECK(EVP_EncryptUpdate(ctx.get(), cipher.data(), &len, plaintext.data(), static_cast<int>(plaintext.size())) ==
             1);
    PL_CHECK(static_cast<size_t>(len) == plaintext.size());
  }
  int final_len = 0;
  PL_CHECK(EVP_EncryptFinal_ex(ctx.get(), cipher.data() + plaintext.size(), &final_len) == 1);
  PL_CHECK(final_len == 0);
  PL_CHECK(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kRoomTagBytes),
                               cipher.data() + plaintext.size()) == 1);

  lib0::Writer w(kMaxSealedBytes + 64);
  w.VarString(kAlgorithm);
  w.VarUint8Array(iv);
  w.VarUint8Array(cipher);
  if (!w.ok()) return MakeUnexpected(RoomCryptoError::kTooLarge);
  return std::move(w).Take();
}

Result<std::vector<uint8_t>, RoomCryptoError> Decrypt(const RoomKey& key, ByteView sealed) {
  if (sealed.size() > kMaxSealedBytes) return MakeUnexpected(RoomCryptoError::kTooLarge);
  lib0::Reader r(sealed);
  std::string_view algorithm = r.VarString();
  if (!r.ok()) return MakeUnexpected(RoomCryptoError::kMalformed);
  if (algorithm != kAlgorithm) return MakeUnexpected(RoomCryptoError::kUnknownAlgorithm);
  ByteView iv = r.VarUint8Array();
  ByteView cipher = r.VarUint8Array();
  if (!r.ok()) return MakeUnexpected(RoomCryptoError::kMalformed);
  // y-webrtc always sends a 12-byte IV and WebCrypto's default 128-bit tag.
  if (iv.size() != kRoomIvBytes || cipher.size() < kRoomTagBytes) return MakeUnexpected(RoomCryptoError::kMalformed);

  const size_t body = cipher.size() - kRoomTagBytes;
  std::vector<uint8_t> plain(body);
  std::array<uint8_t, kRoomTagBytes> tag{};
  std::copy(cipher.end() - kRoomTagBytes, cipher.end(), tag.begin());

  CipherCtx ctx(EVP_CIPHER_CTX_new());
  PL_CHECK(ctx != nullptr);
  int len = 0;
  PL_CHECK(EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1);
  PL_CHECK(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(iv.size()), nullptr) == 1);
  PL_CHECK(EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key.raw().data(), iv.data()) == 1);
  if (body > 0) {
    PL_CHECK(EVP_DecryptUpdate(ctx.get(), plain.data(), &len, cipher.data(), static_cast<int>(body)) == 1);
    PL_CHECK(static_cast<size_t>(len) == body);
  }
  PL_CHECK(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag.size()), tag.data()) == 1);
  int final_len = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), plain.data() + body, &final_len) != 1) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return MakeUnexpected(RoomCryptoError::kAuthFailed);
  }
  return plain;
}

Result<std::string, RoomCryptoError> EncryptJson(const RoomKey& key, const nlohmann::json& message, Rng& rng) {
  auto encoded = lib0::EncodeAny(message, kMaxSealedBytes);
  if (!encoded.ok()) return MakeUnexpected(RoomCryptoError::kTooLarge);
  auto sealed = Encrypt(key, *encoded, rng);
  if (!sealed.ok()) return MakeUnexpected(sealed.error());
  return crypto::Base64Encode(*sealed);
}

Result<nlohmann::json, RoomCryptoError> DecryptJson(const RoomKey& key, std::string_view base64_data) {
  // Base64 grows 3 bytes into 4 characters.
  if (base64_data.size() > (kMaxSealedBytes + 2) / 3 * 4) return MakeUnexpected(RoomCryptoError::kTooLarge);
  auto sealed = crypto::Base64Decode(base64_data);
  if (!sealed) return MakeUnexpected(RoomCryptoError::kMalformed);
  auto plain = Decrypt(key, *sealed);
  if (!plain.ok()) return MakeUnexpected(plain.error());
  auto value = lib0::DecodeAny(*plain);
  if (!value.ok()) return MakeUnexpected(RoomCryptoError::kBadPlaintext);
  return std::move(value).value();
}

}  // namespace peerlink::signaling
