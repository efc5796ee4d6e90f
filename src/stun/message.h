// STUN message codec (RFC 8489), with the ICE (RFC 8445) and TURN (RFC 8656)
// attributes.
//
//     0                   1                   2                   3
//     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |0 0|     STUN Message Type     |         Message Length        |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |                         Magic Cookie                          |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |                     Transaction ID (96 bits)                  |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// StunMessage::Parse validates framing and returns a view into the caller's
// buffer: it never allocates and never throws. Attributes are kept in a fixed
// table; a message with more than kMaxAttributes is rejected.
// StunMessageBuilder serializes into an owned buffer (control path only).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "src/base/byte_io.h"
#include "src/base/parse_error.h"
#include "src/base/result.h"
#include "src/base/rng.h"
#include "src/base/socket_address.h"
#include "src/base/strong_id.h"

namespace peerlink::stun {

inline constexpr uint32_t kMagicCookie = 0x2112A442;
inline constexpr size_t kHeaderSize = 20;
inline constexpr size_t kMaxAttributes = 40;
inline constexpr uint32_t kFingerprintXor = 0x5354554e;

struct TransactionIdTag {};
using TransactionId = StrongId<TransactionIdTag, std::array<uint8_t, 12>>;

enum class StunClass : uint8_t { kRequest = 0, kIndication = 1, kSuccessResponse = 2, kErrorResponse = 3 };

// 12-bit method numbers (RFC 8489 section 18.2, RFC 8656 section 17).
enum class Method : uint16_t {
  kBinding = 0x001,
  kAllocate = 0x003,
  kRefresh = 0x004,
  kSend = 0x006,
  kData = 0x007,
  kCreatePermission = 0x008,
  kChannelBind = 0x009,
};

// Attribute types. Values below 0x8000 are comprehension-required.
namespace attr {
inline constexpr uint16_t kMappedAddress = 0x0001;
inline constexpr uint16_t kUsername = 0x0006;
inline constexpr uint16_t kMessageIntegrity = 0x0008;
inline constexpr uint16_t kErrorCode = 0x0009;
inline constexpr uint16_t kUnknownAttributes = 0x000A;
inline constexpr uint16_t kChannelNumber = 0x000C;
inline constexpr uint16_t kLifetime = 0x000D;
inline constexpr uint16_t kXorPeerAddress = 0x0012;
inline constexpr uint16_t kData = 0x0013;
inline constexpr uint16_t kRealm = 0x0014;
inline constexpr uint16_t kNonce = 0x0015;
inline constexpr uint16_t kXorRelayedAddress = 0x0016;
inline constexpr uint16_t kRequestedAddressFamily = 0x0017;
inline constexpr uint16_t kEvenPort = 0x0018;
inline constexpr uint16_t kRequestedTransport = 0x0019;
inline constexpr uint16_t kDontFragment = 0x001A;
inline constexpr uint16_t kMessageIntegritySha256 = 0x001C;
inline constexpr uint16_t kPasswordAlgorithm = 0x001D;
inline constexpr uint16_t kUserhash = 0x001E;
inline constexpr uint16_t kXorMappedAddress = 0x0020;
inline constexpr uint16_t kReservationToken = 0x0022;
inline constexpr uint16_t kPriority = 0x0024;
inline constexpr uint16_t kUseCandidate = 0x0025;
inline constexpr uint16_t kAdditionalAddressFamily = 0x8000;
inline constexpr uint16_t kAddressErrorCode = 0x8001;
inline constexpr uint16_t kPasswordAlgorithms = 0x8002;
inline constexpr uint16_t kAlternateDomain = 0x8003;
inline constexpr uint16_t kIcmp = 0x8004;
inline constexpr uint16_t kSoftware = 0x8022;
inline constexpr uint16_t kAlternateServer = 0x8023;
inline constexpr uint16_t kFingerprint = 0x8028;
inline constexpr uint16_t kIceControlled = 0x8029;
inline constexpr uint16_t kIceControlling = 0x802A;

constexpr bool IsComprehensionRequired(uint16_t type) {
  return type < 0x8000;
}
// Whether this implementation understands the attribute type.
bool IsKnown(uint16_t type);
std::string_view Name(uint16_t type);
}  // namespace attr

// Error codes (RFC 8489 section 14.8, RFC 8656 section 18, RFC 8445 section 7.3.1.1).
namespace error {
inline constexpr uint16_t kTryAlternate = 300;
inline constexpr uint16_t kBadRequest = 400;
inline constexpr uint16_t kUnauthorized = 401;
inline constexpr uint16_t kForbidden = 403;
inline constexpr uint16_t kUnknownAttribute = 420;
inline constexpr uint16_t kAllocationMismatch = 437;
inline constexpr uint16_t kStaleNonce = 438;
inline constexpr uint16_t kAddressFamilyNotSupported = 440;
inline constexpr uint16_t kWrongCredentials = 441;
inline constexpr uint16_t kUnsupportedTransportProtocol = 442;
inline constexpr uint16_t kPeerAddressFamilyMismatch = 443;
inline constexpr uint16_t kAllocationQuotaReached = 486;
inline constexpr uint16_t kRoleConflict = 487;
inline constexpr uint16_t kServerError = 500;
inline constexpr uint16_t kInsufficientCapacity = 508;
}  // namespace error

struct ErrorCode {
  uint16_t code = 0;  // 300..699
  std::string_view reason;
};

struct RawAttribute {
  uint16_t type = 0;
  ByteView value;       // unpadded value, a view into the message buffer
  uint16_t offset = 0;  // offset of the attribute header within the message
};

// Password algorithm numbers (RFC 8489 section 18.5).
enum class PasswordAlgorithm : uint16_t { kMd5 = 0x0001, kSha256 = 0x0002 };

// True if `data` looks like a STUN message (RFC 7983: first byte 0..3, magic cookie).
bool LooksLikeStun(ByteView data);

class StunMessage {
 public:
  // Validates the header and attribute framing of one STUN message occupying
  // all of `data` (trailing bytes are an error). Does not verify integrity.
  static Result<StunMessage, ParseError> Parse(ByteView data);

  Method method() const { return static_cast<Method>(method_); }
  uint16_t raw_method() const { return method_; }
  StunClass cls() const { return cls_; }
  const TransactionId& transaction_id() const { return tid_; }
  ByteView bytes() const { return data_; }
  std::span<const RawAttribute> attributes() const { return {attrs_.data(), num_attrs_}; }

  // First attribute of `type` (before MESSAGE-INTEGRITY unless it is one of
  // the attributes allowed after it), or nullptr.
  const RawAttribute* Find(uint16_t type) const;
  bool Has(uint16_t type) const { return Find(type) != nullptr; }

  // Typed accessors; nullopt if absent or malformed.
  std::optional<SocketAddress> GetXorAddress(uint16_t type) const;
  std::optional<SocketAddress> GetMappedAddress() const;  // MAPPED-ADDRESS / ALTERNATE-SERVER style
  std::optional<SocketAddress> GetPlainAddress(uint16_t type) const;
  std::optional<std::string_view> GetString(uint16_t type) const;
  std::optional<uint32_t> GetU32(uint16_t type) const;
  std::optional<uint64_t> GetU64(uint16_t type) const;
  std::optional<ErrorCode> GetErrorCode() const;
  // Types listed in UNKNOWN-ATTRIBUTES (at most 16 kept).
  std::vector<uint16_t> GetUnknownAttributes() const;
  std::optional<uint16_t> GetChannelNumber() const;
  std::optional<uint8_t> GetRequestedTransport() const;
  std::optional<ByteView> GetData() const;
  // PASSWORD-ALGORITHMS list (RFC 8489 section 14.11), at most 8 entries kept.
  std::vector<PasswordAlgorithm> GetPasswordAlgorithms() const;

  // Comprehension-required attribute types this implementation does not know.
  // Fills `out` (up to its size); returns how many were found.
  size_t UnknownComprehensionRequired(std::span<uint16_t> out) const;

  // Integrity checks (RFC 8489 sections 14.5, 14.6, 14.7).
  bool HasFingerprint() const { return fingerprint_ >= 0; }
  bool VerifyFingerprint() const;
  bool HasMessageIntegrity() const { return integrity_ >= 0; }
  bool HasMessageIntegritySha256() const { return integrity_sha256_ >= 0; }
  bool VerifyMessageIntegrity(ByteView key) const;
  bool VerifyMessageIntegritySha256(ByteView key) const;

  std::string ToString() const;

 private:
  ByteView data_;
  uint16_t method_ = 0;
  StunClass cls_ = StunClass::kRequest;
  TransactionId tid_;
  std::array<RawAttribute, kMaxAttributes> attrs_{};
  size_t num_attrs_ = 0;
  // Indexes into attrs_, or -1.
  int integrity_ = -1;
  int integrity_sha256_ = -1;
  int fingerprint_ = -1;
};

// Builds a message. Attributes are appended in call order; the integrity and
// fingerprint attributes must be added last (in the order MI, MI-SHA256,
// FINGERPRINT) and compute over everything before them.
class StunMessageBuilder {
 public:
  StunMessageBuilder(Method method, StunClass cls, const TransactionId& tid);
  // A response to `request`, with its method and transaction id.
  static StunMessageBuilder ResponseTo(const StunMessage& request, StunClass cls);

  StunMessageBuilder& AddXorAddress(uint16_t type, const SocketAddress& addr);
  StunMessageBuilder& AddPlainAddress(uint16_t type, const SocketAddress& addr);
  StunMessageBuilder& AddString(uint16_t type, std::string_view value);
  StunMessageBuilder& AddBytes(uint16_t type, ByteView value);
  StunMessageBuilder& AddU32(uint16_t type, uint32_t value);
  StunMessageBuilder& AddU64(uint16_t type, uint64_t value);
  StunMessageBuilder& AddFlag(uint16_t type);  // zero-length attribute
  StunMessageBuilder& AddErrorCode(uint16_t code, std::string_view reason);
  StunMessageBuilder& AddUnknownAttributes(std::span<const uint16_t> types);
  StunMessageBuilder& AddChannelNumber(uint16_t channel);
  StunMessageBuilder& AddRequestedTransport(uint8_t protocol);
  StunMessageBuilder& AddRequestedAddressFamily(IpFamily family);
  StunMessageBuilder& AddPasswordAlgorithms(std::span<const PasswordAlgorithm> algs);
  StunMessageBuilder& AddPasswordAlgorithm(PasswordAlgorithm alg);
  StunMessageBuilder& AddMessageIntegrity(ByteView key);
  StunMessageBuilder& AddMessageIntegritySha256(ByteView key);
  StunMessageBuilder& AddFingerprint();

  // The serialized message. PL_CHECKs that the message fit (64 KiB max).
  std::vector<uint8_t> Finish() &&;
  const std::vector<uint8_t>& bytes() const { return buf_; }
  const TransactionId& transaction_id() const { return tid_; }

 private:
  void AppendHeader(uint16_t type, size_t len);
  void Pad();
  void SetLength(size_t body_len);

  TransactionId tid_;
  std::vector<uint8_t> buf_;
};

// Default reason phrases for error codes.
std::string_view DefaultReason(uint16_t code);

// Builds a 420 (Unknown Attribute) error response to `request` listing the
// unknown comprehension-required attributes (RFC 8489 section 6.3.1.1).
// Returns nullopt if the request has none.
std::optional<std::vector<uint8_t>> MaybeUnknownAttributeResponse(const StunMessage& request);

TransactionId RandomTransactionId(Rng& rng);

}  // namespace peerlink::stun
