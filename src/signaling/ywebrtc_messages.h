// The messages y-webrtc 10.x clients exchange through a signaling server, as C++ types.
//
// Outer (what the server relays):
//   {"type":"publish","topic":<room name>,"data":<inner message object>}          no password
//   {"type":"publish","topic":<room name>,"data":"<base64 lib0 sealed box>"}      room password
// Inner (y-webrtc.js publishSignalingMessage):
//   {"type":"announce","from":<peer id>}
//   {"type":"signal","from":<peer id>,"to":<peer id>,"token":<number>,"signal":<simple-peer signal>}
// Peer ids are y-webrtc's random UUIDv4 strings (room.peerId); `to` names the one receiver and a
// peer ignores a message whose `to` is present and not its own id. `token` is y-webrtc's glare
// token, Date.now() + Math.random() (a float of milliseconds): on crossing offers the offer with
// the larger token wins.
// simple-peer 9.x signal objects:
//   {"type":"offer"|"answer","sdp":"..."}
//   {"type":"candidate","candidate":{"candidate":"...","sdpMLineIndex":0,"sdpMid":"0"}}
//   {"type":"renegotiate","renegotiate":true}
//   {"type":"transceiverRequest","transceiverRequest":{"kind":"audio","init":{...}}}
// peerlink's identity mode adds an optional "identity" member to a signal message (see
// identity.h); y-webrtc ignores members it does not know.
//
// Parsing never throws; errors are ParseError whose `what` names the offending field.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "src/base/parse_error.h"
#include "src/base/result.h"

namespace peerlink::signaling::ywebrtc {

// Bounds applied while parsing (a malicious peer can send anything through the room).
inline constexpr size_t kMaxPeerIdBytes = 256;
inline constexpr size_t kMaxSdpBytes = size_t{60} * 1024;
inline constexpr size_t kMaxCandidateBytes = 1024;
inline constexpr size_t kMaxTopicBytes = 1024;
inline constexpr size_t kMaxMessageTextBytes = size_t{64} * 1024;

struct SessionDescriptionSignal {
  enum class Type { kOffer, kAnswer };
  Type type = Type::kOffer;
  std::string sdp;
};
struct CandidateSignal {
  std::string candidate;  // "a=candidate:" value without the "a="; empty = end of candidates
  std::optional<std::string> sdp_mid;
  std::optional<uint32_t> sdp_mline_index;
};
struct RenegotiateSignal {};
struct TransceiverRequestSignal {
  std::string kind;  // "audio" | "video"
  nlohmann::json init = nlohmann::json::object();
};
using PeerSignal = std::variant<SessionDescriptionSignal, CandidateSignal, RenegotiateSignal, TransceiverRequestSignal>;

struct AnnounceMessage {
  std::string from;
};
struct SignalMessage {
  std::string from;
  std::string to;
  std::optional<double> token;  // y-webrtc always sends one; absent compares as "no token"
  PeerSignal signal;
  std::optional<nlohmann::json> identity;  // peerlink identity mode (identity.h), opaque here
};
using InnerMessage = std::variant<AnnounceMessage, SignalMessage>;

struct PublishMessage {
  std::string topic;
  // The inner message as a JSON object (no password), or the base64 sealed box (password).
  std::variant<nlohmann::json, std::string> data;
  bool encrypted() const { return std::holds_alternative<std::string>(data); }
};

inline constexpr int kMaxJsonDepth = 32;

// JSON text -> value, without exceptions: at most kMaxMessageTextBytes and kMaxJsonDepth levels.
Result<nlohmann::json, ParseError> ParseJson(std::string_view text);

Result<PeerSignal, ParseError> ParsePeerSignal(const nlohmann::json& j);
Result<InnerMessage, ParseError> ParseInnerMessage(const nlohmann::json& j);
// The outer message from the server, as text. Only "publish" is accepted here.
Result<PublishMessage, ParseError> ParsePublishMessage(std::string_view text);

nlohmann::json ToJson(const PeerSignal& s);
nlohmann::json ToJson(const InnerMessage& m);
nlohmann::json ToJson(const PublishMessage& m);

std::string_view ToString(SessionDescriptionSignal::Type t);

}  // namespace peerlink::signaling::ywebrtc
