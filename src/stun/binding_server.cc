#include "src/stun/binding_server.h"

#include "src/stun/message.h"

namespace peerlink::stun {

std::optional<std::vector<uint8_t>> BindingServer::HandleDatagram(const SocketAddress& from, ByteView datagram) {
  auto parsed = StunMessage::Parse(datagram);
  if (!parsed) {
    ++stats_.dropped;
    return std::nullopt;
  }
  const StunMessage& msg = *parsed;
  // Section 6.3: a FINGERPRINT that does not match means the message is not STUN.
  if ((msg.HasFingerprint() && !msg.VerifyFingerprint()) || msg.cls() != StunClass::kRequest) {
    ++stats_.dropped;
    return std::nullopt;
  }
  ++stats_.requests;
  if (auto unknown = MaybeUnknownAttributeResponse(msg)) {
    ++stats_.errors_sent;
    return unknown;
  }
  if (msg.method() != Method::kBinding) {
    ++stats_.errors_sent;
    auto b = StunMessageBuilder::ResponseTo(msg, StunClass::kErrorResponse);
    b.AddErrorCode(error::kBadRequest, "Only Binding is served here");
    b.AddFingerprint();
    return std::move(b).Finish();
  }
  ++stats_.responses;
  auto b = StunMessageBuilder::ResponseTo(msg, StunClass::kSuccessResponse);
  b.AddXorAddress(attr::kXorMappedAddress, from);
  if (!software_.empty()) b.AddString(attr::kSoftware, software_);
  b.AddFingerprint();
  return std::move(b).Finish();
}

}  // namespace peerlink::stun
