#include "src/runtime/mdns_service.h"

#include <sys/socket.h>

#include <boost/asio/ip/multicast.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>

#include "src/runtime/clock.h"
#include "src/runtime/endpoint.h"

namespace peerlink::runtime {

namespace asio = boost::asio;

namespace {
mdns::ResolverOptions V4Only(mdns::ResolverOptions o) {
  o.use_ipv4 = true;
  o.use_ipv6 = false;
  return o;
}
mdns::ResponderOptions V4Only(mdns::ResponderOptions o) {
  o.use_ipv4 = true;
  o.use_ipv6 = false;
  return o;
}
using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
}  // namespace

MdnsService::MdnsService(asio::io_context& io, MdnsServiceOptions options, Rng& rng)
    : io_(io),
      options_(std::move(options)),
      resolver_(V4Only(options_.resolver)),
      responder_(V4Only(options_.responder), rng),
      socket_(io),
      buffer_(mdns::kMaxMessageSize + 1),
      timer_(io, [this] {
        const Instant now = Now();
        resolver_.HandleTimeout(now);
        responder_.HandleTimeout(now);
        Drain();
      }) {}

MdnsService::~MdnsService() {
  Stop();
}

bool MdnsService::Start(std::string* error) {
  auto fail = [&](const char* step, const boost::system::error_code& ec) {
    if (error) *error = std::string("mdns: ") + step + ": " + ec.message();
    boost::system::error_code ignored;
    socket_.close(ignored);
    return false;
  };
  if (!options_.interface_address.is_v4()) {
    if (error) *error = "mdns: interface_address must be IPv4";
    return false;
  }
  boost::system::error_code ec;
  socket_.open(asio::ip::udp::v4(), ec);
  if (ec) return fail("open", ec);
  socket_.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail("SO_REUSEADDR", ec);
  socket_.set_option(ReusePort(true), ec);
  if (ec) return fail("SO_REUSEPORT", ec);
  socket_.bind(asio::ip::udp::endpoint(asio::ip::address_v4::any(), options_.port), ec);
  if (ec) return fail("bind", ec);
  const asio::ip::address_v4 iface = ToAsio(options_.interface_address).to_v4();
  const asio::ip::address_v4 group = ToAsio(mdns::MdnsGroupV4()).to_v4();
  socket_.set_option(asio::ip::multicast::join_group(group, iface), ec);
  if (ec) return fail("IP_ADD_MEMBERSHIP 224.0.0.251", ec);
  socket_.set_option(asio::ip::multicast::outbound_interface(iface), ec);
  if (ec) return fail("IP_MULTICAST_IF", ec);
  socket_.set_option(asio::ip::multicast::enable_loopback(options_.multicast_loop), ec);
  if (ec) return fail("IP_MULTICAST_LOOP", ec);
  socket_.set_option(asio::ip::multicast::hops(255), ec);
  if (ec) return fail("IP_MULTICAST_TTL", ec);
  socket_.non_blocking(true, ec);
  if (ec) return fail("non-blocking", ec);
  Log(options_.log, "mdns: listening on 0.0.0.0:" + std::to_string(options_.port) + ", group 224.0.0.251 on " +
                        options_.interface_address.ToString());
  ArmReceive();
  Drain();
  return true;
}

void MdnsService::Stop() {
  boost::system::error_code ignored;
  socket_.close(ignored);
  timer_.Arm(Instant::Max());
}

void MdnsService::ArmReceive() {
  std::weak_ptr<bool> alive = alive_;
  socket_.async_receive_from(asio::buffer(buffer_), sender_,
                             [this, alive](const boost::system::error_code& ec, size_t n) {
                               if (alive.expired() || ec == asio::error::operation_aborted) return;
                               if (!socket_.is_open()) return;
                               // A datagram longer than 9000 bytes is truncated: drop it (RFC 6762 section 17).
                               if (!ec && n <= mdns::kMaxMessageSize) {
                                 OnDatagram(FromEndpoint(sender_), ByteView(buffer_.data(), n));
                                 if (alive.expired()) return;
                               }
                               if (socket_.is_open()) ArmReceive();
                             });
}

void MdnsService::OnDatagram(const SocketAddress& from, ByteView data) {
  ++stats_.datagrams_received;
  const Instant now = Now();
  responder_.HandleDatagram(now, from, data);
  resolver_.HandleDatagram(now, from, data);
  Drain();
}

void MdnsService::Resolve(std::string_view name) {
  resolver_.Resolve(Now(), name);
  Drain();
}

void MdnsService::CancelResolve(std::string_view name) {
  resolver_.Cancel(name);
  Drain();
}

std::optional<std::string> MdnsService::Publish(const IpAddress& address) {
  auto name = responder_.Publish(Now(), address);
  Drain();
  return name;
}

bool MdnsService::Unpublish(std::string_view name) {
  const bool ok = responder_.Unpublish(Now(), name);
  Drain();
  return ok;
}

void MdnsService::Post(std::function<void(MdnsService&)> command) {
  std::weak_ptr<bool> alive = alive_;
  asio::post(io_, [this, alive, command = std::move(command)] {
    if (alive.expired()) return;
    command(*this);
    Drain();
  });
}

void MdnsService::Send(const mdns::Transmit& tx) {
  if (!socket_.is_open()) return;
  boost::system::error_code ec;
  socket_.send_to(asio::buffer(tx.data), ToUdpEndpoint(tx.destination), 0, ec);
  if (ec) {
    if (stats_.send_errors++ == 0)
      Log(options_.log, "mdns: send to " + tx.destination.ToString() + ": " + ec.message());
    return;
  }
  ++stats_.datagrams_sent;
}

void MdnsService::Drain() {
  if (draining_) {
    drain_again_ = true;
    return;
  }
  draining_ = true;
  std::weak_ptr<bool> alive = alive_;
  Instant deadline = Instant::Max();
  for (int pass = 0; pass < 100; ++pass) {
    drain_again_ = false;
    const Instant now = Now();
    // Bounded: each core's queue is finite and PollOutput only refills it for due timers.
    for (int i = 0; i < 100000; ++i) {
      mdns::ResponderOutput out = responder_.PollOutput(now);
      if (auto* tx = std::get_if<mdns::Transmit>(&out)) {
        Send(*tx);
        continue;
      }
      deadline = std::get<mdns::Deadline>(out).at;
      break;
    }
    for (int i = 0; i < 100000; ++i) {
      mdns::ResolverOutput out = resolver_.PollOutput(now);
      if (auto* tx = std::get_if<mdns::Transmit>(&out)) {
        Send(*tx);
      } else if (auto* ev = std::get_if<mdns::ResolverEvent>(&out)) {
        if (on_event_) on_event_(*ev);
        if (alive.expired()) return;
      } else {
        deadline = std::min(deadline, std::get<mdns::Deadline>(out).at);
        break;
      }
    }
    if (!drain_again_) break;
  }
  draining_ = false;
  timer_.Arm(deadline);
  // One line per answered query for a published name (rare: a peer resolving our candidate).
  if (responder_.stats().queries_answered > answers_logged_) {
    answers_logged_ = responder_.stats().queries_answered;
    Log(options_.log, "mdns: answered a query for a published name (" + std::to_string(answers_logged_) + " so far)");
  }
}

}  // namespace peerlink::runtime
