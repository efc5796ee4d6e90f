// JSEP (RFC 8829) for data-only sessions: the signaling state machine (section 3.2 / 4.1.8 and the
// W3C webrtc-pc rules for rollback), offer and answer generation (sections 5.2 and 5.3, reduced to
// one data m-section) and a check that an answer fits the offer it answers (section 5.10, RFC 8842
// section 5 for a=setup, RFC 8843 section 7.3 for BUNDLE).
//
// Pure functions and a pure state machine: no I/O, no clocks, no exceptions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "src/base/result.h"
#include "src/sdp/session_description.h"

namespace peerlink::sdp {

enum class SignalingState : uint8_t {
  kStable,
  kHaveLocalOffer,
  kHaveRemoteOffer,
  kHaveLocalPranswer,
  kHaveRemotePranswer,
  kClosed,
};
std::string_view ToString(SignalingState s);  // "stable", "have-local-offer", ...

// Tracks the signaling state across SetLocal/SetRemote calls. Each call either moves to the new
// state and returns it, or returns an error and leaves the state unchanged.
//
//   stable              --SetLocal(offer)-->     have-local-offer
//   stable              --SetRemote(offer)-->    have-remote-offer
//   have-local-offer    --SetLocal(offer)-->     have-local-offer      (a newer offer replaces it)
//   have-local-offer    --SetRemote(pranswer)--> have-remote-pranswer
//   have-local-offer    --SetRemote(answer)-->   stable
//   have-remote-offer   --SetRemote(offer)-->    have-remote-offer
//   have-remote-offer   --SetLocal(pranswer)-->  have-local-pranswer
//   have-remote-offer   --SetLocal(answer)-->    stable
//   have-local-pranswer --SetLocal(pranswer)-->  have-local-pranswer
//   have-local-pranswer --SetLocal(answer)-->    stable
//   have-remote-pranswer--SetRemote(pranswer)--> have-remote-pranswer
//   have-remote-pranswer--SetRemote(answer)-->   stable
//   have-local-offer / have-remote-offer --Set*(rollback)--> stable  (either side may roll back)
//   any --Close()--> closed; nothing leaves closed.
class SignalingStateMachine {
 public:
  SignalingState state() const { return state_; }
  Result<SignalingState, SdpError> SetLocal(SdpType type);
  Result<SignalingState, SdpError> SetRemote(SdpType type);
  void Close() { state_ = SignalingState::kClosed; }

 private:
  Result<SignalingState, SdpError> Apply(bool local, SdpType type);
  SignalingState state_ = SignalingState::kStable;
};

// What the local side puts into its offers and answers.
struct LocalParams {
  std::string session_id = "0";                 // decimal digits; draw it from the injected Rng (RFC 8829 5.2.1)
  uint64_t session_version = 0;                 // increment for each new description in the session
  std::string ice_ufrag;                        // 4..256 ice-chars
  std::string ice_pwd;                          // 22..256 ice-chars
  bool ice_trickle = true;                      // a=ice-options:trickle
  std::vector<dtls::Fingerprint> fingerprints;  // at least one
  uint16_t sctp_port = kDefaultSctpPort;        // used in offers; answers mirror the offer's port
  // What we can receive (a=max-message-size); 0 = any size. Written in offers and answers.
  uint64_t max_message_size = 256 * 1024;
  // The role an answer takes when the offer says actpass (RFC 8829 5.3.1 recommends active).
  SetupRole answer_setup = SetupRole::kActive;
  // The role an offer states: actpass for a new association (RFC 8842 section 5.2); a
  // subsequent offer over a running association states the role it has (active for the DTLS
  // client, passive for the server; RFC 8842 section 5.5), so the answer cannot flip it.
  SetupRole offer_setup = SetupRole::kActpass;
  std::vector<ice::Candidate> candidates;  // already gathered; usually empty with trickle
  bool end_of_candidates = false;
};

// An offer with one data m-section (mid "0", setup local.offer_setup, BUNDLE "0"). Fails on
// invalid params (offer_setup holdconn included).
Result<SessionDescription, SdpError> CreateOffer(const LocalParams& local);

// An answer to `offer`: the first data m-section that is not rejected is accepted (its mid, its
// transport form - modern or legacy sctpmap - and its sctp-port are mirrored; setup is
// local.answer_setup for actpass, otherwise the opposite of the offer's role). Every other
// m-section is rejected with port 0 and keeps its mid; only the accepted mid stays in BUNDLE, and
// only if the offer bundled it. Fails when the offer has no usable data section, when its role is
// holdconn, or when it is not an offer.
Result<SessionDescription, SdpError> NegotiateAnswer(const SessionDescription& offer, const LocalParams& local);

// Checks that `answer` (type answer or pranswer) answers `offer`: same number of m-sections with
// the same media and mids in the same order; no section accepted that the offer rejected; data
// transports match; a=setup compatible (actpass -> active|passive, active -> passive, passive ->
// active, never actpass or holdconn in an answer); BUNDLE mids a subset of the offer's group.
Status<SdpError> ValidateAnswer(const SessionDescription& offer, const SessionDescription& answer);

// The DTLS role our side takes once `local` and `remote` (offer and answer, either way round) are
// both applied: true when we are the DTLS client (setup active). Requires validated descriptions.
Result<bool, SdpError> IsDtlsClient(const MediaSection& local, const MediaSection& remote);

}  // namespace peerlink::sdp
