// Fuzzes the DCEP codec: parse, ToString, then serialize -> parse must give
// back the same message and the same bytes (parsing is strict, so a message
// that parses has exactly one encoding).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "src/base/check.h"
#include "src/datachannel/dcep.h"

using namespace peerlink;
using namespace peerlink::datachannel;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ByteView input(data, size);
  // Tight limits on a second pass exercise the kTooLarge paths.
  DcepLimits tight;
  tight.max_label_length = 8;
  tight.max_protocol_length = 8;
  (void)ParseDcep(input, tight);

  auto parsed = ParseDcep(input);
  if (!parsed) return 0;
  (void)ToString(*parsed);
  if (const auto* open = std::get_if<DataChannelOpen>(&*parsed)) {
    PL_CHECK(IsKnownChannelType(static_cast<uint8_t>(open->channel_type)));
    const std::vector<uint8_t> bytes = open->Serialize();
    PL_CHECK(bytes.size() == size);
    PL_CHECK(std::equal(bytes.begin(), bytes.end(), data));
    auto again = DataChannelOpen::Parse(bytes);
    PL_CHECK(again.ok());
    PL_CHECK(*again == *open);
    // SerializeTo into an exact buffer works; one byte less fails cleanly.
    std::vector<uint8_t> exact(open->SerializedSize());
    ByteWriter w(exact);
    open->SerializeTo(w);
    PL_CHECK(w.ok() && exact == bytes);
    std::vector<uint8_t> short_buf(open->SerializedSize() - 1);
    ByteWriter ws(short_buf);
    open->SerializeTo(ws);
    PL_CHECK(!ws.ok());
  } else {
    // An ACK is its type byte; trailing bytes are tolerated (Pion 3.1 sends 4, see dcep.cc).
    PL_CHECK(size >= 1 && data[0] == DataChannelAck{}.Serialize()[0]);
    auto again = DataChannelAck::Parse(DataChannelAck{}.Serialize());
    PL_CHECK(again.ok());
  }
  return 0;
}
