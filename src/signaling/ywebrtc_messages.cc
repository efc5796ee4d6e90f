#include "src/signaling/ywebrtc_messages.h"

#include <cmath>

namespace peerlink::signaling::ywebrtc {

namespace {

using nlohmann::json;

Unexpected<ParseError> Err(ParseErrorCode code, const char* what) {
  return MakeUnexpected(ParseError{code, what});
}

// A required string member of at most max_bytes. `what` names the field for errors.
Result<std::string, ParseError> RequiredString(const json& obj, const char* key, size_t max_bytes, const char* what) {
  auto it = obj.find(key);
  if (it == obj.end()) return Err(ParseErrorCode::kTruncated, what);
  if (!it->is_string()) return Err(ParseErrorCode::kBadValue, what);
  const auto& s = it->get_ref<const std::string&>();
  if (s.size() > max_bytes) return Err(ParseErrorCode::kTooLarge, what);
  return s;
}

Result<PeerSignal, ParseError> ParseCandidate(const json& j) {
  auto it = j.find("candidate");
  if (it == j.end()) return Err(ParseErrorCode::kTruncated, "signal.candidate");
  if (!it->is_object()) return Err(ParseErrorCode::kBadValue, "signal.candidate");
  const json& c = *it;
  CandidateSignal out;
  auto cand = RequiredString(c, "candidate", kMaxCandidateBytes, "signal.candidate.candidate");
  if (!cand.ok()) return MakeUnexpected(cand.error());
  out.candidate = std::move(cand).value();
  if (auto mid = c.find("sdpMid"); mid != c.end() && !mid->is_null()) {
    if (!mid->is_string()) return Err(ParseErrorCode::kBadValue, "signal.candidate.sdpMid");
    if (mid->get_ref<const std::string&>().size() > kMaxPeerIdBytes)
      return Err(ParseErrorCode::kTooLarge, "signal.candidate.sdpMid");
    out.sdp_mid = mid->get<std::string>();
  }
  if (auto idx = c.find("sdpMLineIndex"); idx != c.end() && !idx->is_null()) {
    if (!idx->is_number()) return Err(ParseErrorCode::kBadValue, "signal.candidate.sdpMLineIndex");
    double d = idx->get<double>();
    if (!(d >= 0 && d <= 65535) || std::trunc(d) != d)
      return Err(ParseErrorCode::kBadValue, "signal.candidate.sdpMLineIndex");
    out.sdp_mline_index = static_cast<uint32_t>(d);
  }
  return PeerSignal(std::move(out));
}

// Deepest [ / { nesting outside strings; stops counting past `limit`.
int MaxNesting(std::string_view text, int limit) {
  int depth = 0;
  int max_depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) max_depth = depth;
      if (max_depth > limit) return max_depth;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max_depth;
}

}  // namespace

Result<json, ParseError> ParseJson(std::string_view text) {
  if (text.size() > kMaxMessageTextBytes) return Err(ParseErrorCode::kTooLarge, "message");
  // nlohmann's parser is iterative, but copies and comparisons recurse: bound the depth first.
  if (MaxNesting(text, kMaxJsonDepth) > kMaxJsonDepth) return Err(ParseErrorCode::kTooLarge, "message (nesting)");
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Err(ParseErrorCode::kBadValue, "message (not JSON)");
  return j;
}

std::string_view ToString(SessionDescriptionSignal::Type t) {
  return t == SessionDescriptionSignal::Type::kOffer ? "offer" : "answer";
}

Result<PeerSignal, ParseError> ParsePeerSignal(const json& j) {
  if (!j.is_object()) return Err(ParseErrorCode::kBadValue, "signal");
  auto type = RequiredString(j, "type", 64, "signal.type");
  if (!type.ok()) return MakeUnexpected(type.error());
  const std::string& t = *type;
  if (t == "offer" || t == "answer") {
    auto sdp = RequiredString(j, "sdp", kMaxSdpBytes, "signal.sdp");
    if (!sdp.ok()) return MakeUnexpected(sdp.error());
    return PeerSignal(SessionDescriptionSignal{
        t == "offer" ? SessionDescriptionSignal::Type::kOffer : SessionDescriptionSignal::Type::kAnswer,
        std::move(sdp).value()});
  }
  if (t == "candidate") return ParseCandidate(j);
  if (t == "renegotiate") return PeerSignal(RenegotiateSignal{});
  if (t == "transceiverRequest") {
    auto it = j.find("transceiverRequest");
    if (it == j.end()) return Err(ParseErrorCode::kTruncated, "signal.transceiverRequest");
    if (!it->is_object()) return Err(ParseErrorCode::kBadValue, "signal.transceiverRequest");
    auto kind = RequiredString(*it, "kind", 16, "signal.transceiverRequest.kind");
    if (!kind.ok()) return MakeUnexpected(kind.error());
    TransceiverRequestSignal out{std::move(kind).value(), json::object()};
    if (auto init = it->find("init"); init != it->end() && !init->is_null()) {
      if (!init->is_object()) return Err(ParseErrorCode::kBadValue, "signal.transceiverRequest.init");
      out.init = *init;
    }
    return PeerSignal(std::move(out));
  }
  return Err(ParseErrorCode::kUnsupported, "signal.type");
}

Result<InnerMessage, ParseError> ParseInnerMessage(const json& j) {
  if (!j.is_object()) return Err(ParseErrorCode::kBadValue, "message");
  auto type = RequiredString(j, "type", 64, "type");
  if (!type.ok()) return MakeUnexpected(type.error());
  auto from = RequiredString(j, "from", kMaxPeerIdBytes, "from");
  if (!from.ok()) return MakeUnexpected(from.error());
  if (from->empty()) return Err(ParseErrorCode::kBadValue, "from");
  if (*type == "announce") return InnerMessage(AnnounceMessage{std::move(from).value()});
  if (*type != "signal") return Err(ParseErrorCode::kUnsupported, "type");

  SignalMessage m;
  m.from = std::move(from).value();
  auto to = RequiredString(j, "to", kMaxPeerIdBytes, "to");
  if (!to.ok()) return MakeUnexpected(to.error());
  if (to->empty()) return Err(ParseErrorCode::kBadValue, "to");
  m.to = std::move(to).value();
  if (auto tok = j.find("token"); tok != j.end() && !tok->is_null()) {
    if (!tok->is_number()) return Err(ParseErrorCode::kBadValue, "token");
    double d = tok->get<double>();
    if (!std::isfinite(d)) return Err(ParseErrorCode::kBadValue, "token");
    m.token = d;
  }
  auto sig = j.find("signal");
  if (sig == j.end()) return Err(ParseErrorCode::kTruncated, "signal");
  auto parsed = ParsePeerSignal(*sig);
  if (!parsed.ok()) return MakeUnexpected(parsed.error());
  m.signal = std::move(parsed).value();
  if (auto id = j.find("identity"); id != j.end() && !id->is_null()) {
    if (!id->is_object()) return Err(ParseErrorCode::kBadValue, "identity");
    m.identity = *id;
  }
  return InnerMessage(std::move(m));
}

Result<PublishMessage, ParseError> ParsePublishMessage(std::string_view text) {
  auto parsed = ParseJson(text);
  if (!parsed.ok()) return MakeUnexpected(parsed.error());
  const json& j = *parsed;
  if (!j.is_object()) return Err(ParseErrorCode::kBadValue, "message");
  auto type = RequiredString(j, "type", 64, "type");
  if (!type.ok()) return MakeUnexpected(type.error());
  if (*type != "publish") return Err(ParseErrorCode::kUnsupported, "type");
  auto topic = RequiredString(j, "topic", kMaxTopicBytes, "topic");
  if (!topic.ok()) return MakeUnexpected(topic.error());
  PublishMessage out;
  out.topic = std::move(topic).value();
  auto data = j.find("data");
  if (data == j.end()) return Err(ParseErrorCode::kTruncated, "data");
  if (data->is_string()) {
    out.data = data->get<std::string>();
  } else if (data->is_object()) {
    out.data = *data;
  } else {
    return Err(ParseErrorCode::kBadValue, "data");
  }
  return out;
}

json ToJson(const PeerSignal& s) {
  struct Visitor {
    json operator()(const SessionDescriptionSignal& d) const {
      return json{{"type", std::string(ToString(d.type))}, {"sdp", d.sdp}};
    }
    json operator()(const CandidateSignal& c) const {
      json cand{{"candidate", c.candidate}};
      cand["sdpMid"] = c.sdp_mid ? json(*c.sdp_mid) : json(nullptr);
      cand["sdpMLineIndex"] = c.sdp_mline_index ? json(*c.sdp_mline_index) : json(nullptr);
      return json{{"type", "candidate"}, {"candidate", std::move(cand)}};
    }
    json operator()(const RenegotiateSignal&) const { return json{{"type", "renegotiate"}, {"renegotiate", true}}; }
    json operator()(const TransceiverRequestSignal& t) const {
      return json{{"type", "transceiverRequest"}, {"transceiverRequest", {{"kind", t.kind}, {"init", t.init}}}};
    }
  };
  return std::visit(Visitor{}, s);
}

json ToJson(const InnerMessage& m) {
  if (const auto* a = std::get_if<AnnounceMessage>(&m)) return json{{"type", "announce"}, {"from", a->from}};
  const auto& s = std::get<SignalMessage>(m);
  json j{{"type", "signal"}, {"from", s.from}, {"to", s.to}, {"signal", ToJson(s.signal)}};
  if (s.token) j["token"] = *s.token;
  if (s.identity) j["identity"] = *s.identity;
  return j;
}

json ToJson(const PublishMessage& m) {
  json j{{"type", "publish"}, {"topic", m.topic}};
  if (const auto* text = std::get_if<std::string>(&m.data)) {
    j["data"] = *text;
  } else {
    j["data"] = std::get<json>(m.data);
  }
  return j;
}

}  // namespace peerlink::signaling::ywebrtc
