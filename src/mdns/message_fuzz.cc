// Fuzzes the mDNS message parser: parse; on success, ToString, serialize,
// parse again, and the two parses must agree on header, questions and
// address records (serialization recomputes counts and compresses names).
#include <cstddef>
#include <cstdint>

#include "src/base/check.h"
#include "src/mdns/message.h"

using namespace peerlink;
using namespace peerlink::mdns;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed = Message::Parse(ByteView(data, size));
  if (!parsed) return 0;
  const Message& m = *parsed;
  (void)m.ToString();
  for (const Question& q : m.questions) {
    PL_CHECK(q.name.wire_length() <= kMaxNameWireLength);
    (void)q.name.IsLocal();
  }
  const std::vector<uint8_t> bytes = Serialize(m);
  PL_CHECK(!bytes.empty());  // <= 16 questions + 32 records of <= 255-byte names fit in 9000 bytes
  auto again = Message::Parse(bytes);
  PL_CHECK(again.ok());
  PL_CHECK(again->header.id == m.header.id && again->header.flags == m.header.flags);
  PL_CHECK(again->questions.size() == m.questions.size());
  PL_CHECK(again->records.size() == m.records.size());
  PL_CHECK(again->skipped_records == 0);
  for (size_t i = 0; i < m.questions.size(); ++i) {
    PL_CHECK(again->questions[i].name.EqualsIgnoreCase(m.questions[i].name));
    PL_CHECK(again->questions[i].type == m.questions[i].type);
    PL_CHECK(again->questions[i].unicast_response == m.questions[i].unicast_response);
  }
  // Records come back grouped by section (stable within a section).
  size_t k = 0;
  for (Section s : {Section::kAnswer, Section::kAuthority, Section::kAdditional}) {
    for (const AddressRecord& rec : m.records) {
      if (rec.section != s) continue;
      const AddressRecord& b = again->records[k++];
      PL_CHECK(b.section == s && b.address == rec.address && b.ttl == rec.ttl && b.cache_flush == rec.cache_flush);
      PL_CHECK(b.name.EqualsIgnoreCase(rec.name));
    }
  }
  return 0;
}
