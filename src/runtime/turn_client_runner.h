// Drives one turn::Client (one allocation) over UDP, TCP or TLS.
//
// Loop, on the io_context thread: receive (datagram or StreamFramer frame)
// -> Client::HandleServerMessage(now) -> Drain; timer expiry ->
// HandleTimeout(now) -> Drain; a user command -> the Client call -> Drain.
// Drain calls PollOutput(now) until it returns a Deadline: TransmitToServer
// goes to the socket/stream, ClientEvents go to `on_event`, and the single
// steady_timer is re-armed for the Deadline (cancelled for Instant::Max()).
//
// Threading: one io_context thread. All methods except Post() must be called
// on that thread (or before it starts running); `on_event` runs on it. Post()
// is thread-safe. The runner must outlive the io_context's run, or be
// destroyed on its thread (pending handlers then become no-ops).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <optional>

#include "src/base/rng.h"
#include "src/runtime/core_timer.h"
#include "src/runtime/log.h"
#include "src/runtime/stream_connection.h"
#include "src/runtime/udp_socket.h"
#include "src/turn/client.h"

namespace peerlink::runtime {

struct TurnClientRunnerOptions {
  turn::Options client;  // server address, transport, credentials, lifetime
  TlsClientConfig tls;   // used when client.transport == kTls
  // Local address for the socket; default: the wildcard of the server's family.
  std::optional<IpAddress> local_ip;
  LogFn log;
};

class TurnClientRunner {
 public:
  using EventHandler = std::function<void(const turn::ClientEvent&)>;

  TurnClientRunner(boost::asio::io_context& io, TurnClientRunnerOptions options, Rng& rng);
  ~TurnClientRunner();
  TurnClientRunner(const TurnClientRunner&) = delete;
  TurnClientRunner& operator=(const TurnClientRunner&) = delete;

  void set_on_event(EventHandler handler) { on_event_ = std::move(handler); }

  // Opens the transport (UDP socket, or TCP connect + TLS handshake) and
  // starts the allocation. Failures (bind, connect, handshake, TLS context)
  // are reported as an AllocationFailedEvent with code 0.
  void Start();
  void CreatePermission(const IpAddress& peer);
  [[nodiscard]] turn::SendStatus SendToPeer(const SocketAddress& peer, ByteView data);
  // Deallocates (LIFETIME=0); a ClosedEvent follows.
  void Close();
  // Runs `fn` on the io_context thread, then drains the core. Thread-safe.
  void Post(std::function<void(TurnClientRunner&)> fn);

  const turn::Client& client() const { return *client_; }
  // The deadline the core asked for after the last drain (nullopt: none).
  std::optional<Instant> next_deadline() const { return timer_.armed(); }
  // Local address of the socket / stream to the server (after Start()).
  SocketAddress local_address() const;

 private:
  void OnServerBytes(ByteView data);
  void OnTransportError(const std::string& reason);
  void Drain();

  boost::asio::io_context& io_;
  TurnClientRunnerOptions options_;
  std::unique_ptr<turn::Client> client_;
  EventHandler on_event_;
  std::unique_ptr<UdpSocket> udp_;
  std::unique_ptr<StreamConnection> stream_;
  CoreTimer timer_;
  bool draining_ = false;
  bool drain_again_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace peerlink::runtime
