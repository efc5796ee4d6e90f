#include "src/stun/message.h"

#include <openssl/crypto.h>

#include <cstdio>
#include <cstring>

#include "src/base/check.h"
#include "src/base/crypto.h"

namespace peerlink::stun {

namespace attr {
bool IsKnown(uint16_t type) {
  switch (type) {
    case kMappedAddress:
    case kUsername:
    case kMessageIntegrity:
    case kErrorCode:
    case kUnknownAttributes:
    case kChannelNumber:
    case kLifetime:
    case kXorPeerAddress:
    case kData:
    case kRealm:
    case kNonce:
    case kXorRelayedAddress:
    case kRequestedAddressFamily:
    case kEvenPort:
    case kRequestedTransport:
    case kDontFragment:
    case kMessageIntegritySha256:
    case kPasswordAlgorithm:
    case kUserhash:
    case kXorMappedAddress:
    case kReservationToken:
    case kPriority:
    case kUseCandidate:
    case kAdditionalAddressFamily:
    case kAddressErrorCode:
    case kPasswordAlgorithms:
    case kAlternateDomain:
    case kIcmp:
    case kSoftware:
    case kAlternateServer:
    case kFingerprint:
    case kIceControlled:
    case kIceControlling: return true;
    default: return false;
  }
}

std::string_view Name(uint16_t type) {
  switch (type) {
    case kMappedAddress: return "MAPPED-ADDRESS";
    case kUsername: return "USERNAME";
    case kMessageIntegrity: return "MESSAGE-INTEGRITY";
    case kErrorCode: return "ERROR-CODE";
    case kUnknownAttributes: return "UNKNOWN-ATTRIBUTES";
    case kChannelNumber: return "CHANNEL-NUMBER";
    case kLifetime: return "LIFETIME";
    case kXorPeerAddress: return "XOR-PEER-ADDRESS";
    case kData: return "DATA";
    case kRealm: return "REALM";
    case kNonce: return "NONCE";
    case kXorRelayedAddress: return "XOR-RELAYED-ADDRESS";
    case kRequestedAddressFamily: return "REQUESTED-ADDRESS-FAMILY";
    case kEvenPort: return "EVEN-PORT";
    case kRequestedTransport: return "REQUESTED-TRANSPORT";
    case kDontFragment: return "DONT-FRAGMENT";
    case kMessageIntegritySha256: return "MESSAGE-INTEGRITY-SHA256";
    case kPasswordAlgorithm: return "PASSWORD-ALGORITHM";
    case kUserhash: return "USERHASH";
    case kXorMappedAddress: return "XOR-MAPPED-ADDRESS";
    case kReservationToken: return "RESERVATION-TOKEN";
    case kPriority: return "PRIORITY";
    case kUseCandidate: return "USE-CANDIDATE";
    case kAdditionalAddressFamily: return "ADDITIONAL-ADDRESS-FAMILY";
    case kAddressErrorCode: return "ADDRESS-ERROR-CODE";
    case kPasswordAlgorithms: return "PASSWORD-ALGORITHMS";
    case kAlternateDomain: return "ALTERNATE-DOMAIN";
    case kIcmp: return "ICMP";
    case kSoftware: return "SOFTWARE";
    case kAlternateServer: return "ALTERNATE-SERVER";
    case kFingerprint: return "FINGERPRINT";
    case kIceControlled: return "ICE-CONTROLLED";
    case kIceControlling: return "ICE-CONTROLLING";
    default: return "UNKNOWN";
  }
}
}  // namespace attr

namespace {

constexpr size_t Padded(size_t n) {
  return (n + 3) & ~size_t{3};
}

// RFC 8489 section 5: M11..M7 C1 M6..M4 C0 M3..M0.
constexpr uint16_t EncodeType(uint16_t method, StunClass cls) {
  const uint16_t c = static_cast<uint16_t>(cls);
  return static_cast<uint16_t>((method & 0x000F) | ((method & 0x0070) << 1) | ((method & 0x0F80) << 2) |
                               ((c & 1) << 4) | ((c & 2) << 7));
}

// HMAC over the message prefix [0, end) with the header length field replaced
// by `patched_len`, as the integrity attributes require.
template <typename DigestFn>
auto HmacPrefix(ByteView msg, size_t end, uint16_t patched_len, ByteView key, DigestFn fn) {
  // Typical messages fit on the stack; larger ones (up to 64 KiB) use the heap.
  std::array<uint8_t, 1500> stack_buf;
  std::vector<uint8_t> heap_buf;
  uint8_t* buf = stack_buf.data();
  if (end > stack_buf.size()) {
    heap_buf.resize(end);
    buf = heap_buf.data();
  }
  std::memcpy(buf, msg.data(), end);
  buf[2] = static_cast<uint8_t>(patched_len >> 8);
  buf[3] = static_cast<uint8_t>(patched_len);
  return fn(key, ByteView(buf, end));
}

std::optional<SocketAddress> DecodeAddress(ByteView v, bool xored, const TransactionId& tid) {
  ByteReader r(v);
  r.U8();  // reserved
  const uint8_t family = r.U8();
  uint16_t port = r.U16();
  if (!r.ok()) return std::nullopt;
  if (xored) port ^= static_cast<uint16_t>(kMagicCookie >> 16);
  std::array<uint8_t, 16> mask{};
  mask[0] = static_cast<uint8_t>(kMagicCookie >> 24);
  mask[1] = static_cast<uint8_t>(kMagicCookie >> 16);
  mask[2] = static_cast<uint8_t>(kMagicCookie >> 8);
  mask[3] = static_cast<uint8_t>(kMagicCookie);
  std::memcpy(mask.data() + 4, tid.value().data(), 12);
  if (family == 0x01) {
    ByteView a = r.Bytes(4);
    if (!r.ok() || !r.empty()) return std::nullopt;
    uint8_t b[4];
    for (int i = 0; i < 4; ++i)
      b[i] = static_cast<uint8_t>(a[i] ^ (xored ? mask[i] : 0));
    return SocketAddress(IpAddress::V4(b[0], b[1], b[2], b[3]), port);
  }
  if (family == 0x02) {
    ByteView a = r.Bytes(16);
    if (!r.ok() || !r.empty()) return std::nullopt;
    std::array<uint8_t, 16> b;
    for (int i = 0; i < 16; ++i)
      b[i] = static_cast<uint8_t>(a[i] ^ (xored ? mask[i] : 0));
    return SocketAddress(IpAddress::V6(b), port);
  }
  return std::nullopt;
}

}  // namespace

bool LooksLikeStun(ByteView data) {
  if (data.size() < kHeaderSize || data[0] > 3) return false;
  ByteReader r(data);
  r.Skip(4);
  return r.U32() == kMagicCookie;
}

Result<StunMessage, ParseError> StunMessage::Parse(ByteView data) {
  ByteReader r(data);
  const uint16_t type = r.U16();
  const uint16_t length = r.U16();
  const uint32_t cookie = r.U32();
  ByteView tid = r.Bytes(12);
  if (!r.ok()) return MakeUnexpected(ParseError{ParseErrorCode::kTruncated, "STUN header"});
  // RFC 8489 section 5: the most significant 2 bits of every STUN message are zeroes.
  if (type & 0xC000) return MakeUnexpected(ParseError{ParseErrorCode::kBadValue, "STUN type top bits"});
  if (cookie != kMagicCookie) return MakeUnexpected(ParseError{ParseErrorCode::kBadMagic, "STUN magic cookie"});
  // Section 5: the message length MUST contain a size that is a multiple of 4.
  if (length % 4 != 0) return MakeUnexpected(ParseError{ParseErrorCode::kBadLength, "STUN length not /4"});
  if (r.remaining() < length) return MakeUnexpected(ParseError{ParseErrorCode::kTruncated, "STUN body"});
  if (r.remaining() > length) return MakeUnexpected(ParseError{ParseErrorCode::kTrailingBytes, "STUN body"});

  StunMessage m;
  m.data_ = data;
  m.method_ = static_cast<uint16_t>((type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2));
  m.cls_ = static_cast<StunClass>(((type >> 4) & 1) | ((type >> 7) & 2));
  std::array<uint8_t, 12> t;
  std::memcpy(t.data(), tid.data(), 12);
  m.tid_ = TransactionId(t);

  while (!r.empty()) {
    const size_t offset = r.position();
    const uint16_t atype = r.U16();
    const uint16_t alen = r.U16();
    ByteView value = r.Bytes(alen);
    r.Skip(Padded(alen) - alen);
    if (!r.ok()) return MakeUnexpected(ParseError{ParseErrorCode::kTruncated, "STUN attribute"});
    // Section 14.7: FINGERPRINT MUST be the last attribute.
    if (m.fingerprint_ >= 0)
      return MakeUnexpected(ParseError{ParseErrorCode::kBadValue, "attribute after FINGERPRINT"});
    if (m.num_attrs_ == kMaxAttributes)
      return MakeUnexpected(ParseError{ParseErrorCode::kTooLarge, "too many STUN attributes"});
    const int index = static_cast<int>(m.num_attrs_);
    m.attrs_[m.num_attrs_++] = RawAttribute{atype, value, static_cast<uint16_t>(offset)};
    switch (atype) {
      case attr::kMessageIntegrity:
        if (alen != 20) return MakeUnexpected(ParseError{ParseErrorCode::kBadLength, "MESSAGE-INTEGRITY"});
        if (m.integrity_ < 0 && m.integrity_sha256_ < 0) m.integrity_ = index;
        break;
      case attr::kMessageIntegritySha256:
        // Section 14.6: at least 16 bytes, a multiple of 4, at most 32.
        if (alen < 16 || alen > 32 || alen % 4 != 0)
          return MakeUnexpected(ParseError{ParseErrorCode::kBadLength, "MESSAGE-INTEGRITY-SHA256"});
        if (m.integrity_sha256_ < 0) m.integrity_sha256_ = index;
        break;
      case attr::kFingerprint:
        if (alen != 4) return MakeUnexpected(ParseError{ParseErrorCode::kBadLength, "FINGERPRINT"});
        m.fingerprint_ = index;
        break;
      default: break;
    }
  }
  return m;
}

const RawAttribute* StunMessage::Find(uint16_t type) const {
  // Section 14.5: attributes after MESSAGE-INTEGRITY (other than the
  // integrity/fingerprint attributes themselves) are ignored.
  int limit = static_cast<int>(num_attrs_);
  if (type != attr::kMessageIntegritySha256 && type != attr::kFingerprint) {
    if (integrity_ >= 0)
      limit = integrity_ + (type == attr::kMessageIntegrity ? 1 : 0);
    else if (integrity_sha256_ >= 0)
      limit = integrity_sha256_;
  }
  for (int i = 0; i < limit; ++i)
    if (attrs_[i].type == type) return &attrs_[i];
  return nullptr;
}

std::optional<SocketAddress> StunMessage::GetXorAddress(uint16_t type) const {
  const RawAttribute* a = Find(type);
  if (!a) return std::nullopt;
  return DecodeAddress(a->value, /*xored=*/true, tid_);
}

std::optional<SocketAddress> StunMessage::GetPlainAddress(uint16_t type) const {
  const RawAttribute* a = Find(type);
  if (!a) return std::nullopt;
  return DecodeAddress(a->value, /*xored=*/false, tid_);
}

std::optional<SocketAddress> StunMessage::GetMappedAddress() const {
  return GetPlainAddress(attr::kMappedAddress);
}

std::optional<std::string_view> StunMessage::GetString(uint16_t type) const {
  const RawAttribute* a = Find(type);
  if (!a) return std::nullopt;
  return AsString(a->value);
}

std::optional<uint32_t> StunMessage::GetU32(uint16_t type) const {
  const RawAttribute* a = Find(type);
  if (!a || a->value.size() != 4) return std::nullopt;
  ByteReader r(a->value);
  return r.U32();
}

std::optional<uint64_t> StunMessage::GetU64(uint16_t type) const {
  const RawAttribute* a = Find(type);
  if (!a || a->value.size() != 8) return std::nullopt;
  ByteReader r(a->value);
  return r.U64();
}

std::optional<ErrorCode> StunMessage::GetErrorCode() const {
  const RawAttribute* a = Find(attr::kErrorCode);
  if (!a) return std::nullopt;
  ByteReader r(a->value);
  r.U16();  // reserved
  const uint8_t cls = r.U8() & 0x07;
  const uint8_t number = r.U8();
  if (!r.ok() || cls < 3 || cls > 6 || number > 99) return std::nullopt;
  return ErrorCode{static_cast<uint16_t>(cls * 100 + number), AsString(r.rest())};
}

std::vector<uint16_t> StunMessage::GetUnknownAttributes() const {
  std::vector<uint16_t> out;
  const RawAttribute* a = Find(attr::kUnknownAttributes);
  if (!a) return out;
  ByteReader r(a->value);
  while (r.remaining() >= 2 && out.size() < 16)
    out.push_back(r.U16());
  return out;
}

std::optional<uint16_t> StunMessage::GetChannelNumber() const {
  const RawAttribute* a = Find(attr::kChannelNumber);
  if (!a || a->value.size() != 4) return std::nullopt;
  ByteReader r(a->value);
  return r.U16();
}

std::optional<uint8_t> StunMessage::GetRequestedTransport() const {
  const RawAttribute* a = Find(attr::kRequestedTransport);
  if (!a || a->value.size() != 4) return std::nullopt;
  return a->value[0];
}

std::optional<ByteView> StunMessage::GetData() const {
  const RawAttribute* a = Find(attr::kData);
  if (!a) return std::nullopt;
  return a->value;
}

std::vector<PasswordAlgorithm> StunMessage::GetPasswordAlgorithms() const {
  std::vector<PasswordAlgorithm> out;
  const RawAttribute* a = Find(attr::kPasswordAlgorithms);
  if (!a) return out;
  ByteReader r(a->value);
  while (r.remaining() >= 4 && out.size() < 8) {
    const uint16_t alg = r.U16();
    const uint16_t plen = r.U16();
    r.Skip(Padded(plen));
    if (!r.ok()) break;
    out.push_back(static_cast<PasswordAlgorithm>(alg));
  }
  return out;
}

size_t StunMessage::UnknownComprehensionRequired(std::span<uint16_t> out) const {
  size_t n = 0;
  for (size_t i = 0; i < num_attrs_; ++i) {
    const uint16_t t = attrs_[i].type;
    if (attr::IsComprehensionRequired(t) && !attr::IsKnown(t)) {
      if (n < out.size()) out[n] = t;
      ++n;
    }
  }
  return n < out.size() ? n : out.size();
}

bool StunMessage::VerifyFingerprint() const {
  if (fingerprint_ < 0) return false;
  const RawAttribute& a = attrs_[fingerprint_];
  ByteReader r(a.value);
  const uint32_t got = r.U32();
  return got == (crypto::Crc32(data_.first(a.offset)) ^ kFingerprintXor);
}

bool StunMessage::VerifyMessageIntegrity(ByteView key) const {
  if (integrity_ < 0) return false;
  const RawAttribute& a = attrs_[integrity_];
  const auto len = static_cast<uint16_t>(a.offset + 4 + 20 - kHeaderSize);
  auto mac = HmacPrefix(data_, a.offset, len, key, crypto::HmacSha1);
  return CRYPTO_memcmp(mac.data(), a.value.data(), 20) == 0;
}

bool StunMessage::VerifyMessageIntegritySha256(ByteView key) const {
  if (integrity_sha256_ < 0) return false;
  const RawAttribute& a = attrs_[integrity_sha256_];
  const auto len = static_cast<uint16_t>(a.offset + 4 + a.value.size() - kHeaderSize);
  auto mac = HmacPrefix(data_, a.offset, len, key, crypto::HmacSha256);
  return CRYPTO_memcmp(mac.data(), a.value.data(), a.value.size()) == 0;
}

std::string StunMessage::ToString() const {
  static constexpr const char* kClassNames[] = {"request", "indication", "success", "error"};
  char head[96];
  std::snprintf(head, sizeof(head), "STUN method=0x%03x %s tid=%s len=%zu", method_,
                kClassNames[static_cast<int>(cls_)], crypto::HexEncode(tid_.value()).c_str(), data_.size());
  std::string s = head;
  for (size_t i = 0; i < num_attrs_; ++i) {
    s += ' ';
    s += attr::Name(attrs_[i].type);
    s += '(' + std::to_string(attrs_[i].value.size()) + ')';
  }
  return s;
}

StunMessageBuilder::StunMessageBuilder(Method method, StunClass cls, const TransactionId& tid) : tid_(tid) {
  buf_.reserve(256);
  buf_.resize(kHeaderSize);
  ByteWriter w(buf_);
  w.U16(EncodeType(static_cast<uint16_t>(method), cls));
  w.U16(0);
  w.U32(kMagicCookie);
  w.Bytes(tid.value());
}

StunMessageBuilder StunMessageBuilder::ResponseTo(const StunMessage& request, StunClass cls) {
  return StunMessageBuilder(request.method(), cls, request.transaction_id());
}

void StunMessageBuilder::SetLength(size_t body_len) {
  buf_[2] = static_cast<uint8_t>(body_len >> 8);
  buf_[3] = static_cast<uint8_t>(body_len);
}

void StunMessageBuilder::AppendHeader(uint16_t type, size_t len) {
  PL_CHECK(len <= 0xFFFF);
  buf_.push_back(static_cast<uint8_t>(type >> 8));
  buf_.push_back(static_cast<uint8_t>(type));
  buf_.push_back(static_cast<uint8_t>(len >> 8));
  buf_.push_back(static_cast<uint8_t>(len));
}

void StunMessageBuilder::Pad() {
  while (buf_.size() % 4 != 0)
    buf_.push_back(0);
  SetLength(buf_.size() - kHeaderSize);
}

StunMessageBuilder& StunMessageBuilder::AddBytes(uint16_t type, ByteView value) {
  AppendHeader(type, value.size());
  buf_.insert(buf_.end(), value.begin(), value.end());
  Pad();
  return *this;
}

StunMessageBuilder& StunMessageBuilder::AddString(uint16_t type, std::string_view value) {
  return AddBytes(type, AsBytes(value));
}

StunMessageBuilder& StunMessageBuilder::AddU32(uint16_t type, uint32_t value) {
  uint8_t b[4];
  ByteWriter w(b);
  w.U32(value);
  return AddBytes(type, b);
}

StunMessageBuilder& StunMessageBuilder::AddU64(uint16_t type, uint64_t value) {
  uint8_t b[8];
  ByteWriter w(b);
  w.U64(value);
  return AddBytes(type, b);
}

StunMessageBuilder& StunMessageBuilder::AddFlag(uint16_t type) {
  return AddBytes(type, {});
}

namespace {
void EncodeAddress(const SocketAddress& addr, bool xored, const TransactionId& tid, ByteWriter& w) {
  std::array<uint8_t, 16> mask{};
  if (xored) {
    mask[0] = static_cast<uint8_t>(kMagicCookie >> 24);
    mask[1] = static_cast<uint8_t>(kMagicCookie >> 16);
    mask[2] = static_cast<uint8_t>(kMagicCookie >> 8);
    mask[3] = static_cast<uint8_t>(kMagicCookie);
    std::memcpy(mask.data() + 4, tid.value().data(), 12);
  }
  w.U8(0);
  w.U8(addr.ip().is_v4() ? 0x01 : 0x02);
  w.U16(static_cast<uint16_t>(addr.port() ^ (xored ? (kMagicCookie >> 16) : 0)));
  for (size_t i = 0; i < addr.ip().byte_len(); ++i)
    w.U8(static_cast<uint8_t>(addr.ip().bytes()[i] ^ mask[i]));
}
}  // namespace

StunMessageBuilder& StunMessageBuilder::AddXorAddress(uint16_t type, const SocketAddress& addr) {
  uint8_t b[20];
  ByteWriter w(b);
  EncodeAddress(addr, true, tid_, w);
  return AddBytes(type, w.written());
}

StunMessageBuilder& StunMessageBuilder::AddPlainAddress(uint16_t type, const SocketAddress& addr) {
  uint8_t b[20];
  ByteWriter w(b);
  EncodeAddress(addr, false, tid_, w);
  return AddBytes(type, w.written());
}

StunMessageBuilder& StunMessageBuilder::AddErrorCode(uint16_t code, std::string_view reason) {
  PL_CHECK(code >= 300 && code <= 699);
  std::vector<uint8_t> v(4 + reason.size());
  ByteWriter w(v);
  w.U16(0);
  w.U8(static_cast<uint8_t>(code / 100));
  w.U8(static_cast<uint8_t>(code % 100));
  w.Bytes(AsBytes(reason));
  return AddBytes(attr::kErrorCode, v);
}

StunMessageBuilder& StunMessageBuilder::AddUnknownAttributes(std::span<const uint16_t> types) {
  std::vector<uint8_t> v(types.size() * 2);
  ByteWriter w(v);
  for (uint16_t t : types)
    w.U16(t);
  return AddBytes(attr::kUnknownAttributes, v);
}

StunMessageBuilder& StunMessageBuilder::AddChannelNumber(uint16_t channel) {
  return AddU32(attr::kChannelNumber, uint32_t{channel} << 16);
}

StunMessageBuilder& StunMessageBuilder::AddRequestedTransport(uint8_t protocol) {
  return AddU32(attr::kRequestedTransport, uint32_t{protocol} << 24);
}

StunMessageBuilder& StunMessageBuilder::AddRequestedAddressFamily(IpFamily family) {
  return AddU32(attr::kRequestedAddressFamily, uint32_t{family == IpFamily::kV4 ? 0x01u : 0x02u} << 24);
}

StunMessageBuilder& StunMessageBuilder::AddPasswordAlgorithms(std::span<const PasswordAlgorithm> algs) {
  std::vector<uint8_t> v(algs.size() * 4);
  ByteWriter w(v);
  for (auto a : algs) {
    w.U16(static_cast<uint16_t>(a));
    w.U16(0);  // no parameters for MD5 / SHA-256
  }
  return AddBytes(attr::kPasswordAlgorithms, v);
}

StunMessageBuilder& StunMessageBuilder::AddPasswordAlgorithm(PasswordAlgorithm alg) {
  return AddU32(attr::kPasswordAlgorithm, uint32_t{static_cast<uint16_t>(alg)} << 16);
}

StunMessageBuilder& StunMessageBuilder::AddMessageIntegrity(ByteView key) {
  SetLength(buf_.size() - kHeaderSize + 24);
  auto mac = crypto::HmacSha1(key, buf_);
  return AddBytes(attr::kMessageIntegrity, mac);
}

StunMessageBuilder& StunMessageBuilder::AddMessageIntegritySha256(ByteView key) {
  SetLength(buf_.size() - kHeaderSize + 36);
  auto mac = crypto::HmacSha256(key, buf_);
  return AddBytes(attr::kMessageIntegritySha256, mac);
}

StunMessageBuilder& StunMessageBuilder::AddFingerprint() {
  SetLength(buf_.size() - kHeaderSize + 8);
  return AddU32(attr::kFingerprint, crypto::Crc32(buf_) ^ kFingerprintXor);
}

std::vector<uint8_t> StunMessageBuilder::Finish() && {
  PL_CHECK(buf_.size() - kHeaderSize <= 0xFFFF);
  return std::move(buf_);
}

std::string_view DefaultReason(uint16_t code) {
  switch (code) {
    case error::kTryAlternate: return "Try Alternate";
    case error::kBadRequest: return "Bad Request";
    case error::kUnauthorized: return "Unauthorized";
    case error::kForbidden: return "Forbidden";
    case error::kUnknownAttribute: return "Unknown Attribute";
    case error::kAllocationMismatch: return "Allocation Mismatch";
    case error::kStaleNonce: return "Stale Nonce";
    case error::kAddressFamilyNotSupported: return "Address Family not Supported";
    case error::kWrongCredentials: return "Wrong Credentials";
    case error::kUnsupportedTransportProtocol: return "Unsupported Transport Protocol";
    case error::kPeerAddressFamilyMismatch: return "Peer Address Family Mismatch";
    case error::kAllocationQuotaReached: return "Allocation Quota Reached";
    case error::kRoleConflict: return "Role Conflict";
    case error::kServerError: return "Server Error";
    case error::kInsufficientCapacity: return "Insufficient Capacity";
    default: return "Error";
  }
}

std::optional<std::vector<uint8_t>> MaybeUnknownAttributeResponse(const StunMessage& request) {
  std::array<uint16_t, 16> unknown;
  const size_t n = request.UnknownComprehensionRequired(unknown);
  if (n == 0 || request.cls() != StunClass::kRequest) return std::nullopt;
  auto b = StunMessageBuilder::ResponseTo(request, StunClass::kErrorResponse);
  b.AddErrorCode(error::kUnknownAttribute, DefaultReason(error::kUnknownAttribute));
  b.AddUnknownAttributes(std::span<const uint16_t>(unknown.data(), n));
  b.AddFingerprint();
  return std::move(b).Finish();
}

TransactionId RandomTransactionId(Rng& rng) {
  std::array<uint8_t, 12> t;
  rng.Fill(t);
  return TransactionId(t);
}

}  // namespace peerlink::stun
