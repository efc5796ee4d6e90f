// Real multicast on loopback: two MdnsService instances (a publisher and a
// resolver) on port 5353 in a network namespace this test process creates
// (unshare(CLONE_NEWNET)), where lo gets the MULTICAST flag and a route for
// 224.0.0.0/4 (this kernel's lo has no MULTICAST flag by default). Needs root;
// fails, never skips, without it. The namespace dies with the process, so
// nothing leaks and port 5353 of the host is never touched.
#include "src/runtime/mdns_service.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdlib>

#include "src/runtime/clock.h"

namespace peerlink::runtime {
namespace {

class MdnsServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Each test runs in its own ctest process, so this is once per process.
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET) needs root";
    ASSERT_EQ(std::system("ip link set lo up && ip link set lo multicast on && "
                          "ip route add 224.0.0.0/4 dev lo"),
              0);
  }

  // Runs the loop until `done` or `limit` passes (bounded in time).
  template <typename Pred>
  bool RunUntil(Pred done, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < end) {
      io_.run_for(std::chrono::milliseconds(20));
      if (io_.stopped()) io_.restart();
    }
    return done();
  }

  MdnsServiceOptions Options() {
    MdnsServiceOptions o;
    o.interface_address = IpAddress::Loopback(IpFamily::kV4);
    return o;
  }

  boost::asio::io_context io_;
  SeededRng rng_{42};
};

TEST_F(MdnsServiceTest, ResolvesANamePublishedByAnotherServiceOverMulticast) {
  MdnsServiceOptions po = Options();
  po.responder.announcements = 0;  // answer the first query at once
  MdnsService publisher(io_, po, rng_);
  MdnsService querier(io_, Options(), rng_);
  std::string error;
  ASSERT_TRUE(publisher.Start(&error)) << error;
  ASSERT_TRUE(querier.Start(&error)) << error;
  std::optional<mdns::ResolverEvent> event;
  querier.set_on_event([&](const mdns::ResolverEvent& e) { event = e; });

  auto name = publisher.Publish(IpAddress::Loopback(IpFamily::kV4));
  ASSERT_TRUE(name);
  const Instant start = Now();
  querier.Resolve(*name);
  ASSERT_TRUE(RunUntil([&] { return event.has_value(); }, std::chrono::seconds(8)));
  auto* resolved = std::get_if<mdns::Resolved>(&*event);
  ASSERT_NE(resolved, nullptr) << mdns::ToString(std::get<mdns::Failed>(*event).reason);
  EXPECT_EQ(resolved->name, *name);
  EXPECT_EQ(resolved->addresses, std::vector<IpAddress>{IpAddress::Loopback(IpFamily::kV4)});
  // Answered from the first (QU) query, not a retransmission.
  EXPECT_LT(Now() - start, Duration::Millis(900));
  EXPECT_EQ(querier.resolver().stats().queries_sent, 1u);
  EXPECT_GE(publisher.responder().stats().queries_answered, 1u);

  // Goodbye: the querier's cache forgets the name.
  EXPECT_EQ(querier.resolver().cache_size(), 1u);
  ASSERT_TRUE(publisher.Unpublish(*name));
  EXPECT_TRUE(RunUntil([&] { return querier.resolver().cache_size() == 0; }, std::chrono::seconds(3)));
}

TEST_F(MdnsServiceTest, AnnouncedNameResolvesAndIsThenServedFromTheCache) {
  MdnsService publisher(io_, Options(), rng_);  // default: announces twice
  MdnsService querier(io_, Options(), rng_);
  std::string error;
  ASSERT_TRUE(publisher.Start(&error)) << error;
  ASSERT_TRUE(querier.Start(&error)) << error;
  std::vector<mdns::ResolverEvent> events;
  querier.set_on_event([&](const mdns::ResolverEvent& e) { events.push_back(e); });
  const std::string name = *publisher.Publish(IpAddress::V4(127, 0, 0, 1));
  querier.Resolve(name);
  ASSERT_TRUE(RunUntil([&] { return !events.empty(); }, std::chrono::seconds(8)));
  ASSERT_TRUE(std::holds_alternative<mdns::Resolved>(events[0]));
  // A second lookup is served from the cache without a query.
  const uint64_t sent = querier.resolver().stats().queries_sent;
  querier.Resolve(name);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<mdns::Resolved>(events[1]));
  EXPECT_EQ(querier.resolver().stats().queries_sent, sent);
}

TEST_F(MdnsServiceTest, UnknownNameFailsAfterTheConfiguredTimeout) {
  MdnsServiceOptions qo = Options();
  qo.resolver.timeout = Duration::Millis(1500);
  MdnsService publisher(io_, Options(), rng_);
  MdnsService querier(io_, qo, rng_);
  std::string error;
  ASSERT_TRUE(publisher.Start(&error)) << error;
  ASSERT_TRUE(querier.Start(&error)) << error;
  (void)publisher.Publish(IpAddress::V4(127, 0, 0, 1));
  std::optional<mdns::ResolverEvent> event;
  querier.set_on_event([&](const mdns::ResolverEvent& e) { event = e; });
  const Instant start = Now();
  querier.Resolve("00000000-0000-4000-8000-000000000000.local");
  ASSERT_TRUE(RunUntil([&] { return event.has_value(); }, std::chrono::seconds(5)));
  ASSERT_TRUE(std::holds_alternative<mdns::Failed>(*event));
  EXPECT_EQ(std::get<mdns::Failed>(*event).reason, mdns::FailureReason::kTimeout);
  EXPECT_GE(Now() - start, Duration::Millis(1450));
  EXPECT_EQ(querier.resolver().stats().queries_sent, 2u);  // at 0 s and 1 s
}

TEST_F(MdnsServiceTest, OneServiceResolvesItsOwnNameThroughMulticastLoop) {
  MdnsService service(io_, Options(), rng_);
  std::string error;
  ASSERT_TRUE(service.Start(&error)) << error;
  std::optional<mdns::ResolverEvent> event;
  service.set_on_event([&](const mdns::ResolverEvent& e) { event = e; });
  const std::string name = *service.Publish(IpAddress::V4(127, 0, 0, 1));
  service.Resolve(name);
  ASSERT_TRUE(RunUntil([&] { return event.has_value(); }, std::chrono::seconds(8)));
  EXPECT_TRUE(std::holds_alternative<mdns::Resolved>(*event));
}

}  // namespace
}  // namespace peerlink::runtime
