// turn::Client procedures for the allocation itself: the long-term credential
// exchange (RFC 8489 section 9.2), Allocate (RFC 8656 section 7), Refresh and
// deallocation (section 8), and request timeouts.
#include <algorithm>
#include <string>

#include "src/stun/credentials.h"
#include "src/turn/client_impl.h"

namespace peerlink::turn {
namespace {

constexpr std::string_view MethodName(RequestKind k) {
  switch (k) {
    case RequestKind::kAllocate: return "Allocate";
    case RequestKind::kRefresh: return "Refresh";
    case RequestKind::kCreatePermission: return "CreatePermission";
    case RequestKind::kChannelBind: return "ChannelBind";
  }
  return "?";
}

constexpr stun::Method MethodOf(RequestKind k) {
  switch (k) {
    case RequestKind::kAllocate: return stun::Method::kAllocate;
    case RequestKind::kRefresh: return stun::Method::kRefresh;
    case RequestKind::kCreatePermission: return stun::Method::kCreatePermission;
    case RequestKind::kChannelBind: return stun::Method::kChannelBind;
  }
  return stun::Method::kBinding;
}

// Refresh at the earlier of 3/4 of the lifetime and 60 s before expiry; for
// very short lifetimes (where 60 s before would be almost now) at half.
Duration RefreshDelay(Duration lifetime) {
  Duration d = std::min(lifetime * 3 / 4, lifetime - Duration::Seconds(60));
  if (d < lifetime / 4) d = lifetime / 2;
  return d;
}

}  // namespace

bool Client::Impl::TakeChallenge(const stun::StunMessage& msg, std::string* why) {
  auto realm = msg.GetString(stun::attr::kRealm);
  auto nonce = msg.GetString(stun::attr::kNonce);
  if (!realm || !nonce) {
    *why = "a 401 without REALM and NONCE";
    return false;
  }
  Credentials c;
  c.realm = std::string(*realm);
  c.nonce = std::string(*nonce);
  if (const stun::RawAttribute* a = msg.Find(stun::attr::kPasswordAlgorithms)) {
    // RFC 8489 section 9.2.4: echo PASSWORD-ALGORITHMS and name the algorithm
    // used. MD5 is preferred when offered because deployed servers (coturn)
    // only implement MD5 keys; SHA-256 is used when it is the only choice.
    const auto algs = msg.GetPasswordAlgorithms();
    const bool md5 = std::find(algs.begin(), algs.end(), stun::PasswordAlgorithm::kMd5) != algs.end();
    const bool sha256 = std::find(algs.begin(), algs.end(), stun::PasswordAlgorithm::kSha256) != algs.end();
    if (!md5 && !sha256) {
      *why = "a 401 offering no supported PASSWORD-ALGORITHM (need MD5 or SHA-256)";
      return false;
    }
    c.algorithm = md5 ? stun::PasswordAlgorithm::kMd5 : stun::PasswordAlgorithm::kSha256;
    c.password_algorithms = std::vector<uint8_t>(a->value.begin(), a->value.end());
  }
  c.key = stun::LongTermKey(options.username, c.realm, options.password, c.algorithm);
  credentials = std::move(c);
  return true;
}

void Client::Impl::SendRefresh(Instant now, uint32_t lifetime_s) {
  PendingRequest p;
  p.kind = RequestKind::kRefresh;
  p.lifetime_s = lifetime_s;
  StartRequest(now, std::move(p));
}

void Client::Impl::HandleResponse(Instant now, const stun::StunMessage& msg) {
  auto it = std::find_if(pending.begin(), pending.end(),
                         [&](const PendingRequest& p) { return p.txn->transaction_id() == msg.transaction_id(); });
  if (it == pending.end()) {
    ++stats.stray_responses;
    return;
  }
  if (msg.method() != MethodOf(it->kind)) {
    ++stats.dropped_from_server;
    return;
  }
  // RFC 8489 section 9.2.5: success responses must carry a valid integrity
  // attribute; error responses are checked when they carry one, and an
  // unauthenticated 400 to an authenticated request is ignored. Dropping
  // leaves the transaction running, so retransmissions continue.
  const bool has_integrity = msg.HasMessageIntegrity() || msg.HasMessageIntegritySha256();
  bool authentic = false;
  if (has_integrity && credentials) {
    authentic = msg.HasMessageIntegrity() ? msg.VerifyMessageIntegrity(credentials->key)
                                          : msg.VerifyMessageIntegritySha256(credentials->key);
  }
  std::optional<stun::ErrorCode> ec;
  if (msg.cls() == stun::StunClass::kSuccessResponse) {
    if (!authentic) {
      ++stats.dropped_from_server;
      return;
    }
  } else {
    ec = msg.GetErrorCode();
    if (!ec || (has_integrity && credentials && !authentic) ||
        (!has_integrity && it->authenticated && ec->code == stun::error::kBadRequest)) {
      ++stats.dropped_from_server;
      return;
    }
  }

  PendingRequest req = std::move(*it);
  pending.erase(it);
  req.txn->Complete();

  if (!ec) {
    switch (req.kind) {
      case RequestKind::kAllocate: OnAllocateSuccess(now, msg); break;
      case RequestKind::kRefresh: OnRefreshSuccess(now, req, msg); break;
      case RequestKind::kCreatePermission: OnPermissionResult(now, req, true); break;
      case RequestKind::kChannelBind: OnChannelResult(now, req, true); break;
    }
    return;
  }

  const uint16_t code = ec->code;
  if (code == stun::error::kStaleNonce) {
    // Section 9.2.5: a 438 carries a fresh NONCE; retry with it (bounded).
    auto nonce = msg.GetString(stun::attr::kNonce);
    if (nonce && credentials && req.nonce_retries < kMaxNonceRetries) {
      credentials->nonce = std::string(*nonce);
      auto realm = msg.GetString(stun::attr::kRealm);
      if (realm && *realm != credentials->realm) {
        credentials->realm = std::string(*realm);
        credentials->key =
            stun::LongTermKey(options.username, credentials->realm, options.password, credentials->algorithm);
      }
      ++req.nonce_retries;
      StartRequest(now, std::move(req));
      return;
    }
  }
  if (code == stun::error::kUnauthorized && !req.authenticated && req.kind == RequestKind::kAllocate) {
    // The expected challenge to the first, unauthenticated Allocate.
    std::string why;
    if (TakeChallenge(msg, &why)) {
      StartRequest(now, std::move(req));
    } else {
      Fail(code, ServerName() + " sent " + why);
    }
    return;
  }

  std::string what = ServerName() + " rejected " + std::string(MethodName(req.kind)) + ": " + std::to_string(code) +
                     " " + std::string(ec->reason.empty() ? stun::DefaultReason(code) : ec->reason);
  if (code == stun::error::kUnauthorized) what += " (check the username and password for '" + options.username + "')";
  if (code == stun::error::kStaleNonce) what += " (gave up after repeated stale nonces)";
  if (code == stun::error::kTryAlternate) {
    if (auto alt = msg.GetPlainAddress(stun::attr::kAlternateServer)) what += " (alternate: " + alt->ToString() + ")";
  }
  switch (req.kind) {
    case RequestKind::kAllocate: Fail(code, std::move(what)); break;
    case RequestKind::kRefresh:
      // Deallocation: any answer (437 means the allocation is already gone) ends it.
      if (req.lifetime_s == 0)
        FinishClose();
      else
        Fail(code, std::move(what));
      break;
    case RequestKind::kCreatePermission:
    case RequestKind::kChannelBind:
      // RFC 8656 section 7 (437 Allocation Mismatch): the server no longer has
      // our allocation, so nothing relayed will work any more; say so instead
      // of carrying on with a dead relayed address.
      if (code == stun::error::kAllocationMismatch) {
        Fail(code, what + " (the allocation is gone)");
      } else if (req.kind == RequestKind::kCreatePermission) {
        OnPermissionResult(now, req, false);
      } else {
        OnChannelResult(now, req, false);
      }
      break;
  }
}

void Client::Impl::OnAllocateSuccess(Instant now, const stun::StunMessage& msg) {
  auto relay = msg.GetXorAddress(stun::attr::kXorRelayedAddress);
  auto life = msg.GetU32(stun::attr::kLifetime);
  if (!relay || !life) {
    Fail(0, ServerName() + " sent an Allocate success without XOR-RELAYED-ADDRESS or LIFETIME");
    return;
  }
  relayed = *relay;
  mapped = msg.GetXorAddress(stun::attr::kXorMappedAddress);
  lifetime = Duration::Seconds(*life);
  state = State::kAllocated;
  refresh_at = now + RefreshDelay(lifetime);
  expires_at = now + lifetime;
  Emit(AllocatedEvent{*relayed, mapped.value_or(SocketAddress()), lifetime});
}

void Client::Impl::OnRefreshSuccess(Instant now, const PendingRequest& p, const stun::StunMessage& msg) {
  if (p.lifetime_s == 0) {
    FinishClose();
    return;
  }
  if (state != State::kAllocated) return;
  if (auto life = msg.GetU32(stun::attr::kLifetime)) lifetime = Duration::Seconds(*life);
  refresh_at = now + RefreshDelay(lifetime);
  expires_at = now + lifetime;
}

void Client::Impl::CheckAllocationTimers(Instant now) {
  if (now >= expires_at) {
    Fail(0, ServerName() + ": allocation expired before a Refresh succeeded");
    return;
  }
  if (refresh_at && now >= *refresh_at) {
    const bool refreshing = std::any_of(pending.begin(), pending.end(),
                                        [](const PendingRequest& p) { return p.kind == RequestKind::kRefresh; });
    refresh_at.reset();
    if (!refreshing) SendRefresh(now, static_cast<uint32_t>(options.requested_lifetime.millis() / 1000));
  }
}

void Client::Impl::OnTimeout(Instant /*now*/, const PendingRequest& p) {
  if (state == State::kClosing) {
    FinishClose();
    return;
  }
  Fail(0, ServerName() + " did not answer " + std::string(MethodName(p.kind)) + " over " +
              std::string(ToString(options.transport)));
}

}  // namespace peerlink::turn
