// Fuzzes the room-password receive path with a fixed key: lib0 sealed-box decoding, AES-GCM
// decryption and lib0 any-decoding. The first input byte picks the mode:
//   even: the rest is a sealed box, decrypted as is (almost always an auth failure, which
//         exercises the lib0 framing);
//   odd:  the rest is a plaintext that is sealed with the fixed key first and then opened, so
//         lib0 `readAny` sees fuzzer-chosen bytes behind a valid tag; a decoded value must
//         re-encode, and re-encoding its decoding must give the same bytes.
// Must never crash, whatever the bytes.
#include <cstddef>
#include <cstdint>

#include "src/base/check.h"
#include "src/base/crypto.h"
#include "src/signaling/lib0_codec.h"
#include "src/signaling/room_crypto.h"

using namespace peerlink;
using namespace peerlink::signaling;

namespace {
const RoomKey& FixedKey() {
  static const RoomKey key([] {
    std::array<uint8_t, kRoomKeyBytes> raw{};
    for (size_t i = 0; i < raw.size(); ++i)
      raw[i] = static_cast<uint8_t>(i * 7 + 1);
    return raw;
  }());
  return key;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  ByteView rest(data + 1, size - 1);
  if ((data[0] & 1) == 0) {
    auto plain = Decrypt(FixedKey(), rest);
    if (plain.ok()) (void)lib0::DecodeAny(*plain);
    (void)DecryptJson(FixedKey(), AsString(rest));
    return 0;
  }
  SeededRng rng(size);
  auto sealed = Encrypt(FixedKey(), rest, rng);
  if (!sealed.ok()) return 0;
  auto opened = Decrypt(FixedKey(), *sealed);
  PL_CHECK(opened.ok());
  PL_CHECK(opened->size() == rest.size());
  auto value = DecryptJson(FixedKey(), crypto::Base64Encode(*sealed));
  if (value.ok()) {
    // One encode normalises number tags (e.g. float64 5.0 -> var-int 5); after that the
    // encoding must be a fixed point.
    auto reencoded = lib0::EncodeAny(*value, kMaxSealedBytes * 2);
    PL_CHECK(reencoded.ok());
    auto again = lib0::DecodeAny(*reencoded);
    PL_CHECK(again.ok());
    auto third = lib0::EncodeAny(*again, kMaxSealedBytes * 2);
    PL_CHECK(third.ok() && *third == *reencoded);
  }
  return 0;
}
