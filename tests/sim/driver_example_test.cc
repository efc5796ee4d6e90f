// How a sans-I/O core is driven inside the simulator (see README.md, "Driving a sans-I/O core").
//
// PingCore is a toy core with the project's core contract: HandleDatagram / HandleTimeout inputs and PollOutput
// returning Transmit | Event | Deadline. PingDriver is the glue the real layers' simulation tests copy: bind a
// socket, feed received datagrams to the core, drain outputs, arm exactly one timer for the core's deadline.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <variant>
#include <vector>

#include "src/base/check.h"
#include "tests/sim/network.h"
#include "tests/sim/sim_test_util.h"

namespace peerlink::sim {
namespace {

using testing::At;
using testing::Ip;

// Sends "PING" to a peer every 100 ms until a "PONG" arrives; gives up after kMaxAttempts.
class PingCore {
 public:
  static constexpr int kMaxAttempts = 5;
  static constexpr Duration kRetransmit = Duration::Millis(100);

  struct Transmit {
    SocketAddress to;
    std::vector<uint8_t> payload;
  };
  struct Event {
    bool success = false;
    int attempts = 0;
    Instant at;
  };
  struct Deadline {
    Instant at;  // Instant::Max(): nothing to wake up for
  };
  using Output = std::variant<Transmit, Event, Deadline>;

  PingCore(const SocketAddress& peer, Instant now) : peer_(peer), next_send_(now) {}

  void HandleDatagram(Instant now, const SocketAddress& from, ByteView payload) {
    if (done_ || from != peer_ || AsString(payload) != "PONG") return;
    done_ = true;
    event_ = Event{true, attempts_, now};
  }

  void HandleTimeout(Instant now) {
    if (done_ || now < next_send_) return;
    if (attempts_ == kMaxAttempts) {
      done_ = true;
      event_ = Event{false, attempts_, now};
      return;
    }
    ++attempts_;
    transmit_pending_ = true;
    next_send_ = now + kRetransmit;
  }

  Output PollOutput(Instant now) {
    if (transmit_pending_) {
      transmit_pending_ = false;
      const std::string_view ping = "PING";
      return Transmit{peer_, std::vector<uint8_t>(ping.begin(), ping.end())};
    }
    if (event_) {
      Event e = *event_;
      event_.reset();
      return e;
    }
    if (done_) return Deadline{Instant::Max()};
    return Deadline{std::max(now, next_send_)};
  }

 private:
  SocketAddress peer_;
  Instant next_send_;
  int attempts_ = 0;
  bool transmit_pending_ = false;
  bool done_ = false;
  std::optional<Event> event_;
};

// The glue between the simulator and a core.
class PingDriver {
 public:
  PingDriver(Network& net, HostId host, const SocketAddress& peer) : net_(net), core_(peer, net.now()) {
    local_ = net_.Bind(host, 0, [this](Instant now, const SocketAddress& from, const SocketAddress&, ByteView p) {
      core_.HandleDatagram(now, from, p);
      Drain(now);  // after any input, drain again
    });
    Drain(net_.now());
  }
  ~PingDriver() {
    if (timer_) net_.Cancel(*timer_);
    net_.Unbind(local_);
  }

  const std::vector<PingCore::Event>& events() const { return events_; }

 private:
  void Drain(Instant now) {
    // Bounded: a core that never yields a Deadline is a bug, caught here instead of hanging the test.
    for (int i = 0; i < 1000; ++i) {
      PingCore::Output out = core_.PollOutput(now);
      if (auto* t = std::get_if<PingCore::Transmit>(&out)) {
        net_.Send(local_, t->to, t->payload);
      } else if (auto* e = std::get_if<PingCore::Event>(&out)) {
        events_.push_back(*e);
      } else {
        ArmTimer(std::get<PingCore::Deadline>(out).at);
        return;
      }
    }
    PL_CHECK(false);
  }

  // One timer per core: re-arm only when the deadline moves.
  void ArmTimer(Instant at) {
    if (timer_ && timer_at_ == at) return;
    if (timer_) net_.Cancel(*timer_);
    timer_.reset();
    if (at == Instant::Max()) return;
    timer_at_ = at;
    timer_ = net_.ScheduleAt(at, [this](Instant now) {
      timer_.reset();
      core_.HandleTimeout(now);
      Drain(now);
    });
  }

  Network& net_;
  PingCore core_;
  SocketAddress local_;
  std::optional<TimerId> timer_;
  Instant timer_at_;
  std::vector<PingCore::Event> events_;
};

// Answers every PING with a PONG.
SocketAddress BindPonger(Network& net, HostId host, uint16_t port) {
  return net.Bind(host, port, [&net](Instant, const SocketAddress& from, const SocketAddress& to, ByteView p) {
    if (AsString(p) == "PING") net.Send(to, from, AsBytes("PONG"));
  });
}

TEST(SimDriverExampleTest, PingSucceedsThroughASymmetricNatOverALossyLink) {
  Network net(21);
  LinkConditions lossy;
  lossy.latency = Duration::Millis(20);
  lossy.loss = 0.3;
  NatId nat = net.AddNat(Ip(203, 0, 113, 1), SymmetricNat(), lossy);
  HostId client = net.AddPrivateHost(nat, Ip(10, 0, 0, 2));
  HostId server = net.AddPublicHost(Ip(198, 51, 100, 1));
  SocketAddress server_addr = BindPonger(net, server, 7);
  PingDriver driver(net, client, server_addr);
  ASSERT_TRUE(net.RunUntilCondition([&] { return !driver.events().empty(); }, At(Duration::Seconds(5))));
  ASSERT_EQ(driver.events().size(), 1u);
  EXPECT_TRUE(driver.events()[0].success);
  // With 30% loss each way on a 40 ms round trip, the first ping may be lost; at most 5 are sent.
  EXPECT_GE(driver.events()[0].attempts, 1);
  EXPECT_LE(driver.events()[0].attempts, PingCore::kMaxAttempts);
  // The driver disarmed its timer when the core finished, so the network goes idle.
  EXPECT_TRUE(net.RunUntilIdle(At(Duration::Seconds(10))));
}

TEST(SimDriverExampleTest, PingGivesUpWhenEveryPingIsFiltered) {
  Network net(21);
  HostId client = net.AddPublicHost(Ip(198, 51, 100, 2));
  HostId server = net.AddPublicHost(Ip(198, 51, 100, 1));
  SocketAddress server_addr = BindPonger(net, server, 7);
  net.SetDropFilter([](const SocketAddress&, const SocketAddress&, ByteView p) { return AsString(p) == "PING"; });
  PingDriver driver(net, client, server_addr);
  EXPECT_TRUE(net.RunUntilIdle(At(Duration::Seconds(5))));
  ASSERT_EQ(driver.events().size(), 1u);
  EXPECT_FALSE(driver.events()[0].success);
  EXPECT_EQ(driver.events()[0].attempts, PingCore::kMaxAttempts);
  EXPECT_EQ(driver.events()[0].at, At(PingCore::kRetransmit * PingCore::kMaxAttempts));
  EXPECT_EQ(net.stats().drops(DropReason::kFilter), static_cast<uint64_t>(PingCore::kMaxAttempts));
  EXPECT_EQ(net.stats().delivered, 0u);
}

}  // namespace
}  // namespace peerlink::sim
