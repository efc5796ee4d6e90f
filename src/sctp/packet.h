// SCTP packet framing (RFC 9260 section 3): the common header and the chunk
// TLVs that follow it.
//
//     0                   1                   2                   3
//     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |     Source Port Number        |     Destination Port Number   |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |                      Verification Tag                         |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |                           Checksum                            |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |   Chunk Type  | Chunk  Flags  |        Chunk Length           |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    \                          Chunk Value                          /
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// PacketView::Parse checks the checksum and the framing of every chunk once;
// iterating the chunks afterwards cannot fail. It returns views into the
// caller's buffer and never allocates.
#pragma once

#include <cstdint>
#include <string>

#include "src/base/byte_io.h"
#include "src/base/parse_error.h"
#include "src/base/result.h"
#include "src/sctp/types.h"

namespace peerlink::sctp {

inline constexpr size_t kCommonHeaderSize = 12;
inline constexpr size_t kChunkHeaderSize = 4;

// Chunk types (RFC 9260 section 3.2, RFC 8260, RFC 3758, RFC 6525).
enum class ChunkType : uint8_t {
  kData = 0,
  kInit = 1,
  kInitAck = 2,
  kSack = 3,
  kHeartbeat = 4,
  kHeartbeatAck = 5,
  kAbort = 6,
  kShutdown = 7,
  kShutdownAck = 8,
  kError = 9,
  kCookieEcho = 10,
  kCookieAck = 11,
  kShutdownComplete = 14,
  kIData = 64,
  kReConfig = 130,
  kForwardTsn = 192,
  kIForwardTsn = 194,
};
std::string ChunkTypeName(uint8_t type);

constexpr size_t PadTo4(size_t n) {
  return (n + 3) & ~size_t{3};
}
constexpr size_t PaddingFor(size_t n) {
  return PadTo4(n) - n;
}

// One chunk inside a parsed packet.
struct ChunkView {
  uint8_t type = 0;
  uint8_t flags = 0;
  ByteView value;  // the chunk value, without the 4-byte header or padding
};

struct CommonHeader {
  uint16_t source_port = 0;
  uint16_t destination_port = 0;
  VerificationTag verification_tag;
  uint32_t checksum = 0;  // as read, least significant byte first
};

class PacketView {
 public:
  // `accept_zero_checksum`: a checksum field of 0 is accepted without
  // verification (RFC 9653 section 5.3; only when negotiated / offered).
  // `verify_checksum` = false skips verification entirely (fuzzing only).
  static Result<PacketView, ParseError> Parse(ByteView packet, bool accept_zero_checksum, bool verify_checksum = true);

  const CommonHeader& header() const { return header_; }
  ByteView bytes() const { return bytes_; }
  size_t chunk_count() const { return chunk_count_; }

  // Iterates the chunks in order: `while (it.Next(&chunk)) ...`.
  class Iterator {
   public:
    explicit Iterator(ByteView chunks) : reader_(chunks) {}
    bool Next(ChunkView* out);

   private:
    ByteReader reader_;
  };
  Iterator chunks() const { return Iterator(bytes_.subspan(kCommonHeaderSize)); }
  // The first chunk (a packet always has at least one).
  ChunkView first_chunk() const;

  std::string ToString() const;

 private:
  ByteView bytes_;
  CommonHeader header_;
  size_t chunk_count_ = 0;
};

// Writes a packet: common header, then chunks through writer(), then
// Finish() which patches the checksum (or leaves it zero).
class PacketBuilder {
 public:
  PacketBuilder(MutableByteView out, uint16_t source_port, uint16_t destination_port, VerificationTag tag);
  ByteWriter& writer() { return writer_; }
  // Fills in the CRC32c (or zero when `zero_checksum`); returns the packet
  // size, or 0 if the buffer was too small.
  size_t Finish(bool zero_checksum);

 private:
  ByteWriter writer_;
};

// Writes the 4-byte chunk header and returns the offset of the length field
// for FinishChunk().
size_t BeginChunk(ByteWriter& w, uint8_t type, uint8_t flags);
// Patches the chunk length (header + value, unpadded) and pads to 4 bytes.
void FinishChunk(ByteWriter& w, size_t length_offset);

}  // namespace peerlink::sctp
