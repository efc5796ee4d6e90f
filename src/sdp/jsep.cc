#include "src/sdp/jsep.h"

#include <algorithm>

namespace peerlink::sdp {

namespace {

Unexpected<SdpError> Error(std::string what) {
  return MakeUnexpected(SdpError{0, "", std::move(what)});
}

}  // namespace

std::string_view ToString(SignalingState s) {
  switch (s) {
    case SignalingState::kStable: return "stable";
    case SignalingState::kHaveLocalOffer: return "have-local-offer";
    case SignalingState::kHaveRemoteOffer: return "have-remote-offer";
    case SignalingState::kHaveLocalPranswer: return "have-local-pranswer";
    case SignalingState::kHaveRemotePranswer: return "have-remote-pranswer";
    case SignalingState::kClosed: return "closed";
  }
  return "?";
}

Result<SignalingState, SdpError> SignalingStateMachine::SetLocal(SdpType type) {
  return Apply(true, type);
}

Result<SignalingState, SdpError> SignalingStateMachine::SetRemote(SdpType type) {
  return Apply(false, type);
}

Result<SignalingState, SdpError> SignalingStateMachine::Apply(bool local, SdpType type) {
  using S = SignalingState;
  std::optional<S> next;
  switch (type) {
    case SdpType::kRollback:
      // webrtc-pc 4.4.1.5: rollback is refused in stable and in the pranswer states.
      if (state_ == S::kHaveLocalOffer || state_ == S::kHaveRemoteOffer) next = S::kStable;
      break;
    case SdpType::kOffer:
      if (local && (state_ == S::kStable || state_ == S::kHaveLocalOffer)) next = S::kHaveLocalOffer;
      if (!local && (state_ == S::kStable || state_ == S::kHaveRemoteOffer)) next = S::kHaveRemoteOffer;
      break;
    case SdpType::kPranswer:
      if (local && (state_ == S::kHaveRemoteOffer || state_ == S::kHaveLocalPranswer)) next = S::kHaveLocalPranswer;
      if (!local && (state_ == S::kHaveLocalOffer || state_ == S::kHaveRemotePranswer)) next = S::kHaveRemotePranswer;
      break;
    case SdpType::kAnswer:
      if (local && (state_ == S::kHaveRemoteOffer || state_ == S::kHaveLocalPranswer)) next = S::kStable;
      if (!local && (state_ == S::kHaveLocalOffer || state_ == S::kHaveRemotePranswer)) next = S::kStable;
      break;
  }
  if (!next) {
    return Error(std::string("cannot set ") + (local ? "local" : "remote") + " " + std::string(ToString(type)) +
                 " in signaling state " + std::string(ToString(state_)));
  }
  state_ = *next;
  return state_;
}

namespace {

Status<SdpError> CheckLocal(const LocalParams& local) {
  if (!IsValidIceUfrag(local.ice_ufrag)) return Error("local ice_ufrag must be 4..256 ice-chars");
  if (!IsValidIcePwd(local.ice_pwd)) return Error("local ice_pwd must be 22..256 ice-chars");
  if (local.fingerprints.empty()) return Error("local fingerprints must not be empty");
  if (local.session_id.empty() || local.session_id.size() > 64 ||
      !std::all_of(local.session_id.begin(), local.session_id.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return Error("local session_id must be 1..64 decimal digits");
  }
  if (local.sctp_port == 0) return Error("local sctp_port must not be 0");
  if (local.answer_setup != SetupRole::kActive && local.answer_setup != SetupRole::kPassive) {
    return Error("local answer_setup must be active or passive");
  }
  return {};
}

void FillTransport(MediaSection& m, const LocalParams& local) {
  m.connection = "IN IP4 0.0.0.0";
  m.ice_ufrag = local.ice_ufrag;
  m.ice_pwd = local.ice_pwd;
  m.ice_options.clear();
  if (local.ice_trickle) m.ice_options.push_back("trickle");
  m.fingerprints = local.fingerprints;
  m.max_message_size = local.max_message_size;
  m.candidates = local.candidates;
  m.end_of_candidates = local.end_of_candidates;
}

SessionDescription BaseDescription(const LocalParams& local, SdpType type) {
  SessionDescription d;
  d.type = type;
  d.origin_username = "-";
  d.session_id = local.session_id;
  d.session_version = local.session_version;
  d.origin_address = "IN IP4 127.0.0.1";
  return d;
}

}  // namespace

Result<SessionDescription, SdpError> CreateOffer(const LocalParams& local) {
  if (auto st = CheckLocal(local); !st) return MakeUnexpected(st.error());
  SessionDescription d = BaseDescription(local, SdpType::kOffer);
  MediaSection m;
  m.is_data = true;
  m.media = "application";
  m.port = 9;  // RFC 8829 section 5.2.1: the discard port until a candidate is chosen
  m.transport = DataTransport::kUdpDtlsSctp;
  m.mid = "0";
  FillTransport(m, local);
  if (local.offer_setup == SetupRole::kHoldconn) return Error("an offer's a=setup cannot be holdconn");
  m.setup = local.offer_setup;
  m.sctp_port = local.sctp_port;
  d.bundle_mids = {m.mid};
  d.media.push_back(std::move(m));
  return d;
}

Result<SessionDescription, SdpError> NegotiateAnswer(const SessionDescription& offer, const LocalParams& local) {
  if (offer.type != SdpType::kOffer)
    return Error("NegotiateAnswer needs an offer, got " + std::string(ToString(offer.type)));
  if (auto st = CheckLocal(local); !st) return MakeUnexpected(st.error());
  // The first usable data section we can run: UDP only (no ICE-TCP).
  size_t accepted = offer.media.size();
  for (size_t i = 0; i < offer.media.size(); ++i) {
    const auto& m = offer.media[i];
    if (m.is_data && !m.rejected() && m.transport != DataTransport::kTcpDtlsSctp) {
      accepted = i;
      break;
    }
  }
  if (accepted == offer.media.size())
    return Error("offer has no data m-section (UDP/DTLS/SCTP or DTLS/SCTP) to accept");
  const MediaSection& om = offer.media[accepted];
  SetupRole role = local.answer_setup;
  switch (om.setup.value_or(SetupRole::kActpass)) {
    case SetupRole::kActpass: break;
    case SetupRole::kActive: role = SetupRole::kPassive; break;
    case SetupRole::kPassive: role = SetupRole::kActive; break;
    case SetupRole::kHoldconn: return Error("offer's data section has a=setup:holdconn; cannot answer it");
  }

  SessionDescription d = BaseDescription(local, SdpType::kAnswer);
  for (size_t i = 0; i < offer.media.size(); ++i) {
    const auto& o = offer.media[i];
    MediaSection a;
    a.is_data = o.is_data;
    a.media = o.media;
    a.protocol = o.protocol;
    a.formats = o.formats;
    a.transport = o.transport;
    a.mid = o.mid;
    a.connection = "IN IP4 0.0.0.0";
    if (i != accepted) {
      // RFC 8829 section 5.3.1: a rejected m-section has port 0 and keeps its m-line and mid.
      a.port = 0;
      if (a.is_data && a.transport == DataTransport::kLegacy) a.sctp_port = o.sctp_port;  // the m-line format
      d.media.push_back(std::move(a));
      continue;
    }
    a.port = 9;
    FillTransport(a, local);
    a.setup = role;
    a.sctp_port = o.sctp_port.value_or(local.sctp_port);
    if (a.transport == DataTransport::kLegacy) a.sctpmap_streams = o.sctpmap_streams;
    d.media.push_back(std::move(a));
  }
  if (std::find(offer.bundle_mids.begin(), offer.bundle_mids.end(), om.mid) != offer.bundle_mids.end() &&
      !om.mid.empty()) {
    d.bundle_mids = {om.mid};
  }
  return d;
}

Status<SdpError> ValidateAnswer(const SessionDescription& offer, const SessionDescription& answer) {
  if (offer.type != SdpType::kOffer) return Error("the description answered must be an offer");
  if (answer.type != SdpType::kAnswer && answer.type != SdpType::kPranswer) {
    return Error("an answer must have type answer or pranswer, not " + std::string(ToString(answer.type)));
  }
  if (answer.media.size() != offer.media.size()) {
    return Error("answer has " + std::to_string(answer.media.size()) + " m-sections, the offer " +
                 std::to_string(offer.media.size()) + " (RFC 8829 section 5.3.1)");
  }
  for (size_t i = 0; i < offer.media.size(); ++i) {
    const auto& o = offer.media[i];
    const auto& a = answer.media[i];
    const std::string where = "m-section " + std::to_string(i) + " (mid '" + o.mid + "')";
    if (a.mid != o.mid) return Error(where + ": answer has mid '" + a.mid + "'");
    if (a.media != o.media || a.is_data != o.is_data) return Error(where + ": answer changes the media type");
    if (a.rejected()) continue;
    if (o.rejected()) return Error(where + ": answer accepts a section the offer rejected");
    if (!a.is_data) continue;  // accepted audio/video is outside this stack's model; nothing to check
    if (a.transport != o.transport) return Error(where + ": answer changes the data transport");
    if (!a.setup || !o.setup) return Error(where + ": a=setup missing");
    switch (*a.setup) {
      case SetupRole::kActpass: return Error(where + ": a=setup:actpass is not allowed in an answer (RFC 8842 5.3)");
      case SetupRole::kHoldconn: return Error(where + ": a=setup:holdconn in an answer is not supported");
      case SetupRole::kActive:
        if (*o.setup != SetupRole::kActpass && *o.setup != SetupRole::kPassive) {
          return Error(where + ": answer setup active needs an offer of actpass or passive");
        }
        break;
      case SetupRole::kPassive:
        if (*o.setup != SetupRole::kActpass && *o.setup != SetupRole::kActive) {
          return Error(where + ": answer setup passive needs an offer of actpass or active");
        }
        break;
    }
  }
  for (const auto& mid : answer.bundle_mids) {
    if (std::find(offer.bundle_mids.begin(), offer.bundle_mids.end(), mid) == offer.bundle_mids.end()) {
      return Error("answer bundles mid '" + mid + "' which the offer did not bundle (RFC 8843 section 7.3)");
    }
    const MediaSection* m = answer.FindMid(mid);
    if (m && m->rejected()) return Error("answer bundles mid '" + mid + "' which it rejects");
  }
  return {};
}

Result<bool, SdpError> IsDtlsClient(const MediaSection& local, const MediaSection& remote) {
  if (!local.setup || !remote.setup) return Error("a=setup missing");
  const SetupRole l = *local.setup;
  const SetupRole r = *remote.setup;
  if (l == SetupRole::kActive && (r == SetupRole::kPassive || r == SetupRole::kActpass)) return true;
  if (l == SetupRole::kPassive && (r == SetupRole::kActive || r == SetupRole::kActpass)) return false;
  if (l == SetupRole::kActpass && r == SetupRole::kActive) return false;
  if (l == SetupRole::kActpass && r == SetupRole::kPassive) return true;
  return Error("incompatible a=setup: local " + std::string(ToString(l)) + ", remote " + std::string(ToString(r)));
}

}  // namespace peerlink::sdp
