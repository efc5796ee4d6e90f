// Send side of the runtime's UDP socket (src/runtime/udp_socket.*): QueueSend / FlushSends with
// one sendmsg per destination (UdpSocketOptions::send_batch = 1) against sendmmsg carrying up to
// 32 destinations per call (the default), the situation of a UdpMux answering many peers at the
// end of one receive batch.
//
// Each burst queues `per_destination` 1200-byte datagrams to each of N destinations (one GSO
// batch per destination, as a connection's drain produces them), then flushes; the sender's
// thread CPU time is measured over the queueing and flushing only. Between bursts the
// receivers' own loops empty them (not measured). On loopback the kernel delivers to the receiving
// socket inside the send call, so the figure includes that delivery for both settings.
// Figures: sender CPU ns per datagram, send system calls per datagram, datagrams lost.
// Loopback only. Prints JSON, with the sendmsg / sendmmsg CPU ratios.
//
//   udp_send_bench [--quick] [--out FILE]
#include <time.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bench/udp_bench_util.h"
#include "src/base/socket_address.h"
#include "src/runtime/udp_socket.h"

using namespace peerlink;
using peerlink::bench::ThreadCpuSeconds;
using peerlink::runtime::UdpSocket;
using peerlink::runtime::UdpSocketOptions;

namespace {

struct Result {
  int destinations = 0, per_destination = 0, send_batch = 0;
  uint64_t sent = 0, received = 0, calls = 0;
  double cpu_ns_per_datagram = 0, calls_per_datagram = 0;
};

Result Run(int destinations, int per_destination, int send_batch, uint64_t datagrams) {
  Result r;
  r.destinations = destinations;
  r.per_destination = per_destination;
  r.send_batch = send_batch;
  boost::asio::io_context io;
  UdpSocketOptions to;
  to.send_batch = send_batch;
  UdpSocket tx(io, to);
  if (tx.Bind(SocketAddress(IpAddress::Loopback(IpFamily::kV4), 0))) return r;
  std::vector<std::unique_ptr<UdpSocket>> rx;
  for (int i = 0; i < destinations; ++i) {
    rx.push_back(std::make_unique<UdpSocket>(io));
    if (rx.back()->Bind(SocketAddress(IpAddress::Loopback(IpFamily::kV4), 0))) return r;
    rx.back()->StartReceiving([&](const SocketAddress&, const SocketAddress&, ByteView) { ++r.received; });
  }
  const std::vector<uint8_t> payload(1200, 0x5A);
  const uint64_t burst = static_cast<uint64_t>(destinations) * static_cast<uint64_t>(per_destination);
  double cpu = 0;
  for (uint64_t round = 0; round < datagrams / burst; ++round) {
    const double cpu0 = ThreadCpuSeconds();
    for (int d = 0; d < destinations; ++d) {
      for (int k = 0; k < per_destination; ++k)
        tx.QueueSend(rx[static_cast<size_t>(d)]->local_address(), payload);
    }
    tx.FlushSends();
    cpu += ThreadCpuSeconds() - cpu0;
    // Bounded: ends when everything sent arrived, or after 2000 idle polls (a loss).
    for (int idle = 0; r.received < tx.stats().datagrams_sent && idle < 2000;) {
      idle = io.poll() > 0 ? 0 : idle + 1;
    }
  }
  r.sent = tx.stats().datagrams_sent;
  r.calls = tx.stats().send_calls;
  bench::SetPerDatagram(r, cpu, r.sent);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const auto args = bench::ParseUdpBenchArgs(argc, argv, 6400, 320000);
  std::ostringstream json, ratios;  // the results, one per line; the ratios
  bool ok = true, first = true;
  for (auto [destinations, per_destination] : {std::pair{1, 4}, {32, 1}, {32, 4}}) {
    Result base = bench::MedianByCpu(args.runs, [&] { return Run(destinations, per_destination, 1, args.datagrams); });
    Result batched =
        bench::MedianByCpu(args.runs, [&] { return Run(destinations, per_destination, 32, args.datagrams); });
    for (const Result* r : {&base, &batched}) {
      ok &= r->sent > 0 && r->received > 0;
      char buf[512];
      std::snprintf(buf, sizeof buf,
                    "%s    {\"destinations\": %d, \"per_destination\": %d, \"send_batch\": %d, \"sent\": %llu, "
                    "\"received\": %llu, \"send_calls\": %llu, \"calls_per_datagram\": %.3f, "
                    "\"cpu_ns_per_datagram\": %.1f}",
                    first ? "" : ",\n", r->destinations, r->per_destination, r->send_batch,
                    static_cast<unsigned long long>(r->sent), static_cast<unsigned long long>(r->received),
                    static_cast<unsigned long long>(r->calls), r->calls_per_datagram, r->cpu_ns_per_datagram);
      json << buf;
      first = false;
    }
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "%s    {\"destinations\": %d, \"per_destination\": %d, "
                  "\"cpu_per_datagram_sendmsg_over_sendmmsg\": %.2f}",
                  ratios.tellp() == 0 ? "" : ",\n", destinations, per_destination,
                  batched.cpu_ns_per_datagram > 0 ? base.cpu_ns_per_datagram / batched.cpu_ns_per_datagram : 0.0);
    ratios << buf;
  }
  bench::EmitUdpJson(args.datagrams, args.runs, json.str(), ratios.str(), args.out_file);
  return ok ? 0 : 1;
}
