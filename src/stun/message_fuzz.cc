// Fuzzes the STUN parser: parse, then every accessor and integrity check, then
// parse -> rebuild -> parse must agree on method, class, id and attributes.
#include <cstddef>
#include <cstdint>

#include "src/base/check.h"
#include "src/stun/message.h"

using namespace peerlink;
using namespace peerlink::stun;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed = StunMessage::Parse(ByteView(data, size));
  if (!parsed) return 0;
  const StunMessage& m = *parsed;
  (void)m.GetXorAddress(attr::kXorMappedAddress);
  (void)m.GetXorAddress(attr::kXorPeerAddress);
  (void)m.GetMappedAddress();
  (void)m.GetErrorCode();
  (void)m.GetUnknownAttributes();
  (void)m.GetPasswordAlgorithms();
  (void)m.GetChannelNumber();
  (void)m.GetRequestedTransport();
  (void)m.GetU64(attr::kIceControlling);
  (void)m.VerifyFingerprint();
  const uint8_t key[] = {'k', 'e', 'y'};
  (void)m.VerifyMessageIntegrity(key);
  (void)m.VerifyMessageIntegritySha256(key);
  (void)m.ToString();
  (void)MaybeUnknownAttributeResponse(m);

  // Round trip: rebuild from the raw attributes and parse again.
  StunMessageBuilder b(m.method(), m.cls(), m.transaction_id());
  for (const auto& a : m.attributes())
    b.AddBytes(a.type, a.value);
  auto rebuilt = std::move(b).Finish();
  auto again = StunMessage::Parse(rebuilt);
  PL_CHECK(again.ok());
  PL_CHECK(again->raw_method() == m.raw_method());
  PL_CHECK(again->cls() == m.cls());
  PL_CHECK(again->transaction_id() == m.transaction_id());
  PL_CHECK(again->attributes().size() == m.attributes().size());
  for (size_t i = 0; i < m.attributes().size(); ++i) {
    PL_CHECK(again->attributes()[i].type == m.attributes()[i].type);
    PL_CHECK(again->attributes()[i].value.size() == m.attributes()[i].value.size());
  }
  return 0;
}
