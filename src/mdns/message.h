// DNS message codec (RFC 1035 section 4) limited to what Multicast DNS
// (RFC 6762) needs for ICE: the header, questions (with the QU bit), and A /
// AAAA resource records (with the cache-flush bit). Every other record type is
// walked over correctly (its owner name parsed, RDATA skipped by RDLENGTH) and
// counted, never stored.
//
// Parse() never throws, never aborts and allocates nothing: names live in
// fixed 255-byte buffers and the tables are fixed-capacity (kMaxQuestions,
// kMaxRecords); a message needing more is kTooLarge.
//
//                                   1  1  1  1  1  1
//     0  1  2  3  4  5  6  7  8  9  0  1  2  3  4  5
//   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//   |                      ID                       |
//   |QR|   Opcode  |AA|TC|RD|RA| Z|AD|CD|   RCODE   |
//   |                    QDCOUNT                    |
//   |                    ANCOUNT                    |
//   |                    NSCOUNT                    |
//   |                    ARCOUNT                    |
//   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//   then QDCOUNT questions   (QNAME, QTYPE, QU|QCLASS)
//   then AN+NS+AR records    (NAME, TYPE, CF|CLASS, TTL, RDLENGTH, RDATA)
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/base/byte_io.h"
#include "src/base/parse_error.h"
#include "src/base/result.h"
#include "src/base/socket_address.h"

namespace peerlink::mdns {

// RFC 1035 section 3.1: a name is at most 255 octets in wire form (including
// the root label), a label at most 63.
inline constexpr size_t kMaxNameWireLength = 255;
inline constexpr size_t kMaxLabelLength = 63;
// Compression pointers followed while reading one name. A legitimate name
// needs at most 127 (one per label); more means a loop or an attack.
inline constexpr int kMaxPointerHops = 128;
// RFC 6762 section 17: a Multicast DNS message may be up to 9000 bytes.
inline constexpr size_t kMaxMessageSize = 9000;
// Fixed table capacities of a parsed Message.
inline constexpr size_t kMaxQuestions = 16;
inline constexpr size_t kMaxRecords = 32;  // A / AAAA records kept (answers + additional)

namespace rr {
inline constexpr uint16_t kA = 1;
inline constexpr uint16_t kPtr = 12;
inline constexpr uint16_t kTxt = 16;
inline constexpr uint16_t kAaaa = 28;
inline constexpr uint16_t kSrv = 33;
inline constexpr uint16_t kNsec = 47;
inline constexpr uint16_t kAny = 255;
}  // namespace rr
inline constexpr uint16_t kClassIn = 1;
inline constexpr uint16_t kClassAny = 255;
// RFC 6762 section 5.4 (questions) / 10.2 (records): the top bit of the class.
inline constexpr uint16_t kTopBit = 0x8000;

// A domain name, stored uncompressed in wire form (length-prefixed labels and
// the terminating zero). Comparison is ASCII case-insensitive (RFC 6762
// section 16 / RFC 4343).
class DnsName {
 public:
  DnsName() { wire_[0] = 0; }  // the root name
  // "abc.local" or "abc.local." (labels 1..63 bytes, no empty labels, total
  // wire length <= 255). Labels may hold any byte except '.'.
  static std::optional<DnsName> FromText(std::string_view text);
  // Builds from labels already validated by the parser.
  static Result<DnsName, ParseError> FromWire(ByteView wire);

  ByteView wire() const { return ByteView(wire_.data(), len_); }
  size_t wire_length() const { return len_; }
  // Dotted text without the trailing dot ("" for the root).
  std::string ToString() const;
  // True if the last label is "local" (case-insensitive).
  bool IsLocal() const;
  bool EqualsIgnoreCase(const DnsName& other) const;

 private:
  std::array<uint8_t, kMaxNameWireLength> wire_{};
  size_t len_ = 1;
};

struct Header {
  uint16_t id = 0;
  uint16_t flags = 0;

  static constexpr uint16_t kQr = 0x8000;
  static constexpr uint16_t kAa = 0x0400;
  static constexpr uint16_t kTc = 0x0200;
  bool is_response() const { return (flags & kQr) != 0; }
  uint8_t opcode() const { return static_cast<uint8_t>((flags >> 11) & 0xF); }
  uint8_t rcode() const { return static_cast<uint8_t>(flags & 0xF); }
  bool truncated() const { return (flags & kTc) != 0; }
};

struct Question {
  DnsName name;
  uint16_t type = rr::kA;
  uint16_t qclass = kClassIn;     // without the QU bit
  bool unicast_response = false;  // the QU bit (RFC 6762 section 5.4)
};

enum class Section : uint8_t { kAnswer, kAuthority, kAdditional };

// An A or AAAA record (the only kinds stored).
struct AddressRecord {
  DnsName name;
  Section section = Section::kAnswer;
  uint16_t rrclass = kClassIn;  // without the cache-flush bit
  bool cache_flush = false;     // RFC 6762 section 10.2
  uint32_t ttl = 0;             // seconds
  IpAddress address;            // family tells A (v4) from AAAA (v6)
  uint16_t type() const { return address.is_v4() ? rr::kA : rr::kAaaa; }
};

template <typename T, size_t N>
class FixedVector {
 public:
  bool push_back(const T& v) {
    if (size_ == N) return false;
    items_[size_++] = v;
    return true;
  }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const T& operator[](size_t i) const { return items_[i]; }
  const T* begin() const { return items_.data(); }
  const T* end() const { return items_.data() + size_; }
  void clear() { size_ = 0; }

 private:
  std::array<T, N> items_{};
  size_t size_ = 0;
};

struct Message {
  Header header;
  FixedVector<Question, kMaxQuestions> questions;
  FixedVector<AddressRecord, kMaxRecords> records;  // A / AAAA in any section, in wire order
  // Counts from the header, and how many records of other types were skipped.
  uint16_t answer_count = 0;
  uint16_t authority_count = 0;
  uint16_t additional_count = 0;
  uint16_t skipped_records = 0;

  // RFC 1035 section 4 / RFC 6762 section 18. Accepts bytes after the last
  // record (some stacks pad); rejects A with RDLENGTH != 4 and AAAA != 16.
  static Result<Message, ParseError> Parse(ByteView bytes);
  // Writes the header, the questions, and the records (answers, authority,
  // additional in that order; counts recomputed). Owner names repeated in the
  // message are written as compression pointers to their first occurrence.
  // Returns false if `out` ran out of space.
  bool SerializeTo(ByteWriter& out) const;
  std::string ToString() const;
};

// A one-question-per-type query (ID 0, RFC 6762 section 18.1), QU bit set on
// every question when `unicast_response` (RFC 6762 section 5.4).
Message MakeQuery(const DnsName& name, bool want_a, bool want_aaaa, bool unicast_response);
// An authoritative response (QR|AA, ID 0) carrying `records` as answers.
Message MakeResponse();
bool AddAnswer(Message& m, const DnsName& name, const IpAddress& address, uint32_t ttl, bool cache_flush);

// Serializes into a new buffer (at most kMaxMessageSize bytes); empty on overflow.
std::vector<uint8_t> Serialize(const Message& m);

}  // namespace peerlink::mdns
