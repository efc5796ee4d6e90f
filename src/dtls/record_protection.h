// DTLS 1.2 application-record protection done with OpenSSL's AEAD primitives directly, after
// OpenSSL's own handshake has finished (RFC 6347 section 4.1, RFC 5288 / RFC 7905 nonces).
//
// Why: OpenSSL 3.0's DTLS record layer spends more per 1.2 KB record on its own bookkeeping
// (error-queue clearing, OSSL_PARAM lookups, BIO calls, buffer copies) than AES-GCM costs. The
// Endpoint therefore lets OpenSSL do everything that is protocol (handshake, certificate check,
// alerts, retransmissions) and seals / opens only application-data records of epoch 1 itself,
// until both directions are direct: then OpenSSL is freed and the endpoint reads the alerts
// too (ActionForAlert).
// Nothing here is a cipher, a MAC or a KDF: the key block comes from OpenSSL's TLS1-PRF
// (EVP_KDF) over the session's master secret, and each record is one EVP AEAD operation.
//
// Nonce uniqueness is the caller's duty (see Endpoint): it continues the sequence number and
// the GCM explicit nonce where OpenSSL's last record of the epoch left them, and never lets
// OpenSSL write in that epoch again.
#pragma once

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "src/base/byte_io.h"

namespace peerlink::dtls {

inline constexpr size_t kRecordHeaderSize = 13;
inline constexpr uint16_t kDtls12Version = 0xFEFD;
enum class ContentType : uint8_t { kChangeCipherSpec = 20, kAlert = 21, kHandshake = 22, kApplicationData = 23 };

// RFC 6347 section 4.1: type(1) version(2) epoch(2) sequence_number(6) length(2).
struct RecordHeader {
  uint8_t type = 0;
  uint16_t version = 0;
  uint16_t epoch = 0;
  uint64_t seq = 0;  // 48 bits
  uint16_t length = 0;
};
// The header at the start of `in`, or nullopt if fewer than 13 bytes are left.
std::optional<RecordHeader> ParseRecordHeader(ByteView in);

// What an authenticated alert's plaintext (RFC 5246 section 7.2: level, description) asks of
// an endpoint that reads alerts itself: close_notify closes (and is answered), a fatal alert
// fails the connection, a warning asks nothing, anything but two bytes is malformed.
enum class AlertAction : uint8_t { kClose, kFail, kIgnore, kMalformed };
AlertAction ActionForAlert(ByteView plaintext);

// The AEADs of the suites Endpoint offers.
enum class Aead : uint8_t { kAes128Gcm, kAes256Gcm, kChacha20Poly1305 };

// RFC 6347 section 4.1.2.6: a 64-record sliding window over authenticated sequence numbers.
class ReplayWindow {
 public:
  bool IsFresh(uint64_t seq) const;
  void Mark(uint64_t seq);

 private:
  bool any_ = false;
  uint64_t max_ = 0;
  uint64_t bits_ = 0;  // bit i: max_ - i was received
};

class RecordProtection {
 public:
  // Derives both directions' keys from a connected SSL (after SSL_do_handshake returned 1).
  // nullopt with `error` set when the negotiated suite is not one of ours or OpenSSL refuses.
  static std::optional<RecordProtection> FromSsl(SSL* ssl, bool is_client, std::string* error);

  RecordProtection(RecordProtection&& other) noexcept;
  RecordProtection& operator=(RecordProtection&& other) noexcept;
  RecordProtection(const RecordProtection&) = delete;
  RecordProtection& operator=(const RecordProtection&) = delete;
  ~RecordProtection();

  Aead aead() const { return aead_; }
  // Bytes a record adds to its plaintext, header included (37 for GCM, 29 for ChaCha20-Poly1305).
  size_t overhead() const;
  bool has_explicit_nonce() const { return aead_ != Aead::kChacha20Poly1305; }

  // Replaces `out` with one record holding `payload`. `explicit_nonce` is used by the GCM suites
  // only (RFC 5288: it must never repeat under one key). False if OpenSSL fails.
  bool Seal(ContentType type,
            uint16_t epoch,
            uint64_t seq,
            uint64_t explicit_nonce,
            ByteView payload,
            std::vector<uint8_t>& out);
  // Decrypts the record `h` whose fragment (after the header) is `fragment` into `out`. False if
  // it is too short or does not authenticate; `out` is then unspecified.
  bool Open(const RecordHeader& h, ByteView fragment, std::vector<uint8_t>& out);

  // Frees both EVP contexts (about 1.6 KB); the next Seal / Open builds them again from the
  // kept keys (about a microsecond).
  void ReleaseContexts();
  bool holds_contexts() const { return write_ctx_ != nullptr || read_ctx_ != nullptr; }

 private:
  RecordProtection() = default;
  struct Direction {
    std::array<uint8_t, 32> key{};
    std::array<uint8_t, 12> iv{};  // 4-byte salt for GCM, 12-byte IV for ChaCha20-Poly1305
  };
  EVP_CIPHER_CTX* Context(bool write);
  void Nonce(const Direction& d, uint16_t epoch, uint64_t seq, ByteView explicit_nonce, uint8_t* nonce) const;

  Aead aead_ = Aead::kAes128Gcm;
  const EVP_CIPHER* cipher_ = nullptr;  // fetched once per process, never freed
  Direction write_;
  Direction read_;
  EVP_CIPHER_CTX* write_ctx_ = nullptr;
  EVP_CIPHER_CTX* read_ctx_ = nullptr;
};

}  // namespace peerlink::dtls
