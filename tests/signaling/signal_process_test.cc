// The real `peerlink signal` process: SIGTERM shutdown, and Redis scale-out
// across three processes sharing a room through a redis-server this test starts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/signaling/ws_client.h"

namespace peerlink::signaling::testing {
namespace {

namespace http = beast::http;
using nlohmann::json;
using Ms = std::chrono::milliseconds;

extern "C" char** environ;

uint16_t FreePort() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

class Process {
 public:
  explicit Process(std::vector<std::string> argv) {
    std::vector<char*> args;
    for (auto& a : argv)
      args.push_back(a.data());
    args.push_back(nullptr);
    if (posix_spawn(&pid_, args[0], nullptr, nullptr, args.data(), environ) != 0) pid_ = -1;
  }
  ~Process() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  bool ok() const { return pid_ > 0; }
  void Signal(int sig) { ::kill(pid_, sig); }
  // Exit status, or nullopt if still running after `timeout`.
  std::optional<int> Wait(Ms timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(Ms(10));
    }
    return std::nullopt;
  }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
};

std::string HttpGet(uint16_t port, const std::string& target) {
  try {
    asio::io_context io;
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(2));
    stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    http::request<http::empty_body> req(http::verb::get, target, 11);
    req.set(http::field::host, "127.0.0.1");
    http::write(stream, req);
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(stream, buf, res);
    return res.body();
  } catch (const std::exception&) {
    return "";
  }
}

// Polls GET `target` until the body contains `needle` (bounded).
bool WaitFor(uint16_t port, const std::string& target, const std::string& needle, Ms timeout = Ms(5000)) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (HttpGet(port, target).find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(Ms(20));
  }
  return false;
}

bool Exists(const std::string& path) {
  return ::access(path.c_str(), X_OK) == 0;
}

TEST(SignalProcess, SigtermClosesClientsWithGoingAwayAndExitsZero) {
  const uint16_t port = FreePort();
  Process p({PEERLINK_CLI, "signal", "--listen", "127.0.0.1:" + std::to_string(port)});
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(WaitFor(port, "/healthz", "ok"));
  WsClient a, b;
  ASSERT_TRUE(a.Connect(port));
  ASSERT_TRUE(b.Connect(port));
  ASSERT_TRUE(a.Send(R"({"type":"subscribe","topics":["r"]})"));
  ASSERT_TRUE(a.Send(R"({"type":"ping"})"));
  ASSERT_TRUE(a.Read());
  const auto t0 = std::chrono::steady_clock::now();
  p.Signal(SIGTERM);
  ASSERT_TRUE(a.WaitClosed());
  ASSERT_TRUE(b.WaitClosed());
  EXPECT_EQ(a.close_code(), 1001);
  EXPECT_EQ(b.close_code(), 1001);
  auto status = p.Wait(Ms(5000));
  ASSERT_TRUE(status) << "peerlink signal still running 5 s after SIGTERM";
  EXPECT_EQ(*status, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

TEST(SignalProcess, UsageErrorsExitTwo) {
  Process p({PEERLINK_CLI, "signal", "--listen", "nonsense"});
  ASSERT_TRUE(p.ok());
  auto status = p.Wait(Ms(5000));
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, 2);
}

// Three servers, one Redis, six clients in one room (two per server): every
// published message reaches every client exactly once.
TEST(SignalProcess, RedisScaleOutDeliversEveryMessageExactlyOnce) {
  const std::string redis = "/usr/bin/redis-server";
  ASSERT_TRUE(Exists(redis)) << "redis-server missing: run scripts/install-deps.sh";
  const uint16_t redis_port = FreePort();
  Process r({redis, "--port", std::to_string(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--loglevel", "warning"});
  ASSERT_TRUE(r.ok());
  const std::string url = "redis://127.0.0.1:" + std::to_string(redis_port);
  std::vector<uint16_t> ports;
  std::vector<std::unique_ptr<Process>> servers;
  for (int i = 0; i < 3; ++i) {
    ports.push_back(FreePort());
    servers.push_back(std::make_unique<Process>(
        std::vector<std::string>{PEERLINK_CLI, "signal", "--listen", "127.0.0.1:" + std::to_string(ports.back()),
                                 "--redis", url, "--server-id", "s" + std::to_string(i)}));
    ASSERT_TRUE(servers.back()->ok());
  }
  for (uint16_t port : ports) {
    ASSERT_TRUE(WaitFor(port, "/metrics", "peerlink_signal_redis_connected 1\n", Ms(10000)))
        << "server on " << port << " never connected to Redis";
  }
  constexpr int kClients = 6, kMessages = 20;
  std::vector<std::unique_ptr<WsClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<WsClient>());
    ASSERT_TRUE(clients.back()->Connect(ports[i % 3]));
    ASSERT_TRUE(clients.back()->Send(R"({"type":"subscribe","topics":["shared"]})"));
  }
  for (uint16_t port : ports) {
    ASSERT_TRUE(WaitFor(port, "/metrics", "peerlink_signal_redis_channels 1\n")) << "server on " << port;
  }
  for (int m = 0; m < kMessages; ++m) {
    for (int i = 0; i < kClients; ++i) {
      ASSERT_TRUE(clients[i]->Send(json({{"type", "publish"}, {"topic", "shared"}, {"from", i}, {"seq", m}}).dump()));
    }
  }
  for (int i = 0; i < kClients; ++i) {
    std::map<std::pair<int, int>, int> seen;
    int total = 0;
    while (total < kClients * kMessages) {
      auto msg = clients[i]->Read(Ms(5000));
      ASSERT_TRUE(msg) << "client " << i << " got " << total << " of " << kClients * kMessages;
      auto j = json::parse(*msg);
      ++seen[{j["from"].get<int>(), j["seq"].get<int>()}];
      EXPECT_EQ(j["clients"], 2);  // local subscribers of the receiving server
      ++total;
    }
    EXPECT_FALSE(clients[i]->Read(Ms(300))) << "client " << i << " got a duplicate";
    EXPECT_EQ(seen.size(), static_cast<size_t>(kClients * kMessages));
    for (const auto& [key, count] : seen)
      EXPECT_EQ(count, 1) << "from " << key.first << " seq " << key.second;
  }
  clients.clear();
  for (auto& s : servers)
    s->Signal(SIGTERM);
  for (auto& s : servers)
    EXPECT_EQ(s->Wait(Ms(6000)), std::optional<int>(0));
  r.Signal(SIGTERM);
  r.Wait(Ms(5000));
}

}  // namespace
}  // namespace peerlink::signaling::testing
