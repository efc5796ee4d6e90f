// Receive side of the runtime's UDP socket (src/runtime/udp_socket.*): one recvmsg per read
// against recvmmsg (UdpSocketOptions::recv_batch), with datagrams from one sender and from many
// (a UdpMux's peers: GRO cannot coalesce datagrams of different flows, so each needs a read).
//
// Each round queues a burst of 1200-byte datagrams on the receiving socket (sent in turn from N
// sockets, before the receiver runs), then lets the socket's own receive loop drain them; the
// receiver's thread CPU time is measured over the drains only. So the figure is the cost of
// reading a backlog, the situation of a busy server, where batching can pay; a receiver that
// wakes up for every datagram reads one per call either way. Figures: receiver CPU ns per
// datagram, system calls per datagram, and datagrams lost (the kernel's queue overflowed).
// Loopback only. Prints JSON, with the recvmsg / recvmmsg ratios per sender count.
//
//   udp_recv_bench [--quick] [--out FILE]
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
  int senders = 0, recv_batch = 0;
  uint64_t sent = 0, received = 0, calls = 0;
  double cpu_ns_per_datagram = 0, calls_per_datagram = 0;
};

Result Run(int senders, int recv_batch, uint64_t datagrams) {
  constexpr uint64_t kBurst = 1000;  // ~2.3 MB of kernel memory (truesize), below the 4 MiB buffer
  Result r;
  r.senders = senders;
  r.recv_batch = recv_batch;
  boost::asio::io_context io;
  UdpSocketOptions ro;
  ro.recv_batch = recv_batch;
  UdpSocket rx(io, ro);
  if (rx.Bind(SocketAddress(IpAddress::Loopback(IpFamily::kV4), 0))) return r;
  uint64_t received = 0;
  rx.StartReceiving([&](const SocketAddress&, const SocketAddress&, ByteView data) { received += data.size() > 0; });
  std::vector<std::unique_ptr<UdpSocket>> tx;
  for (int i = 0; i < senders; ++i) {
    tx.push_back(std::make_unique<UdpSocket>(io));  // never started: only written to
    if (tx.back()->Bind(SocketAddress(IpAddress::Loopback(IpFamily::kV4), 0))) return r;
  }
  const std::vector<uint8_t> payload(1200, 0x5A);
  double cpu = 0;
  uint64_t sent = 0;
  for (uint64_t round = 0; round < datagrams / kBurst; ++round) {
    for (uint64_t i = 0; i < kBurst; ++i) {
      if (!tx[(round * kBurst + i) % tx.size()]->SendTo(rx.local_address(), payload)) ++sent;
    }
    const double cpu0 = ThreadCpuSeconds();
    // Bounded: ends when everything sent arrived, or after 2000 idle polls (a loss).
    for (int idle = 0; received < sent && idle < 2000;) {
      idle = io.poll() > 0 ? 0 : idle + 1;
    }
    cpu += ThreadCpuSeconds() - cpu0;
  }
  r.sent = sent;
  r.received = received;
  r.calls = rx.stats().receive_calls;
  bench::SetPerDatagram(r, cpu, received);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const auto args = bench::ParseUdpBenchArgs(argc, argv, 20000, 400000);
  std::ostringstream json, ratios;  // the results, one per line; the ratios
  bool ok = true, first = true;
  for (int senders : {1, 32}) {
    Result base = bench::MedianByCpu(args.runs, [&] { return Run(senders, 1, args.datagrams); });
    Result batched = bench::MedianByCpu(args.runs, [&] { return Run(senders, 16, args.datagrams); });
    for (const Result* r : {&base, &batched}) {
      ok &= r->received > 0;
      char buf[512];
      std::snprintf(buf, sizeof buf,
                    "%s    {\"senders\": %d, \"recv_batch\": %d, \"sent\": %llu, \"received\": %llu, "
                    "\"receive_calls\": %llu, \"calls_per_datagram\": %.3f, \"cpu_ns_per_datagram\": %.1f}",
                    first ? "" : ",\n", r->senders, r->recv_batch, static_cast<unsigned long long>(r->sent),
                    static_cast<unsigned long long>(r->received), static_cast<unsigned long long>(r->calls),
                    r->calls_per_datagram, r->cpu_ns_per_datagram);
      json << buf;
      first = false;
    }
    char buf[256];
    std::snprintf(buf, sizeof buf, "%s    {\"senders\": %d, \"cpu_per_datagram_recvmsg_over_recvmmsg\": %.2f}",
                  senders == 1 ? "" : ",\n", senders,
                  batched.cpu_ns_per_datagram > 0 ? base.cpu_ns_per_datagram / batched.cpu_ns_per_datagram : 0.0);
    ratios << buf;
  }
  bench::EmitUdpJson(args.datagrams, args.runs, json.str(), ratios.str(), args.out_file);
  return ok ? 0 : 1;
}
