// Variable-length parameters (RFC 9260 section 3.2.1) and error causes
// (section 3.3.10), which share the same TLV framing:
//
//    |          Parameter Type       |       Parameter Length        |
//    \                       Parameter Value                         /
//
// Length covers type, length and value, not the padding to 4 bytes.
// TlvList::Parse validates the framing of the whole list once; iteration
// cannot fail afterwards. Everything returns views; nothing allocates.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "src/base/byte_io.h"
#include "src/base/parse_error.h"
#include "src/base/result.h"
#include "src/sctp/packet.h"
#include "src/sctp/types.h"

namespace peerlink::sctp {

namespace param {
inline constexpr uint16_t kHeartbeatInfo = 1;
inline constexpr uint16_t kStateCookie = 7;
inline constexpr uint16_t kUnrecognizedParameter = 8;
inline constexpr uint16_t kCookiePreservative = 9;
inline constexpr uint16_t kOutgoingSsnResetRequest = 13;  // RFC 6525 section 4.1
inline constexpr uint16_t kIncomingSsnResetRequest = 14;
inline constexpr uint16_t kSsnTsnResetRequest = 15;
inline constexpr uint16_t kReconfigResponse = 16;  // RFC 6525 section 4.4
inline constexpr uint16_t kAddOutgoingStreams = 17;
inline constexpr uint16_t kAddIncomingStreams = 18;
inline constexpr uint16_t kZeroChecksumAcceptable = 0x8001;  // RFC 9653 section 4
inline constexpr uint16_t kSupportedExtensions = 0x8008;     // RFC 5061 section 4.2.7
inline constexpr uint16_t kForwardTsnSupported = 0xC000;     // RFC 3758 section 3.1
}  // namespace param

// Error cause codes (RFC 9260 section 3.3.10).
namespace cause {
inline constexpr uint16_t kInvalidStreamIdentifier = 1;
inline constexpr uint16_t kMissingMandatoryParameter = 2;
inline constexpr uint16_t kStaleCookie = 3;
inline constexpr uint16_t kOutOfResource = 4;
inline constexpr uint16_t kUnrecognizedChunkType = 6;
inline constexpr uint16_t kInvalidMandatoryParameter = 7;
inline constexpr uint16_t kUnrecognizedParameters = 8;
inline constexpr uint16_t kNoUserData = 9;
inline constexpr uint16_t kCookieWhileShuttingDown = 10;
inline constexpr uint16_t kUserInitiatedAbort = 12;
inline constexpr uint16_t kProtocolViolation = 13;
}  // namespace cause
std::string CauseName(uint16_t code);

// RFC 9653 section 4: Error Detection Method Identifier for "DTLS" (RFC 8261).
inline constexpr uint32_t kEdmidDtls = 1;

struct Tlv {
  uint16_t type = 0;
  ByteView value;
};

class TlvList {
 public:
  static Result<TlvList, ParseError> Parse(ByteView bytes);
  class Iterator {
   public:
    explicit Iterator(ByteView b) : reader_(b) {}
    bool Next(Tlv* out);

   private:
    ByteReader reader_;
  };
  Iterator begin() const { return Iterator(bytes_); }
  std::optional<Tlv> Find(uint16_t type) const;
  ByteView bytes() const { return bytes_; }
  std::string ToString() const;  // parameter or cause types, for logs

 private:
  ByteView bytes_;
};

// Writes one TLV (header, value, padding).
void WriteTlv(ByteWriter& w, uint16_t type, ByteView value);

// Supported Extensions (RFC 5061 section 4.2.7)
//    |     Parameter Type = 0x8008   |      Parameter Length         |
//    | CHUNK TYPE 1  |  CHUNK TYPE 2 |  CHUNK TYPE 3 |  CHUNK TYPE 4 |
struct SupportedExtensionsParameter {
  ByteView chunk_types;
  bool Has(uint8_t type) const;
  static Result<SupportedExtensionsParameter, ParseError> Parse(const Tlv& t);
  static void Serialize(ByteWriter& w, std::span<const uint8_t> types);
  void SerializeTo(ByteWriter& w) const { Serialize(w, chunk_types); }
  std::string ToString() const;
};

// Zero Checksum Acceptable (RFC 9653 section 4)
//    |          Type = 0x8001        |          Length = 8           |
//    |           Error Detection Method Identifier (EDMID)           |
struct ZeroChecksumAcceptableParameter {
  uint32_t edmid = kEdmidDtls;
  static Result<ZeroChecksumAcceptableParameter, ParseError> Parse(const Tlv& t);
  void SerializeTo(ByteWriter& w) const;
  std::string ToString() const;
};

// Outgoing SSN Reset Request (RFC 6525 section 4.1)
//    |     Parameter Type = 13       | Parameter Length = 16 + 2 * N |
//    |           Re-configuration Request Sequence Number            |
//    |           Re-configuration Response Sequence Number           |
//    |                Sender's Last Assigned TSN                     |
//    |  Stream Number 1 (optional)   |    Stream Number 2 (optional) |
struct OutgoingSsnResetRequestParameter {
  uint32_t request_sequence = 0;
  uint32_t response_sequence = 0;
  Tsn sender_last_assigned_tsn;
  size_t stream_count = 0;  // 0 means "all streams"
  StreamId stream(size_t i) const;
  ByteView streams_raw;

  static Result<OutgoingSsnResetRequestParameter, ParseError> Parse(const Tlv& t);
  static void Serialize(ByteWriter& w,
                        uint32_t request_sequence,
                        uint32_t response_sequence,
                        Tsn last_tsn,
                        std::span<const StreamId> streams);
  void SerializeTo(ByteWriter& w) const;
  std::string ToString() const;
};

// Re-configuration Response (RFC 6525 section 4.4)
//    |     Parameter Type = 16       |      Parameter Length         |
//    |         Re-configuration Response Sequence Number             |
//    |                            Result                             |
//    |                   Sender's Next TSN (optional)                |
//    |                  Receiver's Next TSN (optional)               |
struct ReconfigResponseParameter {
  enum Result : uint32_t {
    kSuccessNothingToDo = 0,
    kSuccessPerformed = 1,
    kDenied = 2,
    kErrorWrongSsn = 3,
    kErrorRequestAlreadyInProgress = 4,
    kErrorBadSequenceNumber = 5,
    kInProgress = 6,
  };
  uint32_t response_sequence = 0;
  uint32_t result = kSuccessPerformed;
  std::optional<Tsn> sender_next_tsn, receiver_next_tsn;

  static peerlink::Result<ReconfigResponseParameter, ParseError> Parse(const Tlv& t);
  void SerializeTo(ByteWriter& w) const;
  std::string ToString() const;
};

}  // namespace peerlink::sctp
