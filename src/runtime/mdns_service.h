// Drives the mDNS cores (mdns::Resolver, mdns::Responder) over one real UDP
// socket on port 5353 (IPv4).
//
// Start() opens a socket bound to 0.0.0.0:<port> with SO_REUSEADDR and
// SO_REUSEPORT (so it coexists with avahi / a browser on the same host), joins
// 224.0.0.251 on the interface whose IPv4 address is
// MdnsServiceOptions::interface_address, sends multicast out of that interface
// (IP_MULTICAST_IF) with IP TTL 255 (RFC 6762 section 11) and, when asked,
// IP_MULTICAST_LOOP on (tests on loopback, and resolving our own names).
// Then, on the io_context thread:
//   datagram         -> Responder::HandleDatagram and Resolver::HandleDatagram
//   timer expiry     -> both cores' HandleTimeout
//   Transmit         -> sent from the socket
//   ResolverEvent    -> on_event
// and after every input both cores are drained and one timer is armed for the
// earlier of their deadlines.
//
// IPv6 ([ff02::fb]) is not driven yet: the cores support it, this runner
// forces use_ipv6 off.
//
// Threading: one io_context thread. Every method except Post() must run on
// that thread (or before it runs); on_event runs on it and may call the
// service's methods. Post() is thread-safe.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/base/rng.h"
#include "src/mdns/resolver.h"
#include "src/mdns/responder.h"
#include "src/runtime/core_timer.h"
#include "src/runtime/log.h"

namespace peerlink::runtime {

struct MdnsServiceOptions {
  // IPv4 address of the interface to join the group on and send from
  // (127.0.0.1 for loopback tests; a LAN address in production).
  IpAddress interface_address = IpAddress::Loopback(IpFamily::kV4);
  uint16_t port = mdns::kMdnsPort;  // only tests inside their own namespace change it
  bool multicast_loop = true;
  mdns::ResolverOptions resolver;
  mdns::ResponderOptions responder;
  LogFn log;
};

struct MdnsServiceStats {
  uint64_t datagrams_received = 0;
  uint64_t datagrams_sent = 0;
  uint64_t send_errors = 0;
};

class MdnsService {
 public:
  using EventHandler = std::function<void(const mdns::ResolverEvent&)>;

  MdnsService(boost::asio::io_context& io, MdnsServiceOptions options, Rng& rng);
  ~MdnsService();
  MdnsService(const MdnsService&) = delete;
  MdnsService& operator=(const MdnsService&) = delete;

  void set_on_event(EventHandler handler) { on_event_ = std::move(handler); }

  // Opens, configures and binds the socket and joins the group. Returns false
  // with *error naming the failing step.
  [[nodiscard]] bool Start(std::string* error);
  void Stop();

  // Loop-thread calls (each calls the core, then drains).
  void Resolve(std::string_view name);
  void CancelResolve(std::string_view name);
  [[nodiscard]] std::optional<std::string> Publish(const IpAddress& address);
  bool Unpublish(std::string_view name);

  // Thread-safe: runs `command` on the loop thread, then drains.
  void Post(std::function<void(MdnsService&)> command);

  const mdns::Resolver& resolver() const { return resolver_; }
  const mdns::Responder& responder() const { return responder_; }
  const MdnsServiceStats& stats() const { return stats_; }
  std::optional<Instant> next_deadline() const { return timer_.armed(); }

 private:
  void ArmReceive();
  void OnDatagram(const SocketAddress& from, ByteView data);
  void Send(const mdns::Transmit& tx);
  void Drain();

  boost::asio::io_context& io_;
  MdnsServiceOptions options_;
  mdns::Resolver resolver_;
  mdns::Responder responder_;
  boost::asio::ip::udp::socket socket_;
  boost::asio::ip::udp::endpoint sender_;
  std::vector<uint8_t> buffer_;
  EventHandler on_event_;
  CoreTimer timer_;
  MdnsServiceStats stats_;
  bool draining_ = false;
  uint64_t answers_logged_ = 0;  // responder queries answered, as of the last log line
  bool drain_again_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace peerlink::runtime
