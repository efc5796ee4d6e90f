// Control chunks of RFC 9260 (association setup, heartbeat, shutdown, abort,
// error) and RE-CONFIG (RFC 6525). Parse() returns views into the packet.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "src/base/byte_io.h"
#include "src/base/parse_error.h"
#include "src/base/result.h"
#include "src/sctp/packet.h"
#include "src/sctp/parameters.h"
#include "src/sctp/types.h"

namespace peerlink::sctp {

// INIT (RFC 9260 section 3.3.2) and INIT ACK (section 3.3.3), same layout:
//    |   Type = 1/2  |  Chunk Flags  |      Chunk Length             |
//    |                         Initiate Tag                          |
//    |          Advertised Receiver Window Credit (a_rwnd)           |
//    |  Number of Outbound Streams   |   Number of Inbound Streams   |
//    |                          Initial TSN                          |
//    \              Optional/Variable-Length Parameters              /
struct InitChunk {
  ChunkType type = ChunkType::kInit;  // kInit or kInitAck
  VerificationTag initiate_tag;
  uint32_t a_rwnd = 0;
  uint16_t outbound_streams = 0;
  uint16_t inbound_streams = 0;
  Tsn initial_tsn;
  TlvList parameters;

  // What the parameters announce.
  struct Capabilities {
    bool forward_tsn = false;    // FORWARD-TSN supported (RFC 3758)
    bool i_data = false;         // I-DATA and I-FORWARD-TSN (RFC 8260)
    bool reconfig = false;       // RE-CONFIG (RFC 6525)
    bool zero_checksum = false;  // zero checksum acceptable with EDMID DTLS (RFC 9653)
  };
  Capabilities capabilities() const;
  std::optional<ByteView> state_cookie() const;

  static Result<InitChunk, ParseError> Parse(const ChunkView& c);
  // Writes the fixed part and `parameters` (already serialized TLVs).
  void SerializeTo(ByteWriter& w) const;
  std::string ToString() const;
};

// COOKIE ECHO (RFC 9260 section 3.3.11): the cookie from the INIT ACK, opaque.
struct CookieEchoChunk {
  ByteView cookie;
  static Result<CookieEchoChunk, ParseError> Parse(const ChunkView& c);
  void SerializeTo(ByteWriter& w) const;
  std::string ToString() const;
};

// Chunks with no value: COOKIE ACK (3.3.12), SHUTDOWN ACK (3.3.9).
// SHUTDOWN COMPLETE (3.3.13) has the T flag (tag reflected).
struct EmptyChunk {
  ChunkType type = ChunkType::kCookieAck;
  bool tag_reflected = false;  // T bit, ABORT / SHUTDOWN COMPLETE only
  static Result<EmptyChunk, ParseError> Parse(const ChunkView& c);
  void SerializeTo(ByteWriter& w) const;
  std::string ToString() const;
};

// HEARTBEAT (3.3.5) and HEARTBEAT ACK (3.3.6):
//    |   Type = 4/5  | Chunk  Flags  |      Heartbeat Length         |
//    \            Heartbeat Information TLV (Variable-Length)        /
struct HeartbeatChunk {
  ChunkType type = ChunkType::kHeartbeat;
  ByteView info;  // the value of the Heartbeat Info parameter, opaque to the receiver
  static Result<HeartbeatChunk, ParseError> Parse(const ChunkView& c);
  void SerializeTo(ByteWriter& w) const;
  std::string ToString() const;
};

// ABORT (3.3.7) and ERROR (3.3.10): a list of error causes.
//    |   Type = 6/9  |Reserved     |T|           Length              |
//    \                   zero or more Error Causes                   /
struct ErrorCausesChunk {
  ChunkType type = ChunkType::kAbort;
  bool tag_reflected = false;  // ABORT only
  TlvList causes;
  static Result<ErrorCausesChunk, ParseError> Parse(const ChunkView& c);
  void SerializeTo(ByteWriter& w) const;
  // "user-initiated abort: <text>", or the cause names.
  std::string Describe() const;
  std::string ToString() const;
};

// SHUTDOWN (3.3.8)
//    |   Type = 7    | Chunk  Flags  |      Length = 8               |
//    |                      Cumulative TSN Ack                       |
struct ShutdownChunk {
  Tsn cumulative_tsn_ack;
  static Result<ShutdownChunk, ParseError> Parse(const ChunkView& c);
  void SerializeTo(ByteWriter& w) const;
  std::string ToString() const;
};

// RE-CONFIG (RFC 6525 section 3.1)
//    | Type = 130    |  Chunk Flags  |      Chunk Length             |
//    \                  Re-configuration Parameter                   /
//    \             Re-configuration Parameter (optional)             /
struct ReConfigChunk {
  TlvList parameters;
  static Result<ReConfigChunk, ParseError> Parse(const ChunkView& c);
  void SerializeTo(ByteWriter& w) const;
  std::string ToString() const;
};

}  // namespace peerlink::sctp
