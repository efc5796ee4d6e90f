#include "src/runtime/turn_url.h"

#include <charconv>

namespace peerlink::runtime {

namespace {
bool Fail(std::string* error, std::string message) {
  if (error) *error = std::move(message);
  return false;
}
}  // namespace

std::optional<TurnUrl> ParseTurnUrl(std::string_view text, std::string* error) {
  TurnUrl url;
  std::string_view rest;
  if (text.starts_with("turns:")) {
    url.secure = true;
    url.port = 5349;
    url.transport = TransportProtocol::kTls;
    rest = text.substr(6);
  } else if (text.starts_with("turn:")) {
    rest = text.substr(5);
  } else {
    Fail(error, "TURN URL must start with turn: or turns:, got '" + std::string(text) + "'");
    return std::nullopt;
  }
  std::string_view query;
  if (const size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string_view port_text;
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) {
      Fail(error, "unterminated '[' in TURN URL");
      return std::nullopt;
    }
    url.host = std::string(rest.substr(1, close - 1));
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') {
        Fail(error, "expected ':' after ']' in TURN URL");
        return std::nullopt;
      }
      port_text = rest.substr(close + 2);
    }
  } else if (const size_t colon = rest.find(':'); colon != std::string_view::npos) {
    url.host = std::string(rest.substr(0, colon));
    port_text = rest.substr(colon + 1);
  } else {
    url.host = std::string(rest);
  }
  if (url.host.empty()) {
    Fail(error, "TURN URL has no host");
    return std::nullopt;
  }
  if (!port_text.empty() || rest.ends_with(":")) {
    unsigned port = 0;
    const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535) {
      Fail(error, "bad port '" + std::string(port_text) + "' in TURN URL");
      return std::nullopt;
    }
    url.port = static_cast<uint16_t>(port);
  }
  if (!query.empty()) {
    if (query == "transport=udp") {
      if (url.secure) {
        Fail(error, "turns: with transport=udp (DTLS) is not supported");
        return std::nullopt;
      }
      url.transport = TransportProtocol::kUdp;
    } else if (query == "transport=tcp") {
      url.transport = url.secure ? TransportProtocol::kTls : TransportProtocol::kTcp;
    } else {
      Fail(error, "unsupported TURN URL query '" + std::string(query) + "' (want transport=udp or transport=tcp)");
      return std::nullopt;
    }
  }
  return url;
}

}  // namespace peerlink::runtime
