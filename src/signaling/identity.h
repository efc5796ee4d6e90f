// Identity mode: Ed25519-signed session descriptions, so that a signaling server (or anyone who
// can rewrite signaling messages) cannot substitute its own DTLS certificate and sit in the
// middle. Goes beyond y-webrtc; the exact canonical encoding is in docs/signaling.md
// ("Identity mode").
//
// A peer's identity is its Ed25519 public key, written as unpadded base64url of the 32 raw key
// bytes (43 characters). The sender signs a canonical byte string binding the DTLS
// fingerprint(s) of its offer/answer SDP, the SDP type, the sender's and receiver's peer ids and
// the room. The receiver checks it against the identity it expects (pinned, or learnt out of
// band) and then checks that the fingerprints in the SDP it actually received are the signed
// ones. Only the fingerprints are bound (not the whole SDP): they are what authenticates DTLS,
// and the rest of the SDP may legitimately be rewritten (e.g. candidates, by a munging stack).
//
// Sans-I/O apart from the two file helpers, which only read/write one PEM file.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "src/base/byte_io.h"
#include "src/base/result.h"
#include "src/signaling/ywebrtc_messages.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace peerlink::signaling {

enum class IdentityErrorCode {
  kUnknownIdentity,      // signed by a key other than the expected identity
  kBadSignature,         // signature does not verify: binding (room, peer ids, type) or fingerprints altered
  kFingerprintMismatch,  // signature fine, but the SDP carries other DTLS fingerprints than were signed
  kMalformed,            // unparsable key, signature object, or SDP without a fingerprint
  kIo,                   // key file could not be read or written
  kMissingSignature,     // identity mode expected, but the offer/answer carries no "identity"
};
struct IdentityError {
  IdentityErrorCode code = IdentityErrorCode::kMalformed;
  std::string message;
};
std::string_view ToString(IdentityErrorCode c);

namespace internal {
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const;
};
}  // namespace internal

// An Ed25519 public key (a remote peer's identity).
class IdentityPublicKey {
 public:
  // From the base64url identity string.
  static Result<IdentityPublicKey, IdentityError> FromId(std::string_view id);
  // From a "PUBLIC KEY" (SubjectPublicKeyInfo) PEM.
  static Result<IdentityPublicKey, IdentityError> FromPem(std::string_view pem);

  const std::string& id() const { return id_; }
  std::string ToPem() const;
  bool Verify(ByteView message, ByteView signature) const;

 private:
  IdentityPublicKey(std::shared_ptr<EVP_PKEY> key, std::string id) : key_(std::move(key)), id_(std::move(id)) {}
  std::shared_ptr<EVP_PKEY> key_;
  std::string id_;
};

// Our own Ed25519 identity (private key). Move-only.
class IdentityKey {
 public:
  static IdentityKey Generate();
  // From an unencrypted PKCS#8 "PRIVATE KEY" PEM holding an Ed25519 key.
  static Result<IdentityKey, IdentityError> FromPem(std::string_view pem);
  static Result<IdentityKey, IdentityError> ReadPemFile(const std::string& path);

  IdentityKey(IdentityKey&&) = default;
  IdentityKey& operator=(IdentityKey&&) = default;

  // Unencrypted PKCS#8 PEM; treat as a secret.
  std::string ToPem() const;
  // Creates `path` with mode 0600; fails if it already exists.
  Result<bool, IdentityError> WritePemFile(const std::string& path) const;

  const std::string& id() const { return id_; }
  IdentityPublicKey public_key() const;
  std::vector<uint8_t> Sign(ByteView message) const;  // 64 bytes

 private:
  explicit IdentityKey(std::unique_ptr<EVP_PKEY, internal::PkeyDeleter> key);
  std::unique_ptr<EVP_PKEY, internal::PkeyDeleter> key_;
  std::string id_;
};

// What a signature over a session description binds besides the fingerprints.
struct DescriptionBinding {
  std::string room;
  std::string sdp_type;  // "offer" | "answer"
  std::string from_peer_id;
  std::string to_peer_id;
};

// Carried as the "identity" member of a y-webrtc signal message:
//   {"id":"<base64url public key>","fingerprints":["sha-256 AB:CD:..."],"sig":"<base64url>"}
struct DescriptionSignature {
  std::string identity;
  std::vector<std::string> fingerprints;  // canonical form, sorted, as signed
  std::vector<uint8_t> signature;

  nlohmann::json ToJson() const;
  static Result<DescriptionSignature, IdentityError> FromJson(const nlohmann::json& j);
};

// The DTLS fingerprints of an SDP (RFC 8122 a=fingerprint, session and media level), in
// canonical form "<hash function lowercase> <HEX UPPERCASE WITH COLONS>", sorted, without
// duplicates. Empty if there are none.
std::vector<std::string> ExtractFingerprints(std::string_view sdp);

// The exact bytes that are signed (see docs/signaling.md).
std::vector<uint8_t> CanonicalDescriptionBytes(const DescriptionBinding& binding,
                                               std::string_view signer_id,
                                               const std::vector<std::string>& fingerprints);

// Signs the fingerprints found in `sdp`. Fails (kMalformed) if the SDP has none.
Result<DescriptionSignature, IdentityError> SignDescription(const IdentityKey& key,
                                                            const DescriptionBinding& binding,
                                                            std::string_view sdp);

// Checks, in this order: the signer is `expected` (kUnknownIdentity), the signature verifies over
// the binding and the signed fingerprints (kBadSignature), and the SDP's fingerprints equal the
// signed ones (kFingerprintMismatch). `binding` is what the receiver believes: the room it is
// in, the type of the received description, the sender's peer id and its own peer id.
Result<bool, IdentityError> VerifyDescription(const IdentityPublicKey& expected,
                                              const DescriptionBinding& binding,
                                              std::string_view sdp,
                                              const DescriptionSignature& signature);

// Identity mode on y-webrtc signal messages (the client's entry points).
// Signs msg's offer/answer for (room, msg.from -> msg.to) and stores it in msg.identity.
// kMalformed if the signal is not an offer/answer or its SDP has no fingerprint.
Result<bool, IdentityError> AttachIdentity(ywebrtc::SignalMessage& msg, const IdentityKey& key, std::string_view room);
// Verifies an offer/answer received in `room` by the peer `my_peer_id` (its own id, not msg.to,
// so a rewritten `to` fails) against `expected`. kMissingSignature without msg.identity.
Result<bool, IdentityError> VerifySignalIdentity(const ywebrtc::SignalMessage& msg,
                                                 std::string_view room,
                                                 std::string_view my_peer_id,
                                                 const IdentityPublicKey& expected);

}  // namespace peerlink::signaling
