// STUN credential mechanisms (RFC 8489 section 9) and TURN REST ephemeral
// credentials (draft-uberti-behave-turn-rest, as deployed by coturn's
// use-auth-secret).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "src/stun/message.h"

namespace peerlink::stun {

// Short-term credential key: the password itself (section 9.1.1). OpaqueString
// preparation is the identity for the ASCII ICE passwords used in practice.
std::vector<uint8_t> ShortTermKey(std::string_view password);

// Long-term credential key (section 9.2.2): MD5 or SHA-256 of
// username ":" realm ":" password.
std::vector<uint8_t> LongTermKey(std::string_view username,
                                 std::string_view realm,
                                 std::string_view password,
                                 PasswordAlgorithm alg = PasswordAlgorithm::kMd5);

// USERHASH (section 14.4): SHA-256(username ":" realm).
std::array<uint8_t, 32> Userhash(std::string_view username, std::string_view realm);

struct EphemeralCredentials {
  std::string username;  // "<expiry unix seconds>:<user>"
  std::string password;  // base64(HMAC-SHA1(secret, username))
};
EphemeralCredentials MakeTurnRestCredentials(std::string_view secret, std::string_view user, int64_t expiry_unix);

}  // namespace peerlink::stun
