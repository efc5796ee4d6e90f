// Chunks that carry or acknowledge user data: DATA and SACK (RFC 9260),
// I-DATA and I-FORWARD-TSN (RFC 8260), FORWARD-TSN (RFC 3758).
//
// Parse() takes the ChunkView of a parsed packet and returns views into the
// packet (payloads, gap blocks, duplicate TSNs, skipped streams): no copies,
// no allocation. SerializeTo() writes the whole chunk including header and
// padding.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "src/base/byte_io.h"
#include "src/base/parse_error.h"
#include "src/base/result.h"
#include "src/sctp/packet.h"
#include "src/sctp/types.h"

namespace peerlink::sctp {

// DATA (RFC 9260 section 3.3.1)
//    |   Type = 0    |  Res  |I|U|B|E|           Length              |
//    |                              TSN                              |
//    |      Stream Identifier S      |   Stream Sequence Number n    |
//    |                  Payload Protocol Identifier                  |
//    \                 User Data (seq n of Stream S)                 /
struct DataChunk {
  static constexpr size_t kHeaderSize = 16;
  static constexpr uint8_t kFlagEnding = 0x01, kFlagBeginning = 0x02, kFlagUnordered = 0x04, kFlagImmediate = 0x08;
  Tsn tsn;
  StreamId stream_id;
  Ssn ssn;
  Ppid ppid;
  bool unordered = false, beginning = false, ending = false, immediate_ack = false;
  ByteView payload;

  static Result<DataChunk, ParseError> Parse(const ChunkView& c);
  void SerializeTo(ByteWriter& w) const;
  std::string ToString() const;
};

// I-DATA (RFC 8260 section 2.1)
//    |   Type = 64   |  Res  |I|U|B|E|       Length = Variable       |
//    |                              TSN                              |
//    |        Stream Identifier      |           Reserved            |
//    |                      Message Identifier                       |
//    |    Payload Protocol Identifier / Fragment Sequence Number     |
//    \                           User Data                           /
// The fifth word is the PPID when B is set and the FSN otherwise (the first
// fragment's FSN is implicitly 0).
struct IDataChunk {
  static constexpr size_t kHeaderSize = 20;
  Tsn tsn;
  StreamId stream_id;
  Mid mid;
  Ppid ppid;         // valid when beginning
  uint32_t fsn = 0;  // 0 when beginning
  bool unordered = false, beginning = false, ending = false, immediate_ack = false;
  ByteView payload;

  static Result<IDataChunk, ParseError> Parse(const ChunkView& c);
  void SerializeTo(ByteWriter& w) const;
  std::string ToString() const;
};

// SACK (RFC 9260 section 3.3.4)
//    |   Type = 3    |Chunk  Flags   |      Chunk Length             |
//    |                      Cumulative TSN Ack                       |
//    |          Advertised Receiver Window Credit (a_rwnd)           |
//    | Number of Gap Ack Blocks = N  |  Number of Duplicate TSNs = M |
//    |    Gap Ack Block #1 Start     |   Gap Ack Block #1 End        |
//    /                              ...                              /
//    |                       Duplicate TSN 1                         |
//    /                              ...                              /
struct GapAckBlock {
  uint16_t start = 0;  // offsets from the cumulative TSN ack
  uint16_t end = 0;
  bool operator==(const GapAckBlock&) const = default;
};

struct SackChunk {
  static constexpr size_t kHeaderSize = 16;
  Tsn cumulative_tsn_ack;
  uint32_t a_rwnd = 0;
  size_t gap_block_count = 0;
  size_t duplicate_count = 0;

  GapAckBlock gap_block(size_t i) const;
  Tsn duplicate(size_t i) const;

  static Result<SackChunk, ParseError> Parse(const ChunkView& c);
  // Writes a SACK with the given blocks and duplicates.
  static void Serialize(ByteWriter& w,
                        Tsn cumulative_tsn_ack,
                        uint32_t a_rwnd,
                        std::span<const GapAckBlock> gaps,
                        std::span<const Tsn> duplicates);
  void SerializeTo(ByteWriter& w) const;  // re-serializes a parsed chunk
  std::string ToString() const;

  ByteView gaps_raw;  // 4 bytes per block
  ByteView dups_raw;  // 4 bytes per TSN
};

// FORWARD-TSN (RFC 3758 section 3.2)
//    |   Type = 192  |  Flags = 0x00 |        Length = Variable      |
//    |                      New Cumulative TSN                       |
//    |         Stream-1              |       Stream Sequence-1       |
//    /                              ...                              /
struct ForwardTsnChunk {
  struct Skipped {
    StreamId stream_id;
    Ssn ssn;
  };
  Tsn new_cumulative_tsn;
  size_t skipped_count = 0;
  Skipped skipped(size_t i) const;

  static Result<ForwardTsnChunk, ParseError> Parse(const ChunkView& c);
  static void Serialize(ByteWriter& w, Tsn new_cumulative_tsn, std::span<const Skipped> skipped);
  void SerializeTo(ByteWriter& w) const;
  std::string ToString() const;

  ByteView raw;
};

// I-FORWARD-TSN (RFC 8260 section 2.3)
//    |  Type = 194   | Flags = 0x00  |      Length = Variable        |
//    |                       New Cumulative TSN                      |
//    |       Stream Identifier       |          Reserved           |U|
//    |                       Message Identifier                      |
//    /                              ...                              /
struct IForwardTsnChunk {
  struct Skipped {
    StreamId stream_id;
    bool unordered = false;
    Mid mid;
  };
  Tsn new_cumulative_tsn;
  size_t skipped_count = 0;
  Skipped skipped(size_t i) const;

  static Result<IForwardTsnChunk, ParseError> Parse(const ChunkView& c);
  static void Serialize(ByteWriter& w, Tsn new_cumulative_tsn, std::span<const Skipped> skipped);
  void SerializeTo(ByteWriter& w) const;
  std::string ToString() const;

  ByteView raw;
};

}  // namespace peerlink::sctp
