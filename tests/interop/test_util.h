// Helpers shared by the interop tests.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <ostream>

#include "src/base/socket_address.h"

namespace peerlink {
// gtest prints addresses readably.
inline void PrintTo(const SocketAddress& a, std::ostream* os) {
  *os << a.ToString();
}
inline void PrintTo(const IpAddress& a, std::ostream* os) {
  *os << a.ToString();
}
}  // namespace peerlink

namespace peerlink::interop {

// Runs `io` on the calling thread until `done()` or `timeout` passes (bounded
// in time; each step waits at most 20 ms). Returns done().
template <typename Pred>
bool RunUntil(boost::asio::io_context& io, Pred done, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!done() && std::chrono::steady_clock::now() < end) {
    if (io.stopped()) io.restart();
    io.run_one_for(std::chrono::milliseconds(20));
  }
  return done();
}

// Runs `io` for `d` regardless (for "nothing else happens" checks).
inline void RunFor(boost::asio::io_context& io, std::chrono::milliseconds d) {
  RunUntil(
      io, [] { return false; }, d);
}

}  // namespace peerlink::interop
