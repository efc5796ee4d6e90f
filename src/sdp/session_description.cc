#include "src/sdp/session_description.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <utility>

namespace peerlink::sdp {

std::string SdpError::ToString() const {
  std::string s = "SDP";
  if (line != 0) {
    s += " line " + std::to_string(line) + " '" + line_text + "'";
  }
  s += ": " + what;
  return s;
}

std::string_view ToString(SdpType t) {
  switch (t) {
    case SdpType::kOffer: return "offer";
    case SdpType::kPranswer: return "pranswer";
    case SdpType::kAnswer: return "answer";
    case SdpType::kRollback: return "rollback";
  }
  return "?";
}

namespace {
// The inverse of ToString over every value of the enum: one table per enum, not two.
template <class E, size_t N>
std::optional<E> FromName(std::string_view s, const E (&all)[N]) {
  for (E e : all)
    if (ToString(e) == s) return e;
  return std::nullopt;
}
}  // namespace

std::optional<SdpType> SdpTypeFromString(std::string_view s) {
  static constexpr SdpType kAll[] = {SdpType::kOffer, SdpType::kPranswer, SdpType::kAnswer, SdpType::kRollback};
  return FromName(s, kAll);
}

std::string_view ToString(SetupRole r) {
  switch (r) {
    case SetupRole::kActpass: return "actpass";
    case SetupRole::kActive: return "active";
    case SetupRole::kPassive: return "passive";
    case SetupRole::kHoldconn: return "holdconn";
  }
  return "?";
}

std::optional<SetupRole> SetupRoleFromString(std::string_view s) {
  static constexpr SetupRole kAll[] = {SetupRole::kActpass, SetupRole::kActive, SetupRole::kPassive,
                                       SetupRole::kHoldconn};
  return FromName(s, kAll);
}

bool MediaSection::HasIceOption(std::string_view option) const {
  return std::find(ice_options.begin(), ice_options.end(), option) != ice_options.end();
}

const MediaSection* SessionDescription::FirstDataSection() const {
  for (const auto& m : media) {
    if (m.is_data && !m.rejected()) return &m;
  }
  return nullptr;
}

MediaSection* SessionDescription::FirstDataSection() {
  return const_cast<MediaSection*>(std::as_const(*this).FirstDataSection());
}

const MediaSection* SessionDescription::FindMid(std::string_view mid) const {
  for (const auto& m : media) {
    if (!m.mid.empty() && m.mid == mid) return &m;
  }
  return nullptr;
}

uint64_t MaxSendMessageSize(const MediaSection& remote, uint64_t local_limit) {
  const uint64_t peer = remote.max_message_size.value_or(kDefaultMaxMessageSize);
  if (peer == 0) return local_limit;
  if (local_limit == 0) return peer;
  return std::min(peer, local_limit);
}

namespace {

bool IsIceChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

bool AllIceChars(std::string_view s) {
  return std::all_of(s.begin(), s.end(), IsIceChar);
}

}  // namespace

bool IsValidIceUfrag(std::string_view s) {
  return s.size() >= 4 && s.size() <= 256 && AllIceChars(s);
}

bool IsValidIcePwd(std::string_view s) {
  return s.size() >= 22 && s.size() <= 256 && AllIceChars(s);
}

namespace {

constexpr size_t kMaxErrorLineText = 200;
constexpr size_t kMaxIceOptions = 16;

bool IsSpace(char c) {
  return c == ' ' || c == '\t';
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back()))
    s.remove_suffix(1);
  return s;
}

// Splits on runs of spaces/tabs. At most `max` tokens; the caller checks the count.
std::vector<std::string_view> Tokens(std::string_view s, size_t max = 64) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size() && out.size() < max) {
    while (i < s.size() && IsSpace(s[i]))
      ++i;
    if (i >= s.size()) break;
    size_t j = i;
    while (j < s.size() && !IsSpace(s[j]))
      ++j;
    out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

template <typename T>
bool ParseUnsigned(std::string_view s, T& out) {
  if (s.empty() || s.size() > 20) return false;
  if (!std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return false;
  if (v > std::numeric_limits<T>::max()) return false;
  out = static_cast<T>(v);
  return true;
}

bool EndsWithIgnoreCase(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  s = s.substr(s.size() - suffix.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != suffix[i]) return false;
  }
  return true;
}

struct Line {
  size_t number = 0;  // 1-based
  std::string_view text;
};

class Parser {
 public:
  explicit Parser(SdpType type) { desc_.type = type; }

  Result<SessionDescription, SdpError> Run(std::string_view text);

 private:
  struct SectionInfo {
    Line m_line;
    bool has_connection = false;
  };

  Unexpected<SdpError> Fail(const Line& line, std::string what) const {
    SdpError e;
    e.line = line.number;
    e.line_text = std::string(line.text.substr(0, kMaxErrorLineText));
    e.what = std::move(what);
    return MakeUnexpected(std::move(e));
  }

  std::optional<Unexpected<SdpError>> ParseOrigin(const Line& line, std::string_view value);
  std::optional<Unexpected<SdpError>> ParseMediaLine(const Line& line, std::string_view value);
  std::optional<Unexpected<SdpError>> ParseAttribute(const Line& line, std::string_view value);
  std::optional<Unexpected<SdpError>> ParseSessionAttribute(const Line& line,
                                                            std::string_view name,
                                                            std::optional<std::string_view> value);
  std::optional<Unexpected<SdpError>> ParseMediaAttribute(const Line& line,
                                                          std::string_view name,
                                                          std::optional<std::string_view> value);
  // Shared by session and media level: ufrag, pwd, ice-options, fingerprint, setup.
  // Returns true in `handled` when the attribute was one of them.
  std::optional<Unexpected<SdpError>> ParseTransportAttribute(const Line& line,
                                                              std::string_view name,
                                                              std::optional<std::string_view> value,
                                                              std::string& ufrag,
                                                              std::string& pwd,
                                                              std::vector<std::string>& options,
                                                              std::vector<dtls::Fingerprint>& fingerprints,
                                                              std::optional<SetupRole>& setup,
                                                              bool& handled);
  std::optional<Unexpected<SdpError>> Finish();

  SessionDescription desc_;
  std::vector<SectionInfo> info_;
  std::optional<std::string> session_connection_;
  Line bundle_line_;
  bool have_bundle_ = false;
  size_t candidate_count_ = 0;
};

Result<SessionDescription, SdpError> Parser::Run(std::string_view text) {
  if (text.size() > kMaxSdpBytes) {
    return MakeUnexpected(SdpError{
        0, "", "SDP is " + std::to_string(text.size()) + " bytes; the limit is " + std::to_string(kMaxSdpBytes)});
  }
  // Split into lines first so that the line limit is checked before any per-line work.
  std::vector<Line> lines;
  size_t pos = 0;
  size_t number = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view l = text.substr(pos, end - pos);
    pos = end + 1;
    ++number;
    if (number > kMaxSdpLines) {
      return MakeUnexpected(SdpError{number, std::string(l.substr(0, kMaxErrorLineText)),
                                     "SDP has more than " + std::to_string(kMaxSdpLines) + " lines"});
    }
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    // Tolerate trailing whitespace (some stacks emit it) and blank lines (e.g. a final empty line).
    while (!l.empty() && IsSpace(l.back()))
      l.remove_suffix(1);
    if (l.empty()) continue;
    lines.push_back(Line{number, l});
  }
  if (lines.empty()) return MakeUnexpected(SdpError{0, "", "SDP is empty"});

  bool seen_origin = false;
  bool seen_session_name = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    const Line& line = lines[i];
    for (char c : line.text) {
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) {
        return Fail(line, "control character in line");
      }
    }
    // RFC 8866 section 5: <type>=<value>, where <type> is exactly one case-significant letter.
    if (line.text.size() < 2 || line.text[1] != '=' || !((line.text[0] >= 'a' && line.text[0] <= 'z'))) {
      return Fail(line, "expected '<letter>=<value>'");
    }
    const char type = line.text[0];
    const std::string_view value = line.text.substr(2);
    if (i == 0) {
      if (type != 'v' || Trim(value) != "0") return Fail(line, "the first line must be 'v=0' (RFC 8866 section 5.1)");
      continue;
    }
    std::optional<Unexpected<SdpError>> err;
    switch (type) {
      case 'v': return Fail(line, "second 'v=' line");
      case 'o':
        if (seen_origin) return Fail(line, "duplicate 'o=' line");
        if (!desc_.media.empty()) return Fail(line, "'o=' after the first 'm=' line");
        seen_origin = true;
        err = ParseOrigin(line, value);
        break;
      case 's': seen_session_name = true; break;
      case 'c': {
        auto tok = Tokens(value, 4);
        if (tok.size() != 3 || tok[0] != "IN") return Fail(line, "c= must be 'IN <addrtype> <address>'");
        std::string c = std::string(tok[0]) + " " + std::string(tok[1]) + " " + std::string(tok[2]);
        if (desc_.media.empty()) {
          session_connection_ = c;
        } else {
          if (info_.back().has_connection) return Fail(line, "duplicate 'c=' line in a media section");
          info_.back().has_connection = true;
          desc_.media.back().connection = c;
        }
        break;
      }
      case 'm': err = ParseMediaLine(line, value); break;
      case 'a': err = ParseAttribute(line, value); break;
      default: break;  // t=, b=, i=, u=, e=, p=, k=, r=, z= and unknown types: ignored
    }
    if (err) return *err;
  }
  if (!seen_origin) return MakeUnexpected(SdpError{0, "", "missing 'o=' line (RFC 8866 section 5.2)"});
  if (!seen_session_name) return MakeUnexpected(SdpError{0, "", "missing 's=' line (RFC 8866 section 5.3)"});
  if (auto err = Finish()) return *err;
  return std::move(desc_);
}

std::optional<Unexpected<SdpError>> Parser::ParseOrigin(const Line& line, std::string_view value) {
  auto tok = Tokens(value, 7);
  if (tok.size() != 6) return Fail(line, "o= needs 6 fields: <username> <sess-id> <sess-version> IN <addrtype> <addr>");
  if (tok[1].empty() || tok[1].size() > 64 ||
      !std::all_of(tok[1].begin(), tok[1].end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return Fail(line, "o= sess-id must be 1..64 decimal digits");
  }
  uint64_t version = 0;
  if (!ParseUnsigned(tok[2], version)) return Fail(line, "o= sess-version must be a decimal number below 2^64");
  if (tok[3] != "IN") return Fail(line, "o= nettype must be 'IN'");
  desc_.origin_username = std::string(tok[0]);
  desc_.session_id = std::string(tok[1]);
  desc_.session_version = version;
  desc_.origin_address = std::string(tok[3]) + " " + std::string(tok[4]) + " " + std::string(tok[5]);
  return std::nullopt;
}

std::optional<Unexpected<SdpError>> Parser::ParseMediaLine(const Line& line, std::string_view value) {
  if (desc_.media.size() >= kMaxMediaSections) {
    return Fail(line, "more than " + std::to_string(kMaxMediaSections) + " media sections");
  }
  auto tok = Tokens(value, 256);
  if (tok.size() < 4) return Fail(line, "m= needs <media> <port> <proto> <fmt> ...");
  MediaSection m;
  m.media = std::string(tok[0]);
  // <port>[/<number of ports>]; the port count is meaningless for SCTP and ignored.
  std::string_view port_text = tok[1];
  if (auto slash = port_text.find('/'); slash != std::string_view::npos) port_text = port_text.substr(0, slash);
  if (!ParseUnsigned(port_text, m.port)) return Fail(line, "m= port must be a number 0..65535");
  const std::string_view proto = tok[2];
  if (m.media == "application" && (proto == "UDP/DTLS/SCTP" || proto == "TCP/DTLS/SCTP")) {
    // RFC 8841 section 4.1: the format is "webrtc-datachannel".
    if (std::find(tok.begin() + 3, tok.end(), "webrtc-datachannel") == tok.end()) {
      return Fail(line, "m=application " + std::string(proto) + " must carry the 'webrtc-datachannel' format");
    }
    m.is_data = true;
    m.transport = proto == "UDP/DTLS/SCTP" ? DataTransport::kUdpDtlsSctp : DataTransport::kTcpDtlsSctp;
  } else if (m.media == "application" && proto == "DTLS/SCTP") {
    // The pre-RFC form: the format is the SCTP port, described by a=sctpmap.
    uint16_t sctp_port = 0;
    if (tok.size() != 4 || !ParseUnsigned(tok[3], sctp_port) || sctp_port == 0) {
      return Fail(line, "m=application DTLS/SCTP must carry one SCTP port number as its format");
    }
    m.is_data = true;
    m.transport = DataTransport::kLegacy;
    m.sctp_port = sctp_port;
  } else {
    m.protocol = std::string(proto);
    for (size_t i = 3; i < tok.size(); ++i)
      m.formats.emplace_back(tok[i]);
  }
  desc_.media.push_back(std::move(m));
  info_.push_back(SectionInfo{line, false});
  return std::nullopt;
}

std::optional<Unexpected<SdpError>> Parser::ParseAttribute(const Line& line, std::string_view value) {
  // a=<name>[:<value>] (RFC 8866 section 5.13).
  std::string_view name = value;
  std::optional<std::string_view> attr_value;
  if (auto colon = value.find(':'); colon != std::string_view::npos) {
    name = value.substr(0, colon);
    attr_value = Trim(value.substr(colon + 1));
  }
  name = Trim(name);
  if (desc_.media.empty()) return ParseSessionAttribute(line, name, attr_value);
  return ParseMediaAttribute(line, name, attr_value);
}

std::optional<Unexpected<SdpError>> Parser::ParseTransportAttribute(const Line& line,
                                                                    std::string_view name,
                                                                    std::optional<std::string_view> value,
                                                                    std::string& ufrag,
                                                                    std::string& pwd,
                                                                    std::vector<std::string>& options,
                                                                    std::vector<dtls::Fingerprint>& fingerprints,
                                                                    std::optional<SetupRole>& setup,
                                                                    bool& handled) {
  handled = true;
  if (name == "ice-ufrag") {
    if (!value || !IsValidIceUfrag(*value)) {
      return Fail(line, "a=ice-ufrag must be 4..256 ice-chars (ALPHA / DIGIT / '+' / '/'), RFC 8839 section 5.4");
    }
    if (!ufrag.empty() && ufrag != *value) return Fail(line, "second, different a=ice-ufrag");
    ufrag = std::string(*value);
  } else if (name == "ice-pwd") {
    if (!value || !IsValidIcePwd(*value)) {
      return Fail(line, "a=ice-pwd must be 22..256 ice-chars (ALPHA / DIGIT / '+' / '/'), RFC 8839 section 5.4");
    }
    if (!pwd.empty() && pwd != *value) return Fail(line, "second, different a=ice-pwd");
    pwd = std::string(*value);
  } else if (name == "ice-options") {
    if (!value) return Fail(line, "a=ice-options needs a value");
    for (auto t : Tokens(*value, kMaxIceOptions + 1)) {
      if (std::find(options.begin(), options.end(), t) != options.end()) continue;
      if (options.size() >= kMaxIceOptions) return Fail(line, "more than 16 distinct ice-options");
      options.emplace_back(t);
    }
  } else if (name == "fingerprint") {
    if (!value) return Fail(line, "a=fingerprint needs '<hash-func> <fingerprint>'");
    auto fp = dtls::Fingerprint::Parse(*value);
    if (!fp) {
      // Hash functions we do not know (or that RFC 8122 forbids) are skipped: the peer may offer
      // several and we verify with the strongest we know. A known hash with a bad digest is an error.
      if (fp.error().code == ParseErrorCode::kUnsupported) return std::nullopt;
      return Fail(line, std::string("bad a=fingerprint: ") + fp.error().what);
    }
    if (fingerprints.size() >= 16) return Fail(line, "more than 16 a=fingerprint lines");
    if (std::find(fingerprints.begin(), fingerprints.end(), *fp) == fingerprints.end()) {
      fingerprints.push_back(std::move(*fp));
    }
  } else if (name == "setup") {
    auto role = value ? SetupRoleFromString(*value) : std::nullopt;
    if (!role) return Fail(line, "a=setup must be actpass, active, passive or holdconn (RFC 4145 section 4)");
    if (setup && *setup != *role) return Fail(line, "second, different a=setup");
    setup = role;
  } else {
    handled = false;
  }
  return std::nullopt;
}

std::optional<Unexpected<SdpError>> Parser::ParseSessionAttribute(const Line& line,
                                                                  std::string_view name,
                                                                  std::optional<std::string_view> value) {
  bool handled = false;
  auto err = ParseTransportAttribute(line, name, value, desc_.ice_ufrag, desc_.ice_pwd, desc_.ice_options,
                                     desc_.fingerprints, desc_.setup, handled);
  if (err || handled) return err;
  if (name == "group") {
    if (!value) return Fail(line, "a=group needs a semantics token");
    auto tok = Tokens(*value, kMaxMediaSections + 2);
    if (tok.empty() || tok[0] != "BUNDLE") return std::nullopt;  // LS, FID, ...: not ours
    if (have_bundle_) return std::nullopt;                       // only the first BUNDLE group is used
    if (tok.size() > kMaxMediaSections + 1) return Fail(line, "BUNDLE group lists too many mids");
    have_bundle_ = true;
    bundle_line_ = line;
    for (size_t i = 1; i < tok.size(); ++i) {
      if (std::find(desc_.bundle_mids.begin(), desc_.bundle_mids.end(), tok[i]) != desc_.bundle_mids.end()) {
        return Fail(line, "mid '" + std::string(tok[i]) + "' listed twice in the BUNDLE group");
      }
      desc_.bundle_mids.emplace_back(tok[i]);
    }
  } else if (name == "ice-lite") {
    desc_.ice_lite = true;
  }
  // msid-semantic, extmap-allow-mixed, identity, ...: ignored.
  return std::nullopt;
}

std::optional<Unexpected<SdpError>> Parser::ParseMediaAttribute(const Line& line,
                                                                std::string_view name,
                                                                std::optional<std::string_view> value) {
  MediaSection& m = desc_.media.back();
  bool handled = false;
  auto err = ParseTransportAttribute(line, name, value, m.ice_ufrag, m.ice_pwd, m.ice_options, m.fingerprints, m.setup,
                                     handled);
  if (err || handled) return err;
  if (name == "mid") {
    // RFC 8843 section 8.1 / RFC 5888: a token. We accept any non-blank text without spaces.
    if (!value || value->empty() || value->size() > 256 || Tokens(*value, 2).size() != 1) {
      return Fail(line, "a=mid must be one token of 1..256 characters");
    }
    if (!m.mid.empty()) return Fail(line, "second a=mid in a media section");
    m.mid = std::string(*value);
  } else if (name == "candidate") {
    if (!value) return Fail(line, "a=candidate needs a value");
    if (++candidate_count_ > kMaxCandidates) {
      return Fail(line, "more than " + std::to_string(kMaxCandidates) + " a=candidate lines");
    }
    auto tok = Tokens(*value, 65);
    if (tok.size() > 64) return Fail(line, "a=candidate has more than 64 fields");
    if (tok.size() >= 8 && EndsWithIgnoreCase(tok[4], ".local")) {
      // mDNS host candidate: kept (normalized to single spaces) for the mdns layer to resolve;
      // the fields we can check without resolving are checked here.
      uint32_t component = 0, priority = 0, port = 0;
      if (tok[0].size() > 32 || !ParseUnsigned(tok[1], component) || component == 0 || component > 256 ||
          !ParseUnsigned(tok[3], priority) || !ParseUnsigned(tok[5], port) || port > 65535 || tok[6] != "typ") {
        return Fail(line, "malformed mDNS a=candidate");
      }
      std::string c = "candidate:";
      for (size_t i = 0; i < tok.size(); ++i) {
        if (i) c += ' ';
        c += tok[i];
      }
      m.mdns_candidates.push_back(std::move(c));
      return std::nullopt;
    }
    auto cand = ice::Candidate::ParseSdp(*value);
    if (!cand) {
      // Transports we do not support (e.g. "ssltcp") are ignored; malformed candidates are errors.
      if (cand.error().code == ParseErrorCode::kUnsupported) return std::nullopt;
      return Fail(line, std::string("bad a=candidate: ") + cand.error().what);
    }
    m.candidates.push_back(std::move(*cand));
  } else if (name == "end-of-candidates") {
    m.end_of_candidates = true;
  } else if (name == "sctp-port") {
    uint16_t port = 0;
    if (!value || !ParseUnsigned(*value, port) || port == 0) {
      return Fail(line, "a=sctp-port must be a port number 1..65535 (RFC 8841 section 5)");
    }
    if (!m.is_data || m.transport == DataTransport::kLegacy) return std::nullopt;  // not meaningful here
    if (m.sctp_port && *m.sctp_port != port) return Fail(line, "second, different a=sctp-port");
    m.sctp_port = port;
  } else if (name == "max-message-size") {
    uint64_t size = 0;
    if (!value || !ParseUnsigned(*value, size)) {
      return Fail(line, "a=max-message-size must be a decimal number (RFC 8841 section 6)");
    }
    if (!m.is_data) return std::nullopt;
    m.max_message_size = size;
  } else if (name == "sctpmap") {
    // a=sctpmap:<sctp-port> webrtc-datachannel [<streams>] (draft-ietf-mmusic-sctp-sdp-05).
    if (!m.is_data || m.transport != DataTransport::kLegacy) return std::nullopt;
    auto tok = value ? Tokens(*value, 4) : std::vector<std::string_view>{};
    uint16_t port = 0;
    if (tok.size() < 2 || tok.size() > 3 || !ParseUnsigned(tok[0], port) || tok[1] != "webrtc-datachannel") {
      return Fail(line, "a=sctpmap must be '<port> webrtc-datachannel [<streams>]'");
    }
    if (port != m.sctp_port) return Fail(line, "a=sctpmap port differs from the m= line's format");
    if (tok.size() == 3) {
      uint32_t streams = 0;
      if (!ParseUnsigned(tok[2], streams)) return Fail(line, "a=sctpmap stream count must be a number");
      m.sctpmap_streams = streams;
    }
  } else if (name == "bundle-only") {
    m.bundle_only = true;
  }
  // rtcp-mux, sendrecv, msid, rtpmap, ...: ignored.
  return std::nullopt;
}

std::optional<Unexpected<SdpError>> Parser::Finish() {
  // Mids are unique (RFC 8843 section 8.1 via RFC 5888 section 4).
  for (size_t i = 0; i < desc_.media.size(); ++i) {
    auto& m = desc_.media[i];
    if (m.mid.empty()) continue;
    for (size_t j = 0; j < i; ++j) {
      if (desc_.media[j].mid == m.mid) return Fail(info_[i].m_line, "mid '" + m.mid + "' used by two media sections");
    }
  }
  if (have_bundle_) {
    for (const auto& mid : desc_.bundle_mids) {
      if (!desc_.FindMid(mid))
        return Fail(bundle_line_, "BUNDLE group names mid '" + mid + "' which no m= section has");
    }
  }
  // Inheritance (RFC 8866 section 5.13: session-level attributes are defaults for each media
  // section; RFC 8843 section 7.1.3: sections bundled with the tagged section share its transport).
  for (size_t i = 0; i < desc_.media.size(); ++i) {
    auto& m = desc_.media[i];
    if (!info_[i].has_connection && session_connection_) m.connection = *session_connection_;
    if (m.ice_ufrag.empty()) m.ice_ufrag = desc_.ice_ufrag;
    if (m.ice_pwd.empty()) m.ice_pwd = desc_.ice_pwd;
    if (m.ice_options.empty()) m.ice_options = desc_.ice_options;
    if (m.fingerprints.empty()) m.fingerprints = desc_.fingerprints;
    if (!m.setup) m.setup = desc_.setup;
  }
  if (have_bundle_ && !desc_.bundle_mids.empty()) {
    const MediaSection* tag_ptr = desc_.FindMid(desc_.bundle_mids.front());
    const MediaSection tag = *tag_ptr;  // copy: we write to sections of the same vector below
    for (auto& m : desc_.media) {
      if (m.mid.empty() || m.mid == tag.mid) continue;
      if (std::find(desc_.bundle_mids.begin(), desc_.bundle_mids.end(), m.mid) == desc_.bundle_mids.end()) continue;
      if (m.ice_ufrag.empty()) m.ice_ufrag = tag.ice_ufrag;
      if (m.ice_pwd.empty()) m.ice_pwd = tag.ice_pwd;
      if (m.ice_options.empty()) m.ice_options = tag.ice_options;
      if (m.fingerprints.empty()) m.fingerprints = tag.fingerprints;
      if (!m.setup) m.setup = tag.setup;
    }
  }
  // Strict on what we rely on: every usable data section has ICE credentials, a fingerprint, a
  // DTLS role and an SCTP port.
  for (size_t i = 0; i < desc_.media.size(); ++i) {
    auto& m = desc_.media[i];
    if (!m.is_data || m.rejected()) continue;
    const Line& at = info_[i].m_line;
    if (m.ice_ufrag.empty()) return Fail(at, "data section has no a=ice-ufrag (neither media nor session level)");
    if (m.ice_pwd.empty()) return Fail(at, "data section has no a=ice-pwd (neither media nor session level)");
    if (m.fingerprints.empty()) {
      return Fail(at, "data section has no usable a=fingerprint (neither media nor session level)");
    }
    if (!m.setup) return Fail(at, "data section has no a=setup (RFC 8842 section 5)");
    if (m.transport != DataTransport::kLegacy && !m.sctp_port) {
      // RFC 8841 section 5.1: a=sctp-port is optional; 5000 is what every implementation assumes.
      m.sctp_port = kDefaultSctpPort;
    }
  }
  return std::nullopt;
}

void AppendLine(std::string& out, std::string_view a, std::string_view b = {}) {
  out.append(a);
  out.append(b);
  out.append("\r\n");
}

void AppendTransport(std::string& out,
                     const std::string& ufrag,
                     const std::string& pwd,
                     const std::vector<std::string>& options,
                     const std::vector<dtls::Fingerprint>& fingerprints,
                     const std::optional<SetupRole>& setup) {
  if (!ufrag.empty()) AppendLine(out, "a=ice-ufrag:", ufrag);
  if (!pwd.empty()) AppendLine(out, "a=ice-pwd:", pwd);
  if (!options.empty()) {
    std::string o;
    for (const auto& opt : options) {
      if (!o.empty()) o += ' ';
      o += opt;
    }
    AppendLine(out, "a=ice-options:", o);
  }
  for (const auto& fp : fingerprints)
    AppendLine(out, "a=fingerprint:", fp.ToString());
  if (setup) AppendLine(out, "a=setup:", ToString(*setup));
}

}  // namespace

Result<SessionDescription, SdpError> SessionDescription::Parse(std::string_view text, SdpType type) {
  Parser parser(type);
  return parser.Run(text);
}

std::string SessionDescription::ToSdp() const {
  std::string out;
  out.reserve(1024);
  AppendLine(out, "v=0");
  AppendLine(out,
             "o=", origin_username + " " + session_id + " " + std::to_string(session_version) + " " + origin_address);
  AppendLine(out, "s=-");
  AppendLine(out, "t=0 0");
  if (ice_lite) AppendLine(out, "a=ice-lite");
  if (!bundle_mids.empty()) {
    std::string g = "a=group:BUNDLE";
    for (const auto& mid : bundle_mids)
      g += " " + mid;
    AppendLine(out, g);
  }
  AppendTransport(out, ice_ufrag, ice_pwd, ice_options, fingerprints, setup);
  for (const auto& m : media) {
    std::string mline = "m=" + m.media + " " + std::to_string(m.port) + " ";
    if (m.is_data) {
      switch (m.transport) {
        case DataTransport::kUdpDtlsSctp: mline += "UDP/DTLS/SCTP webrtc-datachannel"; break;
        case DataTransport::kTcpDtlsSctp: mline += "TCP/DTLS/SCTP webrtc-datachannel"; break;
        case DataTransport::kLegacy:
          mline += "DTLS/SCTP " + std::to_string(m.sctp_port.value_or(kDefaultSctpPort));
          break;
      }
    } else {
      mline += m.protocol;
      for (const auto& f : m.formats)
        mline += " " + f;
    }
    AppendLine(out, mline);
    AppendLine(out, "c=", m.connection);
    if (!m.mid.empty()) AppendLine(out, "a=mid:", m.mid);
    if (m.bundle_only) AppendLine(out, "a=bundle-only");
    AppendTransport(out, m.ice_ufrag, m.ice_pwd, m.ice_options, m.fingerprints, m.setup);
    if (m.is_data) {
      if (m.transport == DataTransport::kLegacy) {
        std::string map = std::to_string(m.sctp_port.value_or(kDefaultSctpPort)) + " webrtc-datachannel";
        if (m.sctpmap_streams) map += " " + std::to_string(*m.sctpmap_streams);
        AppendLine(out, "a=sctpmap:", map);
      } else if (m.sctp_port) {
        AppendLine(out, "a=sctp-port:", std::to_string(*m.sctp_port));
      }
      if (m.max_message_size) AppendLine(out, "a=max-message-size:", std::to_string(*m.max_message_size));
    }
    for (const auto& c : m.candidates)
      AppendLine(out, "a=", c.ToSdp());
    for (const auto& c : m.mdns_candidates)
      AppendLine(out, "a=", c);
    if (m.end_of_candidates) AppendLine(out, "a=end-of-candidates");
  }
  return out;
}

}  // namespace peerlink::sdp
