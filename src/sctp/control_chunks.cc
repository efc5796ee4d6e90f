#include "src/sctp/control_chunks.h"

#include <cstdio>

namespace peerlink::sctp {
namespace {
ParseError Err(ParseErrorCode c, const char* what) {
  return ParseError{c, what};
}
}  // namespace

Result<InitChunk, ParseError> InitChunk::Parse(const ChunkView& c) {
  if (c.type != static_cast<uint8_t>(ChunkType::kInit) && c.type != static_cast<uint8_t>(ChunkType::kInitAck))
    return MakeUnexpected(Err(ParseErrorCode::kBadValue, "type"));
  if (c.value.size() < 16) return MakeUnexpected(Err(ParseErrorCode::kTruncated, "INIT header"));
  ByteReader r(c.value);
  InitChunk i;
  i.type = static_cast<ChunkType>(c.type);
  i.initiate_tag = VerificationTag(r.U32());
  i.a_rwnd = r.U32();
  i.outbound_streams = r.U16();
  i.inbound_streams = r.U16();
  i.initial_tsn = Tsn(r.U32());
  // RFC 9260 section 3.3.2: Initiate Tag, OS and MIS MUST NOT be 0; the
  // receiver treats it as a protocol violation (the association aborts).
  if (i.initiate_tag.value() == 0) return MakeUnexpected(Err(ParseErrorCode::kBadValue, "initiate tag 0"));
  if (i.outbound_streams == 0 || i.inbound_streams == 0)
    return MakeUnexpected(Err(ParseErrorCode::kBadValue, "zero streams"));
  auto params = TlvList::Parse(r.rest());
  if (!params) return MakeUnexpected(params.error());
  i.parameters = *params;
  return i;
}

InitChunk::Capabilities InitChunk::capabilities() const {
  Capabilities caps;
  TlvList::Iterator it = parameters.begin();
  Tlv t;
  while (it.Next(&t)) {
    if (t.type == param::kForwardTsnSupported) caps.forward_tsn = true;
    if (t.type == param::kSupportedExtensions) {
      auto ext = SupportedExtensionsParameter::Parse(t);
      if (!ext) continue;
      if (ext->Has(static_cast<uint8_t>(ChunkType::kForwardTsn))) caps.forward_tsn = true;
      if (ext->Has(static_cast<uint8_t>(ChunkType::kReConfig))) caps.reconfig = true;
      // RFC 8260 section 2.2: I-DATA support means both I-DATA and I-FORWARD-TSN are listed.
      if (ext->Has(static_cast<uint8_t>(ChunkType::kIData))) caps.i_data = true;
    }
    if (t.type == param::kZeroChecksumAcceptable) {
      auto z = ZeroChecksumAcceptableParameter::Parse(t);
      if (z && z->edmid == kEdmidDtls) caps.zero_checksum = true;
    }
  }
  return caps;
}

std::optional<ByteView> InitChunk::state_cookie() const {
  auto t = parameters.Find(param::kStateCookie);
  if (!t) return std::nullopt;
  return t->value;
}

void InitChunk::SerializeTo(ByteWriter& w) const {
  size_t at = BeginChunk(w, static_cast<uint8_t>(type), 0);
  w.U32(initiate_tag.value());
  w.U32(a_rwnd);
  w.U16(outbound_streams);
  w.U16(inbound_streams);
  w.U32(initial_tsn.value());
  w.Bytes(parameters.bytes());
  FinishChunk(w, at);
}

std::string InitChunk::ToString() const {
  char buf[160];
  std::snprintf(buf, sizeof(buf),
                "%s tag=%08x a_rwnd=%u os=%u mis=%u tsn=%u params=", ChunkTypeName(uint8_t(type)).c_str(),
                initiate_tag.value(), a_rwnd, outbound_streams, inbound_streams, initial_tsn.value());
  return buf + parameters.ToString();
}

Result<CookieEchoChunk, ParseError> CookieEchoChunk::Parse(const ChunkView& c) {
  if (c.type != static_cast<uint8_t>(ChunkType::kCookieEcho))
    return MakeUnexpected(Err(ParseErrorCode::kBadValue, "type"));
  return CookieEchoChunk{c.value};
}

void CookieEchoChunk::SerializeTo(ByteWriter& w) const {
  size_t at = BeginChunk(w, static_cast<uint8_t>(ChunkType::kCookieEcho), 0);
  w.Bytes(cookie);
  FinishChunk(w, at);
}

std::string CookieEchoChunk::ToString() const {
  return "COOKIE-ECHO len=" + std::to_string(cookie.size());
}

Result<EmptyChunk, ParseError> EmptyChunk::Parse(const ChunkView& c) {
  if (c.type != static_cast<uint8_t>(ChunkType::kCookieAck) &&
      c.type != static_cast<uint8_t>(ChunkType::kShutdownAck) &&
      c.type != static_cast<uint8_t>(ChunkType::kShutdownComplete))
    return MakeUnexpected(Err(ParseErrorCode::kBadValue, "type"));
  if (!c.value.empty()) return MakeUnexpected(Err(ParseErrorCode::kBadLength, "chunk has no value"));
  EmptyChunk e;
  e.type = static_cast<ChunkType>(c.type);
  e.tag_reflected = c.type == static_cast<uint8_t>(ChunkType::kShutdownComplete) && (c.flags & 1);
  return e;
}

void EmptyChunk::SerializeTo(ByteWriter& w) const {
  size_t at = BeginChunk(w, static_cast<uint8_t>(type), tag_reflected ? 1 : 0);
  FinishChunk(w, at);
}

std::string EmptyChunk::ToString() const {
  return ChunkTypeName(uint8_t(type)) + (tag_reflected ? " T" : "");
}

Result<HeartbeatChunk, ParseError> HeartbeatChunk::Parse(const ChunkView& c) {
  if (c.type != static_cast<uint8_t>(ChunkType::kHeartbeat) && c.type != static_cast<uint8_t>(ChunkType::kHeartbeatAck))
    return MakeUnexpected(Err(ParseErrorCode::kBadValue, "type"));
  auto params = TlvList::Parse(c.value);
  if (!params) return MakeUnexpected(params.error());
  // RFC 9260 section 3.3.5: the value is exactly one Heartbeat Info parameter.
  auto info = params->Find(param::kHeartbeatInfo);
  if (!info) return MakeUnexpected(Err(ParseErrorCode::kBadValue, "missing heartbeat info"));
  HeartbeatChunk h;
  h.type = static_cast<ChunkType>(c.type);
  h.info = info->value;
  return h;
}

void HeartbeatChunk::SerializeTo(ByteWriter& w) const {
  size_t at = BeginChunk(w, static_cast<uint8_t>(type), 0);
  WriteTlv(w, param::kHeartbeatInfo, info);
  FinishChunk(w, at);
}

std::string HeartbeatChunk::ToString() const {
  return ChunkTypeName(uint8_t(type)) + " info=" + std::to_string(info.size());
}

Result<ErrorCausesChunk, ParseError> ErrorCausesChunk::Parse(const ChunkView& c) {
  if (c.type != static_cast<uint8_t>(ChunkType::kAbort) && c.type != static_cast<uint8_t>(ChunkType::kError))
    return MakeUnexpected(Err(ParseErrorCode::kBadValue, "type"));
  auto causes = TlvList::Parse(c.value);
  if (!causes) return MakeUnexpected(causes.error());
  ErrorCausesChunk e;
  e.type = static_cast<ChunkType>(c.type);
  e.tag_reflected = c.type == static_cast<uint8_t>(ChunkType::kAbort) && (c.flags & 1);
  e.causes = *causes;
  return e;
}

void ErrorCausesChunk::SerializeTo(ByteWriter& w) const {
  size_t at = BeginChunk(w, static_cast<uint8_t>(type), tag_reflected ? 1 : 0);
  w.Bytes(causes.bytes());
  FinishChunk(w, at);
}

std::string ErrorCausesChunk::Describe() const {
  std::string s;
  TlvList::Iterator it = causes.begin();
  Tlv t;
  while (it.Next(&t)) {
    if (!s.empty()) s += "; ";
    s += CauseName(t.type);
    if ((t.type == cause::kUserInitiatedAbort || t.type == cause::kProtocolViolation) && !t.value.empty()) {
      std::string_view text = AsString(t.value.first(std::min<size_t>(t.value.size(), 200)));
      s += ": ";
      for (char ch : text)
        s += (ch >= 0x20 && ch < 0x7f) ? ch : '?';
    }
  }
  return s.empty() ? "no cause given" : s;
}

std::string ErrorCausesChunk::ToString() const {
  return ChunkTypeName(uint8_t(type)) + " " + Describe();
}

Result<ShutdownChunk, ParseError> ShutdownChunk::Parse(const ChunkView& c) {
  if (c.type != static_cast<uint8_t>(ChunkType::kShutdown))
    return MakeUnexpected(Err(ParseErrorCode::kBadValue, "type"));
  if (c.value.size() != 4) return MakeUnexpected(Err(ParseErrorCode::kBadLength, "SHUTDOWN length"));
  ByteReader r(c.value);
  return ShutdownChunk{Tsn(r.U32())};
}

void ShutdownChunk::SerializeTo(ByteWriter& w) const {
  size_t at = BeginChunk(w, static_cast<uint8_t>(ChunkType::kShutdown), 0);
  w.U32(cumulative_tsn_ack.value());
  FinishChunk(w, at);
}

std::string ShutdownChunk::ToString() const {
  return "SHUTDOWN cum=" + std::to_string(cumulative_tsn_ack.value());
}

Result<ReConfigChunk, ParseError> ReConfigChunk::Parse(const ChunkView& c) {
  if (c.type != static_cast<uint8_t>(ChunkType::kReConfig))
    return MakeUnexpected(Err(ParseErrorCode::kBadValue, "type"));
  auto params = TlvList::Parse(c.value);
  if (!params) return MakeUnexpected(params.error());
  // RFC 6525 section 3.1: one or two parameters.
  size_t n = 0;
  TlvList::Iterator it = params->begin();
  Tlv t;
  while (it.Next(&t))
    ++n;
  if (n == 0 || n > 2) return MakeUnexpected(Err(ParseErrorCode::kBadValue, "RE-CONFIG parameter count"));
  return ReConfigChunk{*params};
}

void ReConfigChunk::SerializeTo(ByteWriter& w) const {
  size_t at = BeginChunk(w, static_cast<uint8_t>(ChunkType::kReConfig), 0);
  w.Bytes(parameters.bytes());
  FinishChunk(w, at);
}

std::string ReConfigChunk::ToString() const {
  return "RE-CONFIG " + parameters.ToString();
}

}  // namespace peerlink::sctp
