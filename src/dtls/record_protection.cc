#include "src/dtls/record_protection.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>

#include <cstring>
#include <utility>

#include "src/dtls/certificate.h"

namespace peerlink::dtls {

namespace {
constexpr size_t kTagSize = 16;
constexpr size_t kExplicitNonceSize = 8;  // RFC 5288 section 3
constexpr size_t kAeadNonceSize = 12;
constexpr size_t kAadSize = 13;

// IANA cipher-suite numbers of the suites Endpoint offers.
constexpr uint16_t kEcdheEcdsaAes128GcmSha256 = 0xC02B;
constexpr uint16_t kEcdheEcdsaAes256GcmSha384 = 0xC02C;
constexpr uint16_t kEcdheEcdsaChacha20Poly1305 = 0xCCA9;

// Fetched once per process (EVP_CIPHER_fetch walks the provider tables: tens of microseconds)
// and never freed, like the shared SSL_CTX.
const EVP_CIPHER* FetchCipher(Aead a) {
  static const EVP_CIPHER* aes128 = EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr);
  static const EVP_CIPHER* aes256 = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  static const EVP_CIPHER* chacha = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
  switch (a) {
    case Aead::kAes128Gcm: return aes128;
    case Aead::kAes256Gcm: return aes256;
    case Aead::kChacha20Poly1305: return chacha;
  }
  return nullptr;
}

void PutU16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void PutU48(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 6; ++i)
    p[i] = static_cast<uint8_t>(v >> (8 * (5 - i)));
}
void PutU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    p[i] = static_cast<uint8_t>(v >> (8 * (7 - i)));
}

// RFC 5246 section 6.2.3.3 as used by DTLS (RFC 6347 section 4.1.2.1): the 64-bit sequence
// number is epoch || sequence_number.
void Aad(uint16_t epoch, uint64_t seq, uint8_t type, uint16_t version, size_t plaintext_len, uint8_t* aad) {
  PutU16(aad, epoch);
  PutU48(aad + 2, seq);
  aad[8] = type;
  PutU16(aad + 9, version);
  PutU16(aad + 11, static_cast<uint16_t>(plaintext_len));
}
}  // namespace

AlertAction ActionForAlert(ByteView plaintext) {
  if (plaintext.size() != 2) return AlertAction::kMalformed;
  if (plaintext[1] == 0) return AlertAction::kClose;  // close_notify, whatever its level
  return plaintext[0] == 2 ? AlertAction::kFail : AlertAction::kIgnore;
}

std::optional<RecordHeader> ParseRecordHeader(ByteView in) {
  ByteReader r(in);
  RecordHeader h;
  h.type = r.U8();
  h.version = r.U16();
  h.epoch = r.U16();
  h.seq = (uint64_t{r.U16()} << 32) | r.U32();
  h.length = r.U16();
  if (!r.ok()) return std::nullopt;
  return h;
}

bool ReplayWindow::IsFresh(uint64_t seq) const {
  if (!any_ || seq > max_) return true;
  const uint64_t behind = max_ - seq;
  if (behind >= 64) return false;
  return ((bits_ >> behind) & 1) == 0;
}

void ReplayWindow::Mark(uint64_t seq) {
  if (!any_) {
    any_ = true;
    max_ = seq;
    bits_ = 1;
    return;
  }
  if (seq > max_) {
    const uint64_t shift = seq - max_;
    bits_ = shift >= 64 ? 0 : bits_ << shift;
    bits_ |= 1;
    max_ = seq;
    return;
  }
  const uint64_t behind = max_ - seq;
  if (behind < 64) bits_ |= uint64_t{1} << behind;
}

std::optional<RecordProtection> RecordProtection::FromSsl(SSL* ssl, bool is_client, std::string* error) {
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
  SSL_SESSION* session = SSL_get_session(ssl);
  if (cipher == nullptr || session == nullptr) {
    *error = "no cipher or session after the handshake";
    return std::nullopt;
  }
  RecordProtection p;
  size_t key_len = 0;
  size_t iv_len = 0;
  switch (SSL_CIPHER_get_protocol_id(cipher)) {
    case kEcdheEcdsaAes128GcmSha256:
      p.aead_ = Aead::kAes128Gcm;
      key_len = 16;
      iv_len = 4;
      break;
    case kEcdheEcdsaAes256GcmSha384:
      p.aead_ = Aead::kAes256Gcm;
      key_len = 32;
      iv_len = 4;
      break;
    case kEcdheEcdsaChacha20Poly1305:
      p.aead_ = Aead::kChacha20Poly1305;
      key_len = 32;
      iv_len = 12;
      break;
    default:
      *error = std::string("no direct record protection for ") + SSL_CIPHER_get_name(cipher);
      return std::nullopt;
  }
  p.cipher_ = FetchCipher(p.aead_);
  const EVP_MD* md = SSL_CIPHER_get_handshake_digest(cipher);
  if (p.cipher_ == nullptr || md == nullptr) {
    *error = OpenSslError("fetching the record cipher");
    return std::nullopt;
  }

  // RFC 5246 section 6.3: key_block = PRF(master_secret, "key expansion",
  // server_random + client_random); AEAD suites have no MAC keys, so it is
  // client_write_key, server_write_key, client_write_IV, server_write_IV.
  std::array<uint8_t, 48> master{};
  const size_t master_len = SSL_SESSION_get_master_key(session, master.data(), master.size());
  std::array<uint8_t, 13 + 64> seed{};
  std::memcpy(seed.data(), "key expansion", 13);
  if (master_len != master.size() || SSL_get_server_random(ssl, seed.data() + 13, 32) != 32 ||
      SSL_get_client_random(ssl, seed.data() + 45, 32) != 32) {
    OPENSSL_cleanse(master.data(), master.size());
    *error = "the session has no master secret or randoms";
    return std::nullopt;
  }
  std::array<uint8_t, 2 * 32 + 2 * 12> block{};
  const size_t block_len = 2 * key_len + 2 * iv_len;
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_TLS1_PRF, nullptr);
  EVP_KDF_CTX* kctx = kdf != nullptr ? EVP_KDF_CTX_new(kdf) : nullptr;
  EVP_KDF_free(kdf);  // the context keeps its own reference
  bool derived = false;
  if (kctx != nullptr) {
    std::string md_name = EVP_MD_get0_name(md);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, md_name.data(), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, master.data(), master_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed.data(), seed.size()),
        OSSL_PARAM_construct_end(),
    };
    derived = EVP_KDF_derive(kctx, block.data(), block_len, params) == 1;
    EVP_KDF_CTX_free(kctx);
  }
  OPENSSL_cleanse(master.data(), master.size());
  if (!derived) {
    OPENSSL_cleanse(block.data(), block.size());
    *error = OpenSslError("deriving the record keys (TLS1-PRF)");
    return std::nullopt;
  }
  Direction client;
  Direction server;
  const uint8_t* b = block.data();
  std::memcpy(client.key.data(), b, key_len);
  std::memcpy(server.key.data(), b + key_len, key_len);
  std::memcpy(client.iv.data(), b + 2 * key_len, iv_len);
  std::memcpy(server.iv.data(), b + 2 * key_len + iv_len, iv_len);
  OPENSSL_cleanse(block.data(), block.size());
  p.write_ = is_client ? client : server;
  p.read_ = is_client ? server : client;
  OPENSSL_cleanse(&client, sizeof client);
  OPENSSL_cleanse(&server, sizeof server);
  return p;
}

RecordProtection::RecordProtection(RecordProtection&& other) noexcept
    : aead_(other.aead_),
      cipher_(other.cipher_),
      write_(other.write_),
      read_(other.read_),
      write_ctx_(std::exchange(other.write_ctx_, nullptr)),
      read_ctx_(std::exchange(other.read_ctx_, nullptr)) {
  OPENSSL_cleanse(&other.write_, sizeof other.write_);
  OPENSSL_cleanse(&other.read_, sizeof other.read_);
}

RecordProtection& RecordProtection::operator=(RecordProtection&& other) noexcept {
  if (this != &other) {
    ReleaseContexts();
    aead_ = other.aead_;
    cipher_ = other.cipher_;
    write_ = other.write_;
    read_ = other.read_;
    write_ctx_ = std::exchange(other.write_ctx_, nullptr);
    read_ctx_ = std::exchange(other.read_ctx_, nullptr);
    OPENSSL_cleanse(&other.write_, sizeof other.write_);
    OPENSSL_cleanse(&other.read_, sizeof other.read_);
  }
  return *this;
}

RecordProtection::~RecordProtection() {
  ReleaseContexts();
  OPENSSL_cleanse(&write_, sizeof write_);
  OPENSSL_cleanse(&read_, sizeof read_);
}

size_t RecordProtection::overhead() const {
  return kRecordHeaderSize + (has_explicit_nonce() ? kExplicitNonceSize : 0) + kTagSize;
}

void RecordProtection::ReleaseContexts() {
  EVP_CIPHER_CTX_free(write_ctx_);  // cleanses the key schedule
  EVP_CIPHER_CTX_free(read_ctx_);
  write_ctx_ = nullptr;
  read_ctx_ = nullptr;
}

EVP_CIPHER_CTX* RecordProtection::Context(bool write) {
  EVP_CIPHER_CTX*& ctx = write ? write_ctx_ : read_ctx_;
  if (ctx != nullptr) return ctx;
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  if (c == nullptr) return nullptr;
  const Direction& d = write ? write_ : read_;
  if (EVP_CipherInit_ex(c, cipher_, nullptr, d.key.data(), nullptr, write ? 1 : 0) != 1) {
    EVP_CIPHER_CTX_free(c);
    return nullptr;
  }
  ctx = c;
  return ctx;
}

// RFC 5288 section 3 (GCM): salt(4) || nonce_explicit(8). RFC 7905 section 2 (ChaCha20-Poly1305):
// the 64-bit epoch || sequence_number, left-padded to 12 bytes and XORed with the IV.
void RecordProtection::Nonce(const Direction& d,
                             uint16_t epoch,
                             uint64_t seq,
                             ByteView explicit_nonce,
                             uint8_t* nonce) const {
  if (has_explicit_nonce()) {
    std::memcpy(nonce, d.iv.data(), 4);
    std::memcpy(nonce + 4, explicit_nonce.data(), kExplicitNonceSize);
    return;
  }
  uint8_t s[8];
  PutU16(s, epoch);
  PutU48(s + 2, seq);
  std::memcpy(nonce, d.iv.data(), kAeadNonceSize);
  for (int i = 0; i < 8; ++i)
    nonce[4 + i] ^= s[i];
}

bool RecordProtection::Seal(ContentType type,
                            uint16_t epoch,
                            uint64_t seq,
                            uint64_t explicit_nonce,
                            ByteView payload,
                            std::vector<uint8_t>& out) {
  const size_t explicit_len = has_explicit_nonce() ? kExplicitNonceSize : 0;
  const size_t fragment = explicit_len + payload.size() + kTagSize;
  if (fragment > 0xFFFF) return false;
  EVP_CIPHER_CTX* ctx = Context(true);
  if (ctx == nullptr) return false;
  out.resize(kRecordHeaderSize + fragment);
  uint8_t* p = out.data();
  p[0] = static_cast<uint8_t>(type);
  PutU16(p + 1, kDtls12Version);
  PutU16(p + 3, epoch);
  PutU48(p + 5, seq);
  PutU16(p + 11, static_cast<uint16_t>(fragment));
  uint8_t* body = p + kRecordHeaderSize;
  if (explicit_len != 0) PutU64(body, explicit_nonce);
  uint8_t nonce[kAeadNonceSize];
  Nonce(write_, epoch, seq, ByteView(body, explicit_len), nonce);
  uint8_t aad[kAadSize];
  Aad(epoch, seq, p[0], kDtls12Version, payload.size(), aad);
  uint8_t* ct = body + explicit_len;
  int len = 0;
  int fin = 0;
  if (EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce) != 1 ||
      EVP_EncryptUpdate(ctx, nullptr, &len, aad, kAadSize) != 1) {
    return false;
  }
  len = 0;
  if (!payload.empty() && EVP_EncryptUpdate(ctx, ct, &len, payload.data(), static_cast<int>(payload.size())) != 1) {
    return false;
  }
  if (EVP_EncryptFinal_ex(ctx, ct + len, &fin) != 1 || static_cast<size_t>(len + fin) != payload.size()) {
    return false;
  }
  return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kTagSize, ct + payload.size()) == 1;
}

bool RecordProtection::Open(const RecordHeader& h, ByteView fragment, std::vector<uint8_t>& out) {
  const size_t explicit_len = has_explicit_nonce() ? kExplicitNonceSize : 0;
  if (fragment.size() < explicit_len + kTagSize) return false;
  const size_t n = fragment.size() - explicit_len - kTagSize;
  EVP_CIPHER_CTX* ctx = Context(false);
  if (ctx == nullptr) return false;
  uint8_t nonce[kAeadNonceSize];
  Nonce(read_, h.epoch, h.seq, fragment.first(explicit_len), nonce);
  uint8_t aad[kAadSize];
  Aad(h.epoch, h.seq, h.type, h.version, n, aad);
  uint8_t tag[kTagSize];
  std::memcpy(tag, fragment.data() + explicit_len + n, kTagSize);
  out.resize(n);
  int len = 0;
  int fin = 0;
  if (EVP_DecryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce) != 1 ||
      EVP_DecryptUpdate(ctx, nullptr, &len, aad, kAadSize) != 1) {
    return false;
  }
  len = 0;
  if (n != 0 && EVP_DecryptUpdate(ctx, out.data(), &len, fragment.data() + explicit_len, static_cast<int>(n)) != 1) {
    return false;
  }
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kTagSize, tag) != 1) return false;
  // Fails (0) when the tag does not match: the plaintext in `out` must then not be used.
  if (EVP_DecryptFinal_ex(ctx, out.data() + len, &fin) != 1) return false;
  return static_cast<size_t>(len + fin) == n;
}

}  // namespace peerlink::dtls
