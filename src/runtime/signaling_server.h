// `peerlink signal`'s server: WebSocket (ws:// or wss://) around
// signaling::ServerCore, plus HTTP GET /healthz and /metrics on the same port,
// and optional Redis pub/sub scale-out. See docs/signaling.md. Beast does the
// HTTP side and the upgrade; the frames are ours (signaling/ws_frame.h), so a
// connection's queued frames are written with one syscall.
//
// Threading: one io_context thread runs everything (accept, TLS, every
// connection, the core, Redis); nothing is locked because nothing is shared
// across threads. Callers must run the io_context on exactly one thread and
// call every method from it.
//
// Per connection: an upgrade deadline (slow-loris protection: the HTTP
// request, and the TLS handshake, must complete within upgrade_timeout), a
// bounded write queue (over the bound the core closes the connection as a
// slow reader and the socket is dropped), and a close handshake bounded by
// close_timeout after which the socket is closed hard.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>

#include "src/base/socket_address.h"
#include "src/runtime/log.h"
#include "src/signaling/metrics.h"
#include "src/signaling/server_core.h"

namespace peerlink::runtime {

struct SignalingServerOptions {
  signaling::ServerOptions core;  // core.require_token is set from token_secret
  std::string token_secret;       // non-empty: subscribes and publishes need a room token
  std::string tls_cert_file;      // PEM chain; with tls_key_file: serve wss:// and https://
  std::string tls_key_file;
  std::string redis_url;                       // "redis://host:port"; empty: single server
  std::string server_id;                       // origin tag for Redis; empty: 16 random hex digits
  size_t max_connections = 20000;              // upgraded + pending, whole server
  size_t max_write_queue_bytes = 1024 * 1024;  // per connection
  Duration upgrade_timeout = Duration::Seconds(10);
  Duration close_timeout = Duration::Seconds(3);
  // Write coalescing: a connection writes at most once per this interval while frames keep
  // arriving for it; what is queued meanwhile leaves in its next write. The first frame after a
  // quiet interval goes out at once, so this adds latency only to a connection already written
  // to within the interval (a busy room), and saves a syscall per frame there. Zero: every
  // batch is written as soon as the reads that caused it are handled.
  Duration write_coalesce = Duration::Millis(2);
};

class SignalingServer {
 public:
  // Log lines are JSON objects (one per call, no newline): {"ts":..,"level":..,"event":..,...}.
  SignalingServer(boost::asio::io_context& io, SignalingServerOptions options, LogFn log);
  ~SignalingServer();
  SignalingServer(const SignalingServer&) = delete;
  SignalingServer& operator=(const SignalingServer&) = delete;

  // Loads TLS files, connects to Redis (asynchronously; reconnects on loss),
  // binds and starts accepting. Returns an error message, empty on success.
  [[nodiscard]] std::string Start(const SocketAddress& listen);
  // The bound address (the port when listen's port was 0).
  SocketAddress local_address() const;

  // Stops accepting, closes every connection with 1001 "going away", and calls
  // `done` once all are closed or `grace` has passed (then remaining sockets
  // are closed hard). Idempotent.
  void Shutdown(Duration grace, std::function<void()> done);

  const signaling::Metrics& metrics() const;
  // GET /metrics body: the core's counters plus the runtime's.
  std::string MetricsText() const;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace peerlink::runtime
