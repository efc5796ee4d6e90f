#include "src/stun/credentials.h"

#include "src/base/crypto.h"

namespace peerlink::stun {

std::vector<uint8_t> ShortTermKey(std::string_view password) {
  auto b = AsBytes(password);
  return {b.begin(), b.end()};
}

std::vector<uint8_t> LongTermKey(std::string_view username,
                                 std::string_view realm,
                                 std::string_view password,
                                 PasswordAlgorithm alg) {
  std::string input;
  input.reserve(username.size() + realm.size() + password.size() + 2);
  input.append(username).append(":").append(realm).append(":").append(password);
  if (alg == PasswordAlgorithm::kSha256) {
    auto d = crypto::Sha256(AsBytes(input));
    return {d.begin(), d.end()};
  }
  auto d = crypto::Md5(AsBytes(input));
  return {d.begin(), d.end()};
}

std::array<uint8_t, 32> Userhash(std::string_view username, std::string_view realm) {
  std::string input;
  input.append(username).append(":").append(realm);
  return crypto::Sha256(AsBytes(input));
}

EphemeralCredentials MakeTurnRestCredentials(std::string_view secret, std::string_view user, int64_t expiry_unix) {
  EphemeralCredentials c;
  c.username = std::to_string(expiry_unix);
  if (!user.empty()) c.username.append(":").append(user);
  c.password = crypto::Base64Encode(crypto::HmacSha1(AsBytes(secret), AsBytes(c.username)));
  return c;
}

}  // namespace peerlink::stun
