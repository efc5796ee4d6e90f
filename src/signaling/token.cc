#include "src/signaling/token.h"

#include <nlohmann/json.hpp>

#include "src/base/byte_io.h"
#include "src/base/crypto.h"

namespace peerlink::signaling {

namespace {

constexpr std::string_view kPrefix = "v1.";

std::string Sign(std::string_view secret, std::string_view signed_part) {
  const auto mac = crypto::HmacSha256(AsBytes(secret), AsBytes(signed_part));
  return Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
}

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

std::string_view ToString(TokenError e) {
  switch (e) {
    case TokenError::kMalformed: return "malformed token";
    case TokenError::kBadSignature: return "token signature invalid";
    case TokenError::kExpired: return "token expired";
  }
  return "token error";
}

std::string Base64UrlEncode(std::string_view data) {
  std::string s = crypto::Base64Encode(AsBytes(data));
  while (!s.empty() && s.back() == '=')
    s.pop_back();
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return s;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  std::string s;
  s.reserve(text.size() + 3);
  for (char c : text) {
    if (c == '+' || c == '/' || c == '=') return std::nullopt;  // not the URL alphabet
    s.push_back(c == '-' ? '+' : c == '_' ? '/' : c);
  }
  if (s.size() % 4 == 1) return std::nullopt;
  while (s.size() % 4 != 0)
    s.push_back('=');
  auto bytes = crypto::Base64Decode(s);
  if (!bytes) return std::nullopt;
  return std::string(bytes->begin(), bytes->end());
}

std::string MintToken(std::string_view secret, const std::vector<std::string>& rooms, int64_t expires_unix) {
  nlohmann::json payload = {{"exp", expires_unix}, {"rooms", rooms}};
  std::string signed_part =
      std::string(kPrefix) + Base64UrlEncode(payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return signed_part + "." + Sign(secret, signed_part);
}

Result<TokenClaims, TokenError> VerifyToken(std::string_view secret, std::string_view token, int64_t unix_now) {
  if (token.size() > 8192 || token.substr(0, kPrefix.size()) != kPrefix) return MakeUnexpected(TokenError::kMalformed);
  const size_t dot = token.rfind('.');
  if (dot == std::string_view::npos || dot < kPrefix.size()) return MakeUnexpected(TokenError::kMalformed);
  const std::string_view signed_part = token.substr(0, dot);
  const std::string_view mac = token.substr(dot + 1);
  // The signature is checked before the payload is parsed: forged input never reaches the JSON parser.
  if (!ConstantTimeEqual(Sign(secret, signed_part), mac)) return MakeUnexpected(TokenError::kBadSignature);
  auto payload_text = Base64UrlDecode(signed_part.substr(kPrefix.size()));
  if (!payload_text) return MakeUnexpected(TokenError::kMalformed);
  const auto payload = nlohmann::json::parse(*payload_text, nullptr, false);
  if (payload.is_discarded() || !payload.is_object()) return MakeUnexpected(TokenError::kMalformed);
  const auto exp = payload.find("exp");
  const auto rooms = payload.find("rooms");
  if (exp == payload.end() || !exp->is_number_integer() || rooms == payload.end() || !rooms->is_array()) {
    return MakeUnexpected(TokenError::kMalformed);
  }
  TokenClaims claims;
  claims.expires_unix = exp->get<int64_t>();
  for (const auto& r : *rooms) {
    if (!r.is_string()) return MakeUnexpected(TokenError::kMalformed);
    claims.rooms.push_back(r.get<std::string>());
  }
  if (claims.expires_unix <= unix_now) return MakeUnexpected(TokenError::kExpired);
  return claims;
}

bool TokenInfo::Covers(std::string_view room) const {
  if (status != Status::kValid) return false;
  for (const auto& r : rooms) {
    if (r == room) return true;
  }
  return false;
}

TokenInfo InspectToken(std::string_view secret, std::optional<std::string_view> token, int64_t unix_now, Instant now) {
  TokenInfo info;
  if (!token || token->empty()) return info;
  if (secret.empty()) {
    // A server without a secret accepts everyone; a presented token grants nothing extra.
    return info;
  }
  auto claims = VerifyToken(secret, *token, unix_now);
  if (!claims) {
    info.status = TokenInfo::Status::kRejected;
    info.error = std::string(ToString(claims.error()));
    return info;
  }
  info.status = TokenInfo::Status::kValid;
  info.rooms = std::move(claims->rooms);
  info.expires = now + Duration::Seconds(claims->expires_unix - unix_now);
  return info;
}

}  // namespace peerlink::signaling
