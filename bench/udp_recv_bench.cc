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

#include "src/base/socket_address.h"
#include "src/runtime/udp_socket.h"

using namespace peerlink;
using peerlink::runtime::UdpSocket;
using peerlink::runtime::UdpSocketOptions;

namespace {

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

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
  if (received > 0) {
    r.cpu_ns_per_datagram = cpu * 1e9 / static_cast<double>(received);
    r.calls_per_datagram = static_cast<double>(r.calls) / static_cast<double>(received);
  }
  return r;
}

Result Median(int senders, int recv_batch, uint64_t datagrams, int runs) {
  std::vector<Result> rs;
  for (int i = 0; i < runs; ++i)
    rs.push_back(Run(senders, recv_batch, datagrams));
  std::sort(rs.begin(), rs.end(),
            [](const Result& a, const Result& b) { return a.cpu_ns_per_datagram < b.cpu_ns_per_datagram; });
  return rs[rs.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string out_file;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    if (!std::strcmp(argv[i], "--out") && i + 1 < argc) out_file = argv[++i];
  }
  const uint64_t datagrams = quick ? 20000 : 400000;
  const int runs = quick ? 1 : 3;
  std::ostringstream json;
  json << "{\n  \"datagram_bytes\": 1200, \"datagrams_per_run\": " << datagrams << ", \"runs\": " << runs
       << ",\n  \"median_of_runs_by\": \"cpu_ns_per_datagram\",\n  \"results\": [\n";
  std::ostringstream ratios;
  bool ok = true;
  bool first = true;
  for (int senders : {1, 32}) {
    Result base = Median(senders, 1, datagrams, runs);
    Result batched = Median(senders, 16, datagrams, runs);
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
  json << "\n  ],\n  \"ratios\": [\n" << ratios.str() << "\n  ]\n}\n";
  std::fputs(json.str().c_str(), stdout);
  if (!out_file.empty()) std::ofstream(out_file) << json.str();
  return ok ? 0 : 1;
}
