#include "src/turn/wire.h"

#include <array>
#include <cstring>

#include "src/base/check.h"

namespace peerlink::turn {

Result<ChannelData, ParseError> ChannelData::Parse(ByteView bytes) {
  ByteReader r(bytes);
  const uint16_t channel = r.U16();
  const uint16_t length = r.U16();
  if (!r.ok()) return MakeUnexpected(ParseError{ParseErrorCode::kTruncated, "ChannelData header"});
  // RFC 7983 / section 12.4: the first two bits are 01.
  if ((channel & 0xC000) != 0x4000) return MakeUnexpected(ParseError{ParseErrorCode::kBadValue, "ChannelData number"});
  // Section 12.5: a datagram too short for Length is discarded.
  ByteView data = r.Bytes(length);
  if (!r.ok()) return MakeUnexpected(ParseError{ParseErrorCode::kTruncated, "ChannelData body"});
  if (r.remaining() > 3) return MakeUnexpected(ParseError{ParseErrorCode::kTrailingBytes, "ChannelData padding"});
  return ChannelData{channel, data};
}

void ChannelData::SerializeTo(uint16_t channel, ByteView data, bool pad, ByteWriter& w) {
  w.U16(channel);
  w.U16(static_cast<uint16_t>(data.size()));
  w.Bytes(data);
  if (pad) w.Zeros((4 - data.size() % 4) % 4);
}

std::vector<uint8_t> ChannelData::Build(uint16_t channel, ByteView data, bool pad) {
  PL_CHECK(data.size() <= 0xFFFF);
  std::vector<uint8_t> out(4 + data.size() + (pad ? (4 - data.size() % 4) % 4 : 0));
  ByteWriter w(out);
  SerializeTo(channel, data, pad, w);
  PL_CHECK(w.ok() && w.size() == out.size());
  return out;
}

namespace {

// RFC 8489 section 14.2: X-Port is the port XOR the top 16 bits of the magic
// cookie; X-Address is the address XOR the cookie (IPv4) or the cookie
// followed by the transaction id (IPv6).
std::optional<SocketAddress> DecodeXorAddress(ByteView v, const stun::TransactionId& tid) {
  ByteReader r(v);
  r.U8();
  const uint8_t family = r.U8();
  const uint16_t port = static_cast<uint16_t>(r.U16() ^ (stun::kMagicCookie >> 16));
  if (!r.ok()) return std::nullopt;
  std::array<uint8_t, 16> mask{};
  for (int i = 0; i < 4; ++i)
    mask[i] = static_cast<uint8_t>(stun::kMagicCookie >> (24 - 8 * i));
  std::memcpy(mask.data() + 4, tid.value().data(), 12);
  const size_t len = family == 0x01 ? 4 : family == 0x02 ? 16 : 0;
  if (len == 0) return std::nullopt;
  ByteView a = r.Bytes(len);
  if (!r.ok() || !r.empty()) return std::nullopt;
  std::array<uint8_t, 16> b{};
  for (size_t i = 0; i < len; ++i)
    b[i] = static_cast<uint8_t>(a[i] ^ mask[i]);
  if (len == 4) return SocketAddress(IpAddress::V4(b[0], b[1], b[2], b[3]), port);
  return SocketAddress(IpAddress::V6(b), port);
}

}  // namespace

std::optional<std::vector<SocketAddress>> GetXorPeerAddresses(const stun::StunMessage& msg, size_t max) {
  std::vector<SocketAddress> out;
  for (const auto& a : msg.attributes()) {
    // Section 14.5 of RFC 8489: attributes after MESSAGE-INTEGRITY are ignored.
    if (a.type == stun::attr::kMessageIntegrity || a.type == stun::attr::kMessageIntegritySha256) break;
    if (a.type != stun::attr::kXorPeerAddress) continue;
    auto addr = DecodeXorAddress(a.value, msg.transaction_id());
    if (!addr) return std::nullopt;
    if (out.size() < max) out.push_back(*addr);
  }
  return out;
}

}  // namespace peerlink::turn
