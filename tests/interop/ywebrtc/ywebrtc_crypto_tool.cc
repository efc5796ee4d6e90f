// Test tool for the y-webrtc room-password interop test (ywebrtc_crypto_interop.mjs): our side
// of the exchange, one operation per run, stdin -> stdout.
//
//   ywebrtc_crypto_tool derive ROOM PASSWORD        prints the derived AES key as hex
//   ywebrtc_crypto_tool open-publish ROOM PASSWORD  stdin: a y-webrtc publish message (JSON text)
//                                                   with encrypted data; prints the inner message
//   ywebrtc_crypto_tool seal-publish ROOM PASSWORD  stdin: an inner message (JSON text); prints
//                                                   the publish message y-webrtc would send
// Exit codes: 0 ok, 1 usage / bad input, 2 decryption failed (wrong password or tampered).
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include "src/base/crypto.h"
#include "src/base/rng.h"
#include "src/signaling/room_crypto.h"
#include "src/signaling/ywebrtc_messages.h"

using namespace peerlink;
using namespace peerlink::signaling;

namespace {

int Fail(int code, std::string_view what) {
  std::cerr << "ywebrtc_crypto_tool: " << what << "\n";
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) return Fail(1, "usage: ywebrtc_crypto_tool derive|open-publish|seal-publish ROOM PASSWORD");
  const std::string op = argv[1];
  const std::string room = argv[2];
  const std::string password = argv[3];
  RoomKey key = DeriveRoomKey(room, password);
  if (op == "derive") {
    std::cout << crypto::HexEncode(key.raw()) << "\n";
    return 0;
  }
  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (op == "open-publish") {
    auto publish = ywebrtc::ParsePublishMessage(input);
    if (!publish.ok()) return Fail(1, std::string("bad publish message, field: ") + publish.error().what);
    if (publish->topic != room) return Fail(1, "publish topic is not the room");
    if (!publish->encrypted()) return Fail(1, "publish data is not encrypted");
    auto inner_json = DecryptJson(key, std::get<std::string>(publish->data));
    if (!inner_json.ok())
      return Fail(inner_json.error() == RoomCryptoError::kAuthFailed ? 2 : 1, ToString(inner_json.error()));
    auto inner = ywebrtc::ParseInnerMessage(*inner_json);
    if (!inner.ok()) return Fail(1, std::string("bad inner message, field: ") + inner.error().what);
    std::cout << ywebrtc::ToJson(*inner).dump() << "\n";
    return 0;
  }
  if (op == "seal-publish") {
    auto inner_json = ywebrtc::ParseJson(input);
    if (!inner_json.ok()) return Fail(1, "stdin is not JSON");
    auto inner = ywebrtc::ParseInnerMessage(*inner_json);
    if (!inner.ok()) return Fail(1, std::string("bad inner message, field: ") + inner.error().what);
    CryptoRng rng;
    auto sealed = EncryptJson(key, ywebrtc::ToJson(*inner), rng);
    if (!sealed.ok()) return Fail(1, ToString(sealed.error()));
    ywebrtc::PublishMessage publish{room, std::move(sealed).value()};
    std::cout << ywebrtc::ToJson(publish).dump() << "\n";
    return 0;
  }
  return Fail(1, "unknown operation " + op);
}
