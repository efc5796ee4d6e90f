// The signaling client runtime: Boost.Beast WebSocket connections (ws:// and wss://) to one or
// more y-webrtc signaling servers, driving signaling::ClientCore (src/signaling/client_core.h).
// See docs/signaling.md, "Client".
//
// Threading: everything (sockets, the core, the timer, every callback) runs on one strand of the
// given io_context, which may be run by any number of threads. Start, SendSignal, RemovePeer and
// Stop are thread-safe (they post to the strand). Callbacks are invoked on the strand, never
// after Stop() has run there; a callback may call the client's methods (they are queued).
//
// TLS (wss://): certificates are verified by default against the system store plus `ca_file`
// when given, and the server name is checked (host name verification, SNI sent).
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "src/runtime/log.h"
#include "src/signaling/client_core.h"

namespace peerlink::runtime {

struct SignalingClientOptions {
  signaling::ClientOptions core;  // urls, room, password, identity, bounds, backoff
  std::string ca_file;            // PEM file of CAs to trust for wss:// (in addition to the system store)
  bool verify_certificates = true;
  Duration connect_timeout = Duration::Seconds(10);  // TCP + TLS + WebSocket upgrade
  size_t max_write_queue_frames = 1024;              // per connection; over it the connection is dropped
};

struct SignalingClientCallbacks {
  std::function<void(const std::string& peer_id)> on_peer_discovered;
  std::function<void(const std::string& peer_id)> on_peer_left;
  // kCaller: send the offer (SendSignal). kCallee: wait for its offer. Can change once from
  // kCaller to kCallee when a y-webrtc peer wins glare.
  std::function<void(const std::string& peer_id, signaling::PeerRole role)> on_role;
  // verified_identity: identity mode, offers/answers only (else empty).
  std::function<void(const std::string& peer_id,
                     const signaling::ywebrtc::PeerSignal& signal,
                     const std::string& verified_identity)>
      on_signal;
  std::function<void(const signaling::ClientError& error)> on_error;
  // A server connection came up (connected = true) or went down/failed (reason).
  std::function<void(size_t server_index, bool connected, std::string_view reason)> on_connection;
};

class SignalingClient {
 public:
  SignalingClient(boost::asio::io_context& io,
                  SignalingClientOptions options,
                  SignalingClientCallbacks callbacks,
                  LogFn log = {});
  ~SignalingClient();  // Stop()
  SignalingClient(const SignalingClient&) = delete;
  SignalingClient& operator=(const SignalingClient&) = delete;

  // Our peer id in the room (fixed at construction; safe from any thread).
  const std::string& peer_id() const;

  void Start();
  // `done` (optional) receives the core's status on the strand.
  void SendSignal(std::string remote_peer,
                  signaling::ywebrtc::PeerSignal signal,
                  std::function<void(signaling::SendStatus)> done = {});
  void RemovePeer(std::string peer_id);
  // Closes every connection and stops the timer; no callbacks after it has run on the strand.
  void Stop();
  // A snapshot of the core's counters, delivered on the strand.
  void GetCounters(std::function<void(const signaling::ClientCounters&)> done);

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// ws:// or wss:// URL pieces; nullopt if not such a URL.
struct WebSocketUrl {
  bool tls = false;
  std::string host;  // without brackets for IPv6 literals
  std::string port;  // "80" / "443" by default
  std::string target = "/";
};
std::optional<WebSocketUrl> ParseWebSocketUrl(std::string_view url);

}  // namespace peerlink::runtime
