// Consent freshness (RFC 7675) on the selected pair and, during an ICE
// restart, on the previous generation's pair.
#include "src/ice/agent_internal.h"

namespace peerlink::ice {

void Agent::Impl::ScheduleConsent(Instant now, Pair& p) {
  // Section 5.1: randomize each interval to 0.8..1.2 of the nominal one.
  const double factor = 0.8 + 0.4 * rng.Unit();
  const auto ns = static_cast<int64_t>(static_cast<double>(config.consent_interval.nanos()) * factor);
  p.next_consent = now + Duration::Nanos(ns);
}

void Agent::Impl::ConsentTimers(Instant now) {
  if (closed || state == State::kFailed) return;
  if (selected && remote_creds) {
    Pair* p = FindPair(*selected);
    if (p && p->next_consent && now >= *p->next_consent) {
      SendCheck(now, *p, /*use_candidate=*/false, /*consent=*/true);
      ScheduleConsent(now, *p);
    }
    if (p && p->last_consent && now - *p->last_consent >= config.consent_timeout && state != State::kFailed) {
      // Section 5.1: consent expired; stop sending on this pair.
      SetState(now, State::kFailed,
               "consent expired: no authenticated response for " + (now - *p->last_consent).ToString());
    }
  }
  if (previous && previous->pair.next_consent && now >= *previous->pair.next_consent) {
    SendCheck(now, previous->pair, false, true, /*previous_gen=*/true);
    ScheduleConsent(now, previous->pair);
  }
}

}  // namespace peerlink::ice
