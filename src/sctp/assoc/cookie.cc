#include "src/sctp/assoc/cookie.h"

#include <openssl/crypto.h>

#include "src/base/crypto.h"

namespace peerlink::sctp {

void StateCookie::SerializeTo(ByteWriter& w, ByteView secret) const {
  size_t start = w.size();
  w.U32(kMagic);
  w.U64(static_cast<uint64_t>(created.nanos()));
  w.U32(local_tag.value());
  w.U32(peer_tag.value());
  w.U32(local_initial_tsn.value());
  w.U32(peer_initial_tsn.value());
  w.U32(peer_a_rwnd);
  w.U16(outbound_streams);
  w.U16(inbound_streams);
  w.U8(capabilities);
  w.Zeros(3);
  w.U32(tie_local_tag.value());
  w.U32(tie_peer_tag.value());
  if (!w.ok()) return;
  auto mac = crypto::HmacSha256(secret, w.written().subspan(start, kBodySize));
  w.Bytes(mac);
}

Result<StateCookie, ParseError> StateCookie::Parse(ByteView cookie, ByteView secret) {
  if (cookie.size() != kSize) return MakeUnexpected(ParseError{ParseErrorCode::kBadLength, "state cookie size"});
  auto mac = crypto::HmacSha256(secret, cookie.first(kBodySize));
  if (CRYPTO_memcmp(mac.data(), cookie.data() + kBodySize, mac.size()) != 0)
    return MakeUnexpected(ParseError{ParseErrorCode::kBadChecksum, "state cookie MAC"});
  ByteReader r(cookie);
  StateCookie c;
  if (r.U32() != kMagic) return MakeUnexpected(ParseError{ParseErrorCode::kBadMagic, "state cookie magic"});
  c.created = Instant::FromNanos(static_cast<int64_t>(r.U64()));
  c.local_tag = VerificationTag(r.U32());
  c.peer_tag = VerificationTag(r.U32());
  c.local_initial_tsn = Tsn(r.U32());
  c.peer_initial_tsn = Tsn(r.U32());
  c.peer_a_rwnd = r.U32();
  c.outbound_streams = r.U16();
  c.inbound_streams = r.U16();
  c.capabilities = r.U8();
  r.Skip(3);
  c.tie_local_tag = VerificationTag(r.U32());
  c.tie_peer_tag = VerificationTag(r.U32());
  return c;
}

}  // namespace peerlink::sctp
