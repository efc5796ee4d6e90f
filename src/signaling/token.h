// Room tokens: HMAC-SHA256-signed, expiring capabilities to subscribe and
// publish to a fixed list of rooms (topics) on a `peerlink signal` server.
//
// Wire form (URL- and HTTP-token-safe, no padding):
//   v1.<base64url(payload)>.<base64url(HMAC-SHA256(secret, "v1." + base64url(payload)))>
// payload = JSON {"exp": <unix seconds>, "rooms": ["room", ...]}.
//
// Minting and checking are pure functions: wall-clock time is an argument.
// The runtime checks a token once, at the WebSocket upgrade, and hands the
// ServerCore a TokenInfo whose expiry is already mapped onto the monotonic
// clock, so the core can refuse subscribes after expiry without a wall clock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/base/result.h"
#include "src/base/time.h"

namespace peerlink::signaling {

struct TokenClaims {
  std::vector<std::string> rooms;
  int64_t expires_unix = 0;  // seconds since the Unix epoch
};

enum class TokenError { kMalformed, kBadSignature, kExpired };
std::string_view ToString(TokenError e);

// `secret` must be non-empty; `rooms` non-empty.
std::string MintToken(std::string_view secret, const std::vector<std::string>& rooms, int64_t expires_unix);

// Verifies the signature (constant-time compare) and the expiry against `unix_now`.
Result<TokenClaims, TokenError> VerifyToken(std::string_view secret, std::string_view token, int64_t unix_now);

// What the core learns about a connection's credentials.
struct TokenInfo {
  enum class Status { kAbsent, kValid, kRejected };
  Status status = Status::kAbsent;
  std::vector<std::string> rooms;    // kValid only
  Instant expires = Instant::Max();  // kValid only; monotonic
  std::string error;                 // kRejected: why, for the close reason

  bool Covers(std::string_view room) const;
};

// Builds the TokenInfo for a connection: `token` is what the client presented
// (nullopt if nothing). `unix_now` and `now` are the same moment on the wall
// and monotonic clocks.
TokenInfo InspectToken(std::string_view secret, std::optional<std::string_view> token, int64_t unix_now, Instant now);

// base64url without padding (RFC 4648 section 5).
std::string Base64UrlEncode(std::string_view data);
std::optional<std::string> Base64UrlDecode(std::string_view text);

}  // namespace peerlink::signaling
