#include "src/sctp/parameters.h"

#include <algorithm>

namespace peerlink::sctp {
namespace {
ParseError Err(ParseErrorCode c, const char* what) {
  return ParseError{c, what};
}
}  // namespace

std::string CauseName(uint16_t code) {
  switch (code) {
    case cause::kInvalidStreamIdentifier: return "invalid stream identifier";
    case cause::kMissingMandatoryParameter: return "missing mandatory parameter";
    case cause::kStaleCookie: return "stale cookie";
    case cause::kOutOfResource: return "out of resource";
    case cause::kUnrecognizedChunkType: return "unrecognized chunk type";
    case cause::kInvalidMandatoryParameter: return "invalid mandatory parameter";
    case cause::kUnrecognizedParameters: return "unrecognized parameters";
    case cause::kNoUserData: return "no user data";
    case cause::kCookieWhileShuttingDown: return "cookie received while shutting down";
    case cause::kUserInitiatedAbort: return "user-initiated abort";
    case cause::kProtocolViolation: return "protocol violation";
  }
  return "cause " + std::to_string(code);
}

Result<TlvList, ParseError> TlvList::Parse(ByteView bytes) {
  ByteReader r(bytes);
  while (!r.empty()) {
    if (r.remaining() < 4) return MakeUnexpected(Err(ParseErrorCode::kTruncated, "parameter header"));
    r.Skip(2);
    uint16_t length = r.U16();
    if (length < 4) return MakeUnexpected(Err(ParseErrorCode::kBadLength, "parameter length"));
    if (r.remaining() < length - 4u) return MakeUnexpected(Err(ParseErrorCode::kTruncated, "parameter value"));
    r.Skip(length - 4u);
    size_t pad = ((length + 3u) & ~3u) - length;
    r.Skip(std::min(pad, r.remaining()));  // RFC 9260 section 3.2.1: the last padding may be absent
  }
  TlvList l;
  l.bytes_ = bytes;
  return l;
}

bool TlvList::Iterator::Next(Tlv* out) {
  if (reader_.remaining() < 4) return false;
  out->type = reader_.U16();
  uint16_t length = reader_.U16();
  out->value = reader_.Bytes(length - 4u);
  size_t pad = ((length + 3u) & ~3u) - length;
  reader_.Skip(std::min(pad, reader_.remaining()));
  return reader_.ok();
}

std::optional<Tlv> TlvList::Find(uint16_t type) const {
  Iterator it = begin();
  Tlv t;
  while (it.Next(&t))
    if (t.type == type) return t;
  return std::nullopt;
}

std::string TlvList::ToString() const {
  std::string s;
  Iterator it = begin();
  Tlv t;
  while (it.Next(&t)) {
    if (!s.empty()) s += ",";
    s += std::to_string(t.type) + "(" + std::to_string(t.value.size()) + ")";
  }
  return s;
}

void WriteTlv(ByteWriter& w, uint16_t type, ByteView value) {
  w.U16(type);
  w.U16(static_cast<uint16_t>(4 + value.size()));
  w.Bytes(value);
  w.Zeros(PaddingFor(value.size()));
}

bool SupportedExtensionsParameter::Has(uint8_t type) const {
  return std::find(chunk_types.begin(), chunk_types.end(), type) != chunk_types.end();
}

Result<SupportedExtensionsParameter, ParseError> SupportedExtensionsParameter::Parse(const Tlv& t) {
  if (t.type != param::kSupportedExtensions) return MakeUnexpected(Err(ParseErrorCode::kBadValue, "type"));
  return SupportedExtensionsParameter{t.value};
}

void SupportedExtensionsParameter::Serialize(ByteWriter& w, std::span<const uint8_t> types) {
  WriteTlv(w, param::kSupportedExtensions, types);
}

std::string SupportedExtensionsParameter::ToString() const {
  std::string s = "supported-extensions";
  for (uint8_t t : chunk_types)
    s += " " + std::to_string(t);
  return s;
}

Result<ZeroChecksumAcceptableParameter, ParseError> ZeroChecksumAcceptableParameter::Parse(const Tlv& t) {
  if (t.type != param::kZeroChecksumAcceptable) return MakeUnexpected(Err(ParseErrorCode::kBadValue, "type"));
  if (t.value.size() != 4) return MakeUnexpected(Err(ParseErrorCode::kBadLength, "zero checksum acceptable"));
  ByteReader r(t.value);
  return ZeroChecksumAcceptableParameter{r.U32()};
}

void ZeroChecksumAcceptableParameter::SerializeTo(ByteWriter& w) const {
  w.U16(param::kZeroChecksumAcceptable);
  w.U16(8);
  w.U32(edmid);
}

std::string ZeroChecksumAcceptableParameter::ToString() const {
  return "zero-checksum-acceptable edmid=" + std::to_string(edmid);
}

StreamId OutgoingSsnResetRequestParameter::stream(size_t i) const {
  ByteReader r(streams_raw.subspan(2 * i, 2));
  return StreamId(r.U16());
}

Result<OutgoingSsnResetRequestParameter, ParseError> OutgoingSsnResetRequestParameter::Parse(const Tlv& t) {
  if (t.type != param::kOutgoingSsnResetRequest) return MakeUnexpected(Err(ParseErrorCode::kBadValue, "type"));
  if (t.value.size() < 12 || t.value.size() % 2 != 0)
    return MakeUnexpected(Err(ParseErrorCode::kBadLength, "outgoing SSN reset request"));
  ByteReader r(t.value);
  OutgoingSsnResetRequestParameter p;
  p.request_sequence = r.U32();
  p.response_sequence = r.U32();
  p.sender_last_assigned_tsn = Tsn(r.U32());
  p.streams_raw = r.rest();
  p.stream_count = p.streams_raw.size() / 2;
  return p;
}

void OutgoingSsnResetRequestParameter::Serialize(ByteWriter& w,
                                                 uint32_t request_sequence,
                                                 uint32_t response_sequence,
                                                 Tsn last_tsn,
                                                 std::span<const StreamId> streams) {
  size_t length = 16 + 2 * streams.size();
  w.U16(param::kOutgoingSsnResetRequest);
  w.U16(static_cast<uint16_t>(length));
  w.U32(request_sequence);
  w.U32(response_sequence);
  w.U32(last_tsn.value());
  for (StreamId s : streams)
    w.U16(s.value());
  w.Zeros(PaddingFor(length));
}

void OutgoingSsnResetRequestParameter::SerializeTo(ByteWriter& w) const {
  size_t length = 16 + streams_raw.size();
  w.U16(param::kOutgoingSsnResetRequest);
  w.U16(static_cast<uint16_t>(length));
  w.U32(request_sequence);
  w.U32(response_sequence);
  w.U32(sender_last_assigned_tsn.value());
  w.Bytes(streams_raw);
  w.Zeros(PaddingFor(length));
}

std::string OutgoingSsnResetRequestParameter::ToString() const {
  std::string s = "outgoing-reset req=" + std::to_string(request_sequence) +
                  " resp=" + std::to_string(response_sequence) +
                  " last_tsn=" + std::to_string(sender_last_assigned_tsn.value()) + " streams=";
  for (size_t i = 0; i < stream_count; ++i)
    s += (i ? "," : "") + std::to_string(stream(i).value());
  return s;
}

peerlink::Result<ReconfigResponseParameter, ParseError> ReconfigResponseParameter::Parse(const Tlv& t) {
  if (t.type != param::kReconfigResponse) return MakeUnexpected(Err(ParseErrorCode::kBadValue, "type"));
  if (t.value.size() != 8 && t.value.size() != 16)
    return MakeUnexpected(Err(ParseErrorCode::kBadLength, "re-config response"));
  ByteReader r(t.value);
  ReconfigResponseParameter p;
  p.response_sequence = r.U32();
  p.result = r.U32();
  if (t.value.size() == 16) {
    p.sender_next_tsn = Tsn(r.U32());
    p.receiver_next_tsn = Tsn(r.U32());
  }
  return p;
}

void ReconfigResponseParameter::SerializeTo(ByteWriter& w) const {
  bool tsns = sender_next_tsn && receiver_next_tsn;
  w.U16(param::kReconfigResponse);
  w.U16(tsns ? 20 : 12);
  w.U32(response_sequence);
  w.U32(result);
  if (tsns) {
    w.U32(sender_next_tsn->value());
    w.U32(receiver_next_tsn->value());
  }
}

std::string ReconfigResponseParameter::ToString() const {
  return "reconfig-response seq=" + std::to_string(response_sequence) + " result=" + std::to_string(result);
}

}  // namespace peerlink::sctp
