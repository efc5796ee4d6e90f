#include "src/sctp/packet.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "src/sctp/crc32c.h"

namespace peerlink::sctp {

std::string ChunkTypeName(uint8_t type) {
  switch (static_cast<ChunkType>(type)) {
    case ChunkType::kData: return "DATA";
    case ChunkType::kInit: return "INIT";
    case ChunkType::kInitAck: return "INIT-ACK";
    case ChunkType::kSack: return "SACK";
    case ChunkType::kHeartbeat: return "HEARTBEAT";
    case ChunkType::kHeartbeatAck: return "HEARTBEAT-ACK";
    case ChunkType::kAbort: return "ABORT";
    case ChunkType::kShutdown: return "SHUTDOWN";
    case ChunkType::kShutdownAck: return "SHUTDOWN-ACK";
    case ChunkType::kError: return "ERROR";
    case ChunkType::kCookieEcho: return "COOKIE-ECHO";
    case ChunkType::kCookieAck: return "COOKIE-ACK";
    case ChunkType::kShutdownComplete: return "SHUTDOWN-COMPLETE";
    case ChunkType::kIData: return "I-DATA";
    case ChunkType::kReConfig: return "RE-CONFIG";
    case ChunkType::kForwardTsn: return "FORWARD-TSN";
    case ChunkType::kIForwardTsn: return "I-FORWARD-TSN";
  }
  return "chunk-" + std::to_string(type);
}

namespace {
uint32_t ReadLe32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}
}  // namespace

Result<PacketView, ParseError> PacketView::Parse(ByteView packet, bool accept_zero_checksum, bool verify_checksum) {
  // RFC 9260 section 3: a packet is the common header and at least one chunk.
  if (packet.size() < kCommonHeaderSize + kChunkHeaderSize)
    return MakeUnexpected(ParseError{ParseErrorCode::kTruncated, "sctp packet"});
  PacketView v;
  v.bytes_ = packet;
  ByteReader r(packet);
  v.header_.source_port = r.U16();
  v.header_.destination_port = r.U16();
  v.header_.verification_tag = VerificationTag(r.U32());
  v.header_.checksum = ReadLe32(packet.data() + 8);
  r.Skip(4);
  if (verify_checksum && !(accept_zero_checksum && v.header_.checksum == 0)) {
    // RFC 9260 section 6.8: the CRC32c covers the packet with the checksum field zeroed.
    static constexpr uint8_t kZeros[4] = {0, 0, 0, 0};
    uint32_t state = Crc32cExtend(kCrc32cInit, packet.first(8));
    state = Crc32cExtend(state, ByteView(kZeros, 4));
    state = Crc32cExtend(state, packet.subspan(kCommonHeaderSize));
    if (Crc32cFinish(state) != v.header_.checksum)
      return MakeUnexpected(ParseError{ParseErrorCode::kBadChecksum, "sctp checksum"});
  }
  // Framing of every chunk (RFC 9260 section 3.2: length >= 4, padded to 4;
  // the last chunk's padding may be omitted only by broken senders, we accept it).
  size_t count = 0;
  while (!r.empty()) {
    if (r.remaining() < kChunkHeaderSize) return MakeUnexpected(ParseError{ParseErrorCode::kTruncated, "chunk header"});
    r.Skip(2);
    uint16_t length = r.U16();
    if (length < kChunkHeaderSize) return MakeUnexpected(ParseError{ParseErrorCode::kBadLength, "chunk length"});
    size_t value_len = length - kChunkHeaderSize;
    if (r.remaining() < value_len) return MakeUnexpected(ParseError{ParseErrorCode::kTruncated, "chunk value"});
    r.Skip(value_len);
    size_t pad = PadTo4(length) - length;
    r.Skip(std::min(pad, r.remaining()));
    ++count;
  }
  v.chunk_count_ = count;
  return v;
}

bool PacketView::Iterator::Next(ChunkView* out) {
  if (reader_.remaining() < kChunkHeaderSize) return false;
  out->type = reader_.U8();
  out->flags = reader_.U8();
  uint16_t length = reader_.U16();
  out->value = reader_.Bytes(length - kChunkHeaderSize);
  size_t pad = PadTo4(length) - length;
  reader_.Skip(std::min(pad, reader_.remaining()));
  return reader_.ok();
}

ChunkView PacketView::first_chunk() const {
  ChunkView c;
  Iterator it = chunks();
  it.Next(&c);
  return c;
}

std::string PacketView::ToString() const {
  char buf[96];
  std::snprintf(buf, sizeof(buf), "SCTP %u->%u vtag=%08x [", header_.source_port, header_.destination_port,
                header_.verification_tag.value());
  std::string s = buf;
  Iterator it = chunks();
  ChunkView c;
  bool first = true;
  while (it.Next(&c)) {
    if (!first) s += ", ";
    first = false;
    s += ChunkTypeName(c.type) + "(" + std::to_string(c.value.size()) + ")";
  }
  return s + "]";
}

PacketBuilder::PacketBuilder(MutableByteView out, uint16_t source_port, uint16_t destination_port, VerificationTag tag)
    : writer_(out) {
  writer_.U16(source_port);
  writer_.U16(destination_port);
  writer_.U32(tag.value());
  writer_.U32(0);
}

size_t PacketBuilder::Finish(bool zero_checksum) {
  if (!writer_.ok()) return 0;
  MutableByteView bytes = writer_.mutable_written();
  uint32_t crc = zero_checksum ? 0 : Crc32c(bytes);
  bytes[8] = static_cast<uint8_t>(crc);
  bytes[9] = static_cast<uint8_t>(crc >> 8);
  bytes[10] = static_cast<uint8_t>(crc >> 16);
  bytes[11] = static_cast<uint8_t>(crc >> 24);
  return bytes.size();
}

size_t BeginChunk(ByteWriter& w, uint8_t type, uint8_t flags) {
  w.U8(type);
  w.U8(flags);
  return w.Reserve16();
}

void FinishChunk(ByteWriter& w, size_t length_offset) {
  size_t length = w.size() - (length_offset - 2);
  w.Patch16(length_offset, static_cast<uint16_t>(length));
  w.Zeros(PadTo4(length) - length);
}

}  // namespace peerlink::sctp
