#include "src/signaling/resp.h"

#include <gtest/gtest.h>

namespace peerlink::signaling {
namespace {

TEST(Resp, EncodesCommandsBinarySafe) {
  EXPECT_EQ(EncodeRespCommand({"PUBLISH", "ch", std::string_view("a\r\nb", 4)}),
            "*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$4\r\na\r\nb\r\n");
}

TEST(Resp, ParsesPushMessagesIncrementally) {
  const std::string wire = "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n:5\r\n+OK\r\n-ERR x\r\n$-1\r\n";
  RespParser p;
  std::vector<RespValue> got;
  for (char c : wire) {  // one byte at a time: every split point
    p.Append(std::string_view(&c, 1));
    for (int i = 0; i < 10; ++i) {
      auto r = p.Next();
      ASSERT_TRUE(r);
      if (!r.value()) break;
      got.push_back(std::move(*r.value()));
    }
  }
  ASSERT_EQ(got.size(), 5u);
  ASSERT_EQ(got[0].type, RespValue::Type::kArray);
  ASSERT_EQ(got[0].array.size(), 3u);
  EXPECT_EQ(got[0].array[2].str, "hello");
  EXPECT_EQ(got[1].integer, 5);
  EXPECT_EQ(got[2].str, "OK");
  EXPECT_EQ(got[3].type, RespValue::Type::kError);
  EXPECT_EQ(got[4].type, RespValue::Type::kNull);
  EXPECT_EQ(p.buffered(), 0u);
}

TEST(Resp, RejectsGarbageStickily) {
  RespParser p;
  p.Append("?what\r\n");
  EXPECT_FALSE(p.Next());
  p.Append("+OK\r\n");
  EXPECT_FALSE(p.Next());
  RespParser q;
  q.Append("$99999999999\r\n");
  EXPECT_FALSE(q.Next());
}

}  // namespace
}  // namespace peerlink::signaling
