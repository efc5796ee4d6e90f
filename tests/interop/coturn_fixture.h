// Starts Debian's coturn (/usr/bin/turnserver) on 127.0.0.1 for interop
// tests: a generated config in a fresh temp dir, free ports, a self-signed
// ECDSA P-256 certificate (SAN DNS:turn.peerlink.test, IP:127.0.0.1) for TLS.
// The server is terminated (SIGTERM, then SIGKILL) and the directory removed
// when the Coturn object is destroyed.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "src/base/socket_address.h"

namespace peerlink::interop {

struct CoturnConfig {
  enum class Auth { kStatic, kSecret };
  Auth auth = Auth::kStatic;
  // max-allocate-lifetime in seconds (0 = coturn's default, 3600).
  int max_allocate_lifetime = 0;
};

class Coturn {
 public:
  static constexpr const char* kRealm = "peerlink.test";
  static constexpr const char* kUser = "alice";
  static constexpr const char* kPassword = "secret";
  static constexpr const char* kSharedSecret = "peerlink-shared-secret";
  static constexpr const char* kTlsName = "turn.peerlink.test";

  // Returns nullptr and fills *error (including the server's log) when the
  // server cannot be started or does not answer within ~10 s.
  static std::unique_ptr<Coturn> Start(const CoturnConfig& config, std::string* error);
  ~Coturn();
  Coturn(const Coturn&) = delete;
  Coturn& operator=(const Coturn&) = delete;

  SocketAddress udp() const { return {IpAddress::Loopback(IpFamily::kV4), port_}; }
  SocketAddress tcp() const { return udp(); }
  SocketAddress tls() const { return {IpAddress::Loopback(IpFamily::kV4), tls_port_}; }
  SocketAddress address(TransportProtocol t) const { return t == TransportProtocol::kTls ? tls() : udp(); }
  uint16_t min_relay_port() const { return min_port_; }
  uint16_t max_relay_port() const { return max_port_; }
  const std::string& cert_file() const { return cert_; }
  const std::string& dir() const { return dir_; }
  std::string ReadLog() const;
  bool running() const;

 private:
  Coturn() = default;
  std::string dir_;
  std::string cert_;
  mutable pid_t pid_ = -1;  // -1 once reaped
  uint16_t port_ = 0;
  uint16_t tls_port_ = 0;
  uint16_t min_port_ = 0;
  uint16_t max_port_ = 0;
};

}  // namespace peerlink::interop
