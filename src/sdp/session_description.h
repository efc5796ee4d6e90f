// Session descriptions for data-only WebRTC sessions: the model, a tolerant parser and a minimal
// generator (RFC 8866 syntax, RFC 8829 JSEP rules, RFC 8841 SCTP-over-DTLS media, RFC 8839 ICE
// attributes, RFC 8122 fingerprints, RFC 4145/8842 a=setup, RFC 8843 BUNDLE).
//
// The model keeps only what a data-channel peer acts on. Audio/video (and any other) m-sections are
// kept with their m-line and mid so that an answer can reject them with port 0; their codecs and
// other attributes are dropped. Unknown lines and attributes are ignored.
//
// Everything here is plain data and pure functions: no I/O, no exceptions, no global state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/base/result.h"
#include "src/dtls/fingerprint.h"
#include "src/ice/candidate.h"

namespace peerlink::sdp {

// Bounds the parser enforces against a hostile peer (see docs/sdp.md).
inline constexpr size_t kMaxSdpBytes = 64 * 1024;
inline constexpr size_t kMaxSdpLines = 2000;
inline constexpr size_t kMaxMediaSections = 64;
inline constexpr size_t kMaxCandidates = 1000;  // a=candidate lines in the whole description
// RFC 8841 section 6: a peer that sends no a=max-message-size can receive 64 KiB.
inline constexpr uint64_t kDefaultMaxMessageSize = 64 * 1024;
// The SCTP port every browser uses; RFC 8841 section 5 does not fix a default.
inline constexpr uint16_t kDefaultSctpPort = 5000;

// Every failure of this layer. `line` is 1-based; 0 when the error is not tied to one line (a
// signaling-state or offer/answer mismatch). `line_text` is the offending line (truncated to 200
// bytes). Render with ToString(): "SDP line 7 'a=setup:sideways': a=setup must be ...".
struct SdpError {
  size_t line = 0;
  std::string line_text;
  std::string what;
  std::string ToString() const;
};

// The JSEP description type (RFC 8829 section 4.1.8). It travels beside the SDP, not inside it.
enum class SdpType : uint8_t { kOffer, kPranswer, kAnswer, kRollback };
std::string_view ToString(SdpType t);  // "offer", "pranswer", "answer", "rollback"
std::optional<SdpType> SdpTypeFromString(std::string_view s);

// a=setup (RFC 4145 section 4, RFC 8842 section 5).
enum class SetupRole : uint8_t { kActpass, kActive, kPassive, kHoldconn };
std::string_view ToString(SetupRole r);
std::optional<SetupRole> SetupRoleFromString(std::string_view s);

// How a data m-section is written (RFC 8841 section 4 and its draft-05 predecessor).
enum class DataTransport : uint8_t {
  kUdpDtlsSctp,  // m=application <port> UDP/DTLS/SCTP webrtc-datachannel + a=sctp-port
  kTcpDtlsSctp,  // m=application <port> TCP/DTLS/SCTP webrtc-datachannel + a=sctp-port
  kLegacy,       // m=application <port> DTLS/SCTP <sctp-port> + a=sctpmap:<sctp-port> webrtc-datachannel <n>
};

struct MediaSection {
  // True for an m=application section carrying SCTP data channels; false for audio/video/other
  // sections, which this stack only ever rejects.
  bool is_data = false;
  // m-line fields. For data sections `protocol`/`formats` are derived from `transport` and
  // `sctp_port` by the generator; for other sections they are kept verbatim.
  std::string media;                 // "application", "audio", "video", ...
  uint16_t port = 9;                 // 0 = rejected (or bundle-only, see `bundle_only`)
  std::string protocol;              // non-data sections only: e.g. "UDP/TLS/RTP/SAVPF"
  std::vector<std::string> formats;  // non-data sections only: payload types
  DataTransport transport = DataTransport::kUdpDtlsSctp;

  std::string connection = "IN IP4 0.0.0.0";  // c= value (media level, else session level)
  std::string mid;                            // empty when the section has no a=mid
  bool bundle_only = false;                   // a=bundle-only (RFC 8843 section 6)

  // Transport attributes. After parsing, values absent at media level are inherited from the
  // session level and then from the BUNDLE-tagged section of the section's bundle group.
  std::string ice_ufrag;
  std::string ice_pwd;
  std::vector<std::string> ice_options;  // e.g. {"trickle"}
  std::vector<dtls::Fingerprint> fingerprints;
  std::optional<SetupRole> setup;

  std::vector<ice::Candidate> candidates;
  // Candidates whose address is an mDNS name (RFC 8839 / draft-ietf-mmusic-mdns-ice-candidates),
  // as the full "candidate:..." value, for the mdns layer to resolve.
  std::vector<std::string> mdns_candidates;
  bool end_of_candidates = false;

  // SCTP (RFC 8841). For kLegacy, sctp_port is the m-line format and sctpmap_streams the third
  // sctpmap field. max_message_size: absent means 64 KiB (kDefaultMaxMessageSize); 0 means the
  // peer accepts messages of any size.
  std::optional<uint16_t> sctp_port;
  std::optional<uint64_t> max_message_size;
  std::optional<uint32_t> sctpmap_streams;

  bool rejected() const { return port == 0 && !bundle_only; }
  bool HasIceOption(std::string_view option) const;
  bool operator==(const MediaSection&) const = default;
};

struct SessionDescription {
  SdpType type = SdpType::kOffer;

  // o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address> (RFC 8866 section 5.2).
  std::string origin_username = "-";
  std::string session_id = "0";  // decimal digits, kept as text (some stacks exceed 64 bits)
  uint64_t session_version = 0;
  std::string origin_address = "IN IP4 127.0.0.1";

  // Session-level attributes as written (media sections already carry the inherited copies).
  std::vector<std::string> bundle_mids;  // a=group:BUNDLE (the first group; others ignored)
  bool ice_lite = false;
  std::string ice_ufrag;
  std::string ice_pwd;
  std::vector<std::string> ice_options;
  std::vector<dtls::Fingerprint> fingerprints;
  std::optional<SetupRole> setup;

  std::vector<MediaSection> media;

  // The data section JSEP uses: the first data section that is not rejected. Null if none.
  const MediaSection* FirstDataSection() const;
  MediaSection* FirstDataSection();
  const MediaSection* FindMid(std::string_view mid) const;

  // Parses `text` (CRLF or LF line endings). Never throws; errors name the line.
  static Result<SessionDescription, SdpError> Parse(std::string_view text, SdpType type);
  // Writes the description with CRLF line endings. Only writes what the model holds; the output
  // parses back to an equal SessionDescription.
  std::string ToSdp() const;

  bool operator==(const SessionDescription&) const = default;
};

// The size of the largest message we may send to a peer whose data section is `remote`, given our
// own send limit `local_limit` (0 = none): min of the two, where the peer's missing
// max-message-size means 64 KiB and its 0 means unlimited (RFC 8841 section 6). Returns 0 when
// neither side limits the size.
uint64_t MaxSendMessageSize(const MediaSection& remote, uint64_t local_limit);

// Validators shared by the parser and the JSEP helpers (RFC 8839 section 5.4: ice-char is
// ALPHA / DIGIT / "+" / "/"; ufrag 4..256 chars, pwd 22..256 chars).
bool IsValidIceUfrag(std::string_view s);
bool IsValidIcePwd(std::string_view s);

}  // namespace peerlink::sdp
