// `peerlink signal`: a y-webrtc-compatible signaling (rendezvous) server, and
// `peerlink signal token`: mints room tokens for a server started with --token-secret.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <charconv>
#include <csignal>
#include <iostream>
#include <string>

#include "src/runtime/clock.h"
#include "src/runtime/signaling_server.h"
#include "src/signaling/token.h"
#include "tools/peerlink/commands.h"
#include "tools/peerlink/lines.h"

namespace peerlink::cli {

namespace {

// "100", "100/s", "2.5/s" -> messages per second.
std::optional<double> ParseRate(std::string_view text) {
  if (text.ends_with("/s")) text.remove_suffix(2);
  double v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v < 0) return std::nullopt;
  return v;
}

Duration SecondsToDuration(double s) {
  return Duration::Nanos(static_cast<int64_t>(s * 1e9));
}

}  // namespace

int RunSignalToken(const SignalTokenOptions& options) {
  if (options.secret.empty() || options.rooms.empty()) {
    LogLine("signal", "token needs --secret and at least one --room");
    return kExitUsage;
  }
  const int64_t exp = runtime::UnixSeconds() + options.ttl_s;
  std::cout << signaling::MintToken(options.secret, options.rooms, exp) << std::endl;
  return kExitOk;
}

int RunSignal(const SignalOptions& options) {
  auto listen = SocketAddress::Parse(options.listen);
  if (!listen) {
    LogLine("signal", "--listen wants IP:PORT or [IPv6]:PORT, got '" + options.listen + "'");
    return kExitUsage;
  }
  auto rate = ParseRate(options.rate);
  if (!rate) {
    LogLine("signal", "--rate wants N or N/s, got '" + options.rate + "'");
    return kExitUsage;
  }
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    LogLine("signal", "--tls-cert and --tls-key go together");
    return kExitUsage;
  }
  runtime::SignalingServerOptions o;
  o.core.max_message_size = options.max_message_size;
  o.core.rate_per_second = *rate;
  o.core.rate_burst = options.burst > 0 ? options.burst : std::max(1.0, 2 * *rate);
  o.core.max_topics = options.max_topics;
  o.core.max_conns_per_ip = options.max_conns_per_ip;
  o.core.idle_timeout = SecondsToDuration(options.idle_timeout_s);
  o.core.ping_interval = SecondsToDuration(options.ping_interval_s);
  o.token_secret = options.token_secret;
  o.tls_cert_file = options.tls_cert;
  o.tls_key_file = options.tls_key;
  o.redis_url = options.redis;
  o.server_id = options.server_id;
  o.max_connections = options.max_conns;
  o.max_write_queue_bytes = options.max_write_queue;
  o.write_coalesce = SecondsToDuration(options.write_coalesce_ms / 1000);

  boost::asio::io_context io(1);
  // Structured logs: one JSON object per line on stderr.
  runtime::SignalingServer server(io, o, [](std::string_view line) {
    std::string l(line);
    l.push_back('\n');
    std::fwrite(l.data(), 1, l.size(), stderr);
  });
  if (auto err = server.Start(*listen); !err.empty()) {
    LogLine("signal", err);
    return kExitFailure;
  }
  int stop_signal = 0;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    stop_signal = sig;
    // Stop accepting, close every client with 1001, exit within the grace period.
    server.Shutdown(SecondsToDuration(options.shutdown_grace_s), [&io] { io.stop(); });
  });
  io.run();
  (void)stop_signal;
  return kExitOk;
}

}  // namespace peerlink::cli
