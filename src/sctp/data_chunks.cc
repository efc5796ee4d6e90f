#include "src/sctp/data_chunks.h"

#include <cstdio>

namespace peerlink::sctp {
namespace {
ParseError Err(ParseErrorCode c, const char* what) {
  return ParseError{c, what};
}
}  // namespace

Result<DataChunk, ParseError> DataChunk::Parse(const ChunkView& c) {
  if (c.type != static_cast<uint8_t>(ChunkType::kData)) return MakeUnexpected(Err(ParseErrorCode::kBadValue, "type"));
  if (c.value.size() < kHeaderSize - kChunkHeaderSize)
    return MakeUnexpected(Err(ParseErrorCode::kTruncated, "DATA header"));
  ByteReader r(c.value);
  DataChunk d;
  d.tsn = Tsn(r.U32());
  d.stream_id = StreamId(r.U16());
  d.ssn = Ssn(r.U16());
  d.ppid = Ppid(r.U32());
  d.payload = r.rest();
  d.ending = c.flags & kFlagEnding;
  d.beginning = c.flags & kFlagBeginning;
  d.unordered = c.flags & kFlagUnordered;
  d.immediate_ack = c.flags & kFlagImmediate;
  // RFC 9260 section 6.2: a DATA chunk without user data is a protocol error
  // (the association layer answers with a "No User Data" ABORT).
  if (d.payload.empty()) return MakeUnexpected(Err(ParseErrorCode::kBadLength, "DATA without user data"));
  return d;
}

void DataChunk::SerializeTo(ByteWriter& w) const {
  uint8_t flags = (ending ? kFlagEnding : 0) | (beginning ? kFlagBeginning : 0) | (unordered ? kFlagUnordered : 0) |
                  (immediate_ack ? kFlagImmediate : 0);
  size_t at = BeginChunk(w, static_cast<uint8_t>(ChunkType::kData), flags);
  w.U32(tsn.value());
  w.U16(stream_id.value());
  w.U16(ssn.value());
  w.U32(ppid.value());
  w.Bytes(payload);
  FinishChunk(w, at);
}

std::string DataChunk::ToString() const {
  char buf[160];
  std::snprintf(buf, sizeof(buf), "DATA tsn=%u sid=%u ssn=%u ppid=%u %s%s%s%s len=%zu", tsn.value(), stream_id.value(),
                ssn.value(), ppid.value(), unordered ? "U" : "", beginning ? "B" : "", ending ? "E" : "",
                immediate_ack ? "I" : "", payload.size());
  return buf;
}

Result<IDataChunk, ParseError> IDataChunk::Parse(const ChunkView& c) {
  if (c.type != static_cast<uint8_t>(ChunkType::kIData)) return MakeUnexpected(Err(ParseErrorCode::kBadValue, "type"));
  if (c.value.size() < kHeaderSize - kChunkHeaderSize)
    return MakeUnexpected(Err(ParseErrorCode::kTruncated, "I-DATA header"));
  ByteReader r(c.value);
  IDataChunk d;
  d.tsn = Tsn(r.U32());
  d.stream_id = StreamId(r.U16());
  r.Skip(2);
  d.mid = Mid(r.U32());
  uint32_t word = r.U32();
  d.payload = r.rest();
  d.ending = c.flags & DataChunk::kFlagEnding;
  d.beginning = c.flags & DataChunk::kFlagBeginning;
  d.unordered = c.flags & DataChunk::kFlagUnordered;
  d.immediate_ack = c.flags & DataChunk::kFlagImmediate;
  if (d.beginning)
    d.ppid = Ppid(word);
  else
    d.fsn = word;
  // RFC 8260 section 2.1 / RFC 9260 section 6.2: no empty user data.
  if (d.payload.empty()) return MakeUnexpected(Err(ParseErrorCode::kBadLength, "I-DATA without user data"));
  return d;
}

void IDataChunk::SerializeTo(ByteWriter& w) const {
  uint8_t flags = (ending ? DataChunk::kFlagEnding : 0) | (beginning ? DataChunk::kFlagBeginning : 0) |
                  (unordered ? DataChunk::kFlagUnordered : 0) | (immediate_ack ? DataChunk::kFlagImmediate : 0);
  size_t at = BeginChunk(w, static_cast<uint8_t>(ChunkType::kIData), flags);
  w.U32(tsn.value());
  w.U16(stream_id.value());
  w.U16(0);
  w.U32(mid.value());
  w.U32(beginning ? ppid.value() : fsn);
  w.Bytes(payload);
  FinishChunk(w, at);
}

std::string IDataChunk::ToString() const {
  char buf[160];
  std::snprintf(buf, sizeof(buf), "I-DATA tsn=%u sid=%u mid=%u %s=%u %s%s%s%s len=%zu", tsn.value(), stream_id.value(),
                mid.value(), beginning ? "ppid" : "fsn", beginning ? ppid.value() : fsn, unordered ? "U" : "",
                beginning ? "B" : "", ending ? "E" : "", immediate_ack ? "I" : "", payload.size());
  return buf;
}

Result<SackChunk, ParseError> SackChunk::Parse(const ChunkView& c) {
  if (c.type != static_cast<uint8_t>(ChunkType::kSack)) return MakeUnexpected(Err(ParseErrorCode::kBadValue, "type"));
  ByteReader r(c.value);
  SackChunk s;
  s.cumulative_tsn_ack = Tsn(r.U32());
  s.a_rwnd = r.U32();
  s.gap_block_count = r.U16();
  s.duplicate_count = r.U16();
  if (!r.ok()) return MakeUnexpected(Err(ParseErrorCode::kTruncated, "SACK header"));
  // RFC 9260 section 3.3.4: the chunk length covers exactly N blocks and M TSNs.
  if (r.remaining() != 4 * (s.gap_block_count + s.duplicate_count))
    return MakeUnexpected(Err(ParseErrorCode::kBadLength, "SACK block counts"));
  s.gaps_raw = r.Bytes(4 * s.gap_block_count);
  s.dups_raw = r.Bytes(4 * s.duplicate_count);
  for (size_t i = 0; i < s.gap_block_count; ++i) {
    GapAckBlock b = s.gap_block(i);
    if (b.start == 0 || b.end < b.start) return MakeUnexpected(Err(ParseErrorCode::kBadValue, "gap ack block"));
  }
  return s;
}

GapAckBlock SackChunk::gap_block(size_t i) const {
  ByteReader r(gaps_raw.subspan(4 * i, 4));
  GapAckBlock b;
  b.start = r.U16();
  b.end = r.U16();
  return b;
}

Tsn SackChunk::duplicate(size_t i) const {
  ByteReader r(dups_raw.subspan(4 * i, 4));
  return Tsn(r.U32());
}

void SackChunk::Serialize(ByteWriter& w,
                          Tsn cumulative_tsn_ack,
                          uint32_t a_rwnd,
                          std::span<const GapAckBlock> gaps,
                          std::span<const Tsn> duplicates) {
  size_t at = BeginChunk(w, static_cast<uint8_t>(ChunkType::kSack), 0);
  w.U32(cumulative_tsn_ack.value());
  w.U32(a_rwnd);
  w.U16(static_cast<uint16_t>(gaps.size()));
  w.U16(static_cast<uint16_t>(duplicates.size()));
  for (const GapAckBlock& b : gaps) {
    w.U16(b.start);
    w.U16(b.end);
  }
  for (Tsn t : duplicates)
    w.U32(t.value());
  FinishChunk(w, at);
}

void SackChunk::SerializeTo(ByteWriter& w) const {
  size_t at = BeginChunk(w, static_cast<uint8_t>(ChunkType::kSack), 0);
  w.U32(cumulative_tsn_ack.value());
  w.U32(a_rwnd);
  w.U16(static_cast<uint16_t>(gap_block_count));
  w.U16(static_cast<uint16_t>(duplicate_count));
  w.Bytes(gaps_raw);
  w.Bytes(dups_raw);
  FinishChunk(w, at);
}

std::string SackChunk::ToString() const {
  std::string s = "SACK cum=" + std::to_string(cumulative_tsn_ack.value()) + " a_rwnd=" + std::to_string(a_rwnd);
  for (size_t i = 0; i < gap_block_count; ++i) {
    GapAckBlock b = gap_block(i);
    s += " gap=" + std::to_string(b.start) + "-" + std::to_string(b.end);
  }
  for (size_t i = 0; i < duplicate_count; ++i)
    s += " dup=" + std::to_string(duplicate(i).value());
  return s;
}

Result<ForwardTsnChunk, ParseError> ForwardTsnChunk::Parse(const ChunkView& c) {
  if (c.type != static_cast<uint8_t>(ChunkType::kForwardTsn))
    return MakeUnexpected(Err(ParseErrorCode::kBadValue, "type"));
  if (c.value.size() < 4 || c.value.size() % 4 != 0)
    return MakeUnexpected(Err(ParseErrorCode::kBadLength, "FORWARD-TSN length"));
  ForwardTsnChunk f;
  ByteReader r(c.value);
  f.new_cumulative_tsn = Tsn(r.U32());
  f.raw = r.rest();
  f.skipped_count = f.raw.size() / 4;
  return f;
}

ForwardTsnChunk::Skipped ForwardTsnChunk::skipped(size_t i) const {
  ByteReader r(raw.subspan(4 * i, 4));
  Skipped s;
  s.stream_id = StreamId(r.U16());
  s.ssn = Ssn(r.U16());
  return s;
}

void ForwardTsnChunk::Serialize(ByteWriter& w, Tsn new_cumulative_tsn, std::span<const Skipped> skipped) {
  size_t at = BeginChunk(w, static_cast<uint8_t>(ChunkType::kForwardTsn), 0);
  w.U32(new_cumulative_tsn.value());
  for (const Skipped& s : skipped) {
    w.U16(s.stream_id.value());
    w.U16(s.ssn.value());
  }
  FinishChunk(w, at);
}

void ForwardTsnChunk::SerializeTo(ByteWriter& w) const {
  size_t at = BeginChunk(w, static_cast<uint8_t>(ChunkType::kForwardTsn), 0);
  w.U32(new_cumulative_tsn.value());
  w.Bytes(raw);
  FinishChunk(w, at);
}

std::string ForwardTsnChunk::ToString() const {
  std::string s = "FORWARD-TSN new_cum=" + std::to_string(new_cumulative_tsn.value());
  for (size_t i = 0; i < skipped_count; ++i)
    s += " " + std::to_string(skipped(i).stream_id.value()) + ":" + std::to_string(skipped(i).ssn.value());
  return s;
}

Result<IForwardTsnChunk, ParseError> IForwardTsnChunk::Parse(const ChunkView& c) {
  if (c.type != static_cast<uint8_t>(ChunkType::kIForwardTsn))
    return MakeUnexpected(Err(ParseErrorCode::kBadValue, "type"));
  if (c.value.size() < 4 || (c.value.size() - 4) % 8 != 0)
    return MakeUnexpected(Err(ParseErrorCode::kBadLength, "I-FORWARD-TSN length"));
  IForwardTsnChunk f;
  ByteReader r(c.value);
  f.new_cumulative_tsn = Tsn(r.U32());
  f.raw = r.rest();
  f.skipped_count = f.raw.size() / 8;
  return f;
}

IForwardTsnChunk::Skipped IForwardTsnChunk::skipped(size_t i) const {
  ByteReader r(raw.subspan(8 * i, 8));
  Skipped s;
  s.stream_id = StreamId(r.U16());
  s.unordered = r.U16() & 1;
  s.mid = Mid(r.U32());
  return s;
}

void IForwardTsnChunk::Serialize(ByteWriter& w, Tsn new_cumulative_tsn, std::span<const Skipped> skipped) {
  size_t at = BeginChunk(w, static_cast<uint8_t>(ChunkType::kIForwardTsn), 0);
  w.U32(new_cumulative_tsn.value());
  for (const Skipped& s : skipped) {
    w.U16(s.stream_id.value());
    w.U16(s.unordered ? 1 : 0);
    w.U32(s.mid.value());
  }
  FinishChunk(w, at);
}

void IForwardTsnChunk::SerializeTo(ByteWriter& w) const {
  size_t at = BeginChunk(w, static_cast<uint8_t>(ChunkType::kIForwardTsn), 0);
  w.U32(new_cumulative_tsn.value());
  w.Bytes(raw);
  FinishChunk(w, at);
}

std::string IForwardTsnChunk::ToString() const {
  std::string s = "I-FORWARD-TSN new_cum=" + std::to_string(new_cumulative_tsn.value());
  for (size_t i = 0; i < skipped_count; ++i) {
    Skipped k = skipped(i);
    s += " " + std::to_string(k.stream_id.value()) + (k.unordered ? "U:" : ":") + std::to_string(k.mid.value());
  }
  return s;
}

}  // namespace peerlink::sctp
