// ReassemblyQueue with I-DATA and with plain DATA: the in-order append path,
// holes filled later, duplicates, the size limit, and the per-stream
// pre-sizing of the buffer.
#include "src/sctp/assoc/reassembly.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <vector>

namespace peerlink::sctp {
namespace {

constexpr size_t kFragment = 1000;

std::vector<uint8_t> Message(size_t n, uint8_t seed) {
  std::vector<uint8_t> m(n);
  for (size_t i = 0; i < n; ++i)
    m[i] = static_cast<uint8_t>(seed + i * 7);
  return m;
}

// The fragments of `m` as I-DATA chunks (MID `mid` on stream 3), TSNs from `tsn`.
std::vector<ReassemblyQueue::Incoming> Fragments(const std::vector<uint8_t>& m, uint32_t mid, UnwrappedTsn tsn) {
  std::vector<ReassemblyQueue::Incoming> out;
  for (size_t off = 0, fsn = 0; off < m.size(); off += kFragment, ++fsn) {
    ReassemblyQueue::Incoming in;
    in.tsn = tsn + fsn;
    in.stream_id = StreamId(3);
    in.ssn_or_mid = mid;
    in.fsn = static_cast<uint32_t>(fsn);
    in.ppid = Ppid(53);
    in.beginning = off == 0;
    in.ending = off + kFragment >= m.size();
    in.payload = ByteView(m.data() + off, std::min(kFragment, m.size() - off));
    out.push_back(in);
  }
  return out;
}

TEST(Reassembly, InOrderFragmentsBecomeOneMessage) {
  ReassemblyQueue q(true, 256 * 1024);
  auto m = Message(10 * kFragment + 123, 1);
  auto frags = Fragments(m, 0, 100);
  for (size_t i = 0; i < frags.size(); ++i) {
    ASSERT_TRUE(q.Add(frags[i]));
    ASSERT_TRUE(q.IsConsistent());
    if (i + 1 < frags.size()) {
      EXPECT_TRUE(q.ready().empty());
      EXPECT_EQ(q.buffered_bytes(), (i + 1) * kFragment);
    }
  }
  ASSERT_EQ(q.ready().size(), 1u);
  EXPECT_EQ(q.ready().front().payload, m);
  EXPECT_EQ(q.ready().front().ppid, Ppid(53));
  EXPECT_EQ(q.buffered_bytes(), 0u);
}

TEST(Reassembly, HolesAndDuplicatesInAnyOrder) {
  auto m = Message(12 * kFragment, 9);
  auto frags = Fragments(m, 0, 100);
  // Reverse order, a shuffled order, and every fragment twice.
  std::vector<std::vector<size_t>> orders;
  std::vector<size_t> order(frags.size());
  std::iota(order.begin(), order.end(), 0);
  orders.push_back(std::vector<size_t>(order.rbegin(), order.rend()));
  orders.push_back({3, 0, 5, 1, 2, 11, 4, 7, 6, 10, 8, 9});
  std::vector<size_t> twice;
  for (size_t i : order) {
    twice.push_back(i);
    twice.push_back(i);
  }
  orders.push_back(twice);
  for (const auto& o : orders) {
    ReassemblyQueue q(true, 256 * 1024);
    for (size_t i : o) {
      ASSERT_TRUE(q.Add(frags[i]));
      ASSERT_TRUE(q.IsConsistent());
    }
    ASSERT_EQ(q.ready().size(), 1u);
    EXPECT_EQ(q.ready().front().payload, m);
    EXPECT_EQ(q.buffered_bytes(), 0u);
  }
}

TEST(Reassembly, SecondMessageOnStreamIsPresizedAndIntact) {
  ReassemblyQueue q(true, 256 * 1024);
  auto m1 = Message(20 * kFragment, 1);
  auto m2 = Message(30 * kFragment + 5, 2);  // larger than the hint: the buffer still grows
  auto m3 = Message(3 * kFragment, 3);       // smaller than the hint
  UnwrappedTsn tsn = 100;
  uint32_t mid = 0;
  for (const auto* m : {&m1, &m2, &m3}) {
    auto frags = Fragments(*m, mid++, tsn);
    tsn += frags.size();
    for (const auto& f : frags)
      ASSERT_TRUE(q.Add(f));
  }
  ASSERT_EQ(q.ready().size(), 3u);
  EXPECT_EQ(q.ready()[0].payload, m1);
  EXPECT_EQ(q.ready()[1].payload, m2);
  EXPECT_EQ(q.ready()[2].payload, m3);
  EXPECT_TRUE(q.IsConsistent());
  EXPECT_EQ(q.buffered_bytes(), 0u);
}

TEST(Reassembly, MessageAboveLimitIsAnError) {
  ReassemblyQueue q(true, 4 * kFragment);
  auto m = Message(6 * kFragment, 1);
  auto frags = Fragments(m, 0, 100);
  bool ok = true;
  for (const auto& f : frags)
    if (!(ok = q.Add(f))) break;
  EXPECT_FALSE(ok);
  EXPECT_NE(q.error().find("max_message_size"), std::string::npos);
  EXPECT_TRUE(q.IsConsistent());
}

TEST(Reassembly, ForwardTsnDropsAPartialWithHoles) {
  ReassemblyQueue q(true, 256 * 1024);
  auto m = Message(5 * kFragment, 1);
  auto frags = Fragments(m, 0, 100);
  ASSERT_TRUE(q.Add(frags[0]));
  ASSERT_TRUE(q.Add(frags[3]));  // above a hole
  EXPECT_EQ(q.buffered_bytes(), 2 * kFragment);
  IForwardTsnChunk::Skipped skip{StreamId(3), false, Mid(0)};
  q.HandleIForwardTsn(std::span(&skip, 1));
  EXPECT_EQ(q.buffered_bytes(), 0u);
  EXPECT_TRUE(q.ready().empty());
  EXPECT_TRUE(q.IsConsistent());
}

// Plain DATA (no I-DATA): fragments are runs of consecutive TSNs.
TEST(Reassembly, DataFragmentsInAnyOrderAndTwoMessagesInterleavedInArrival) {
  auto m1 = Message(7 * kFragment + 3, 4);
  auto m2 = Message(5 * kFragment, 8);
  auto f1 = Fragments(m1, 0, 100);      // SSN 0, TSNs 100..107
  auto f2 = Fragments(m2, 1, 100 + 8);  // SSN 1, TSNs 108..112
  std::vector<ReassemblyQueue::Incoming> all = f1;
  all.insert(all.end(), f2.begin(), f2.end());
  std::vector<std::vector<size_t>> orders;
  std::vector<size_t> order(all.size());
  std::iota(order.begin(), order.end(), 0);
  orders.push_back(order);
  orders.push_back(std::vector<size_t>(order.rbegin(), order.rend()));
  orders.push_back({9, 2, 0, 12, 7, 1, 5, 3, 10, 8, 4, 11, 6});
  // (Duplicates of delivered DATA fragments never reach the queue: the TSN
  // tracker drops them. Duplicates of held ones are covered below.)
  for (const auto& o : orders) {
    ReassemblyQueue q(false, 256 * 1024);
    for (size_t i : o) {
      ASSERT_TRUE(q.Add(all[i]));
      ASSERT_TRUE(q.IsConsistent());
    }
    ASSERT_EQ(q.ready().size(), 2u);
    EXPECT_EQ(q.ready()[0].payload, m1);
    EXPECT_EQ(q.ready()[1].payload, m2);
    EXPECT_EQ(q.buffered_bytes(), 0u);
  }
}

TEST(Reassembly, DataRunsOfDifferentMessagesAreNotJoined) {
  ReassemblyQueue q(false, 256 * 1024);
  auto m1 = Message(3 * kFragment, 1);
  auto m2 = Message(3 * kFragment, 2);
  auto f1 = Fragments(m1, 0, 100);  // TSNs 100..102
  auto f2 = Fragments(m2, 1, 103);  // TSNs 103..105
  // m1's last fragment and m2's first are adjacent TSNs but E then B: two runs.
  ASSERT_TRUE(q.Add(f1[2]));
  ASSERT_TRUE(q.Add(f2[0]));
  ASSERT_TRUE(q.Add(f2[1]));
  ASSERT_TRUE(q.Add(f1[1]));
  EXPECT_TRUE(q.ready().empty());
  EXPECT_TRUE(q.IsConsistent());
  EXPECT_EQ(q.buffered_bytes(), 4 * kFragment);
  ASSERT_TRUE(q.Add(f1[1]));  // held already (the first of a run and inside a run)
  ASSERT_TRUE(q.Add(f2[1]));
  EXPECT_EQ(q.buffered_bytes(), 4 * kFragment);
  ASSERT_TRUE(q.Add(f1[0]));
  ASSERT_EQ(q.ready().size(), 1u);
  EXPECT_EQ(q.ready()[0].payload, m1);
  ASSERT_TRUE(q.Add(f2[2]));
  ASSERT_EQ(q.ready().size(), 2u);
  EXPECT_EQ(q.ready()[1].payload, m2);
  EXPECT_EQ(q.buffered_bytes(), 0u);
}

TEST(Reassembly, DataForwardTsnDropsRunsAndLimitIsEnforced) {
  ReassemblyQueue q(false, 4 * kFragment);
  auto m = Message(6 * kFragment, 1);
  auto f = Fragments(m, 0, 100);
  ASSERT_TRUE(q.Add(f[0]));
  ASSERT_TRUE(q.Add(f[1]));
  ASSERT_TRUE(q.Add(f[3]));
  EXPECT_EQ(q.buffered_bytes(), 3 * kFragment);
  q.HandleForwardTsn(101, {});  // drops the run 100..101, keeps 103
  EXPECT_EQ(q.buffered_bytes(), kFragment);
  EXPECT_TRUE(q.IsConsistent());
  ReassemblyQueue r(false, 4 * kFragment);
  bool ok = true;
  for (const auto& x : f)
    if (!(ok = r.Add(x))) break;
  EXPECT_FALSE(ok);
  EXPECT_NE(r.error().find("max_message_size"), std::string::npos);
}

}  // namespace
}  // namespace peerlink::sctp
