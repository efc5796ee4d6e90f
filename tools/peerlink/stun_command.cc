// `peerlink stun`: a STUN Binding server (RFC 8489) on UDP.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <string>
#include <vector>

#include "src/runtime/stun_server_runner.h"
#include "tools/peerlink/commands.h"
#include "tools/peerlink/lines.h"

namespace peerlink::cli {

int RunStun(const StunOptions& options) {
  const bool defaults = options.listen.empty();
  const std::vector<std::string> listen =
      defaults ? std::vector<std::string>{"0.0.0.0:3478", "[::]:3478"} : options.listen;
  std::vector<SocketAddress> addresses;
  for (const auto& text : listen) {
    auto addr = SocketAddress::Parse(text);
    if (!addr) {
      LogLine("stun", "--listen wants IP:PORT or [IPv6]:PORT, got '" + text + "'");
      return kExitUsage;
    }
    addresses.push_back(*addr);
  }

  boost::asio::io_context io;
  runtime::StunServerRunner server(io, options.software, [](std::string_view line) { LogLine("stun", line); });
  std::string bound;
  for (const auto& addr : addresses) {
    if (auto ec = server.Listen(addr)) {
      // The default IPv6 listener is best effort (hosts without IPv6); an
      // address the user asked for is not.
      if (defaults && addr.ip().is_v6()) {
        LogLine("stun", "IPv6 listener " + addr.ToString() + " unavailable (" + ec.message() + "); IPv4 only");
        continue;
      }
      LogLine("stun", "cannot listen on " + addr.ToString() + ": " + ec.message());
      return kExitFailure;
    }
    bound += (bound.empty() ? "" : ", ") + server.local_addresses().back().ToString();
  }
  LogLine("stun", "listening on " + bound + " (software \"" + options.software + "\")");

  int stop_signal = 0;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    stop_signal = sig;
    io.stop();
  });
  io.run();
  const auto& s = server.stats();
  LogLine("stun", std::string("stopped by ") + (stop_signal == SIGINT ? "SIGINT" : "SIGTERM") + "; " +
                      std::to_string(s.requests) + " requests, " + std::to_string(s.responses) + " responses, " +
                      std::to_string(s.errors_sent) + " errors, " + std::to_string(s.dropped) + " dropped");
  // Stopping a server by signal is its normal end.
  return kExitOk;
}

}  // namespace peerlink::cli
