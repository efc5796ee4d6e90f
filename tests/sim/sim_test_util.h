// Shared helpers for the simulator's own tests.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "src/base/byte_io.h"
#include "src/base/socket_address.h"
#include "src/base/time.h"
#include "tests/sim/network.h"

namespace peerlink::sim::testing {

inline IpAddress Ip(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return IpAddress::V4(a, b, c, d);
}

inline Instant At(Duration d) {
  return Instant::Zero() + d;
}

// A payload of `size` bytes (at least 4) starting with a big-endian sequence number.
inline std::vector<uint8_t> Numbered(uint32_t seq, size_t size = 4) {
  std::vector<uint8_t> bytes(std::max<size_t>(size, 4));
  ByteWriter w(bytes);
  w.U32(seq);
  return bytes;
}

inline uint32_t SeqOf(ByteView payload) {
  ByteReader r(payload);
  return r.U32();
}

struct Delivery {
  Instant at;
  SocketAddress from;
  SocketAddress to;
  std::vector<uint8_t> payload;
};

// Binds `port` on `host` and appends every datagram it receives to `log`.
inline SocketAddress BindRecorder(Network& net, HostId host, uint16_t port, std::vector<Delivery>& log) {
  return net.Bind(host, port, [&log](Instant now, const SocketAddress& from, const SocketAddress& to, ByteView p) {
    log.push_back({now, from, to, std::vector<uint8_t>(p.begin(), p.end())});
  });
}

}  // namespace peerlink::sim::testing
