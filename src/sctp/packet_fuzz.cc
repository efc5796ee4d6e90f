// Fuzzes the SCTP codec: packet framing, then every chunk parser; each parsed
// chunk is serialized again and must parse back to the same fields.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "src/base/check.h"
#include "src/sctp/control_chunks.h"
#include "src/sctp/data_chunks.h"
#include "src/sctp/packet.h"
#include "src/sctp/parameters.h"

using namespace peerlink;
using namespace peerlink::sctp;

namespace {

template <typename T>
T Reparse(const T& parsed, uint8_t type) {
  std::vector<uint8_t> buf(70000);
  PacketBuilder b(buf, 1, 2, VerificationTag(3));
  parsed.SerializeTo(b.writer());
  size_t n = b.Finish(false);
  PL_CHECK(n > 0);
  auto pkt = PacketView::Parse(ByteView(buf.data(), n), false);
  PL_CHECK(pkt.ok());
  ChunkView c = pkt->first_chunk();
  PL_CHECK(c.type == type);
  auto again = T::Parse(c);
  PL_CHECK(again.ok());
  return *again;
}

void FuzzParams(const TlvList& list) {
  TlvList::Iterator it = list.begin();
  Tlv t;
  while (it.Next(&t)) {
    if (auto p = OutgoingSsnResetRequestParameter::Parse(t)) {
      (void)p->ToString();
      for (size_t i = 0; i < p->stream_count; ++i)
        (void)p->stream(i);
    }
    if (auto p = ReconfigResponseParameter::Parse(t)) (void)p->ToString();
    if (auto p = SupportedExtensionsParameter::Parse(t)) (void)p->ToString();
    if (auto p = ZeroChecksumAcceptableParameter::Parse(t)) (void)p->ToString();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto pkt = PacketView::Parse(ByteView(data, size), true, /*verify_checksum=*/false);
  if (!pkt) return 0;
  (void)pkt->ToString();
  auto it = pkt->chunks();
  ChunkView c;
  size_t count = 0;
  while (it.Next(&c)) {
    ++count;
    switch (static_cast<ChunkType>(c.type)) {
      case ChunkType::kData:
        if (auto d = DataChunk::Parse(c)) {
          auto r = Reparse(*d, c.type);
          PL_CHECK(r.tsn == d->tsn && r.payload.size() == d->payload.size() && r.ending == d->ending);
          (void)d->ToString();
        }
        break;
      case ChunkType::kIData:
        if (auto d = IDataChunk::Parse(c)) {
          auto r = Reparse(*d, c.type);
          PL_CHECK(r.mid == d->mid && r.fsn == d->fsn && r.ppid == d->ppid && r.payload.size() == d->payload.size());
          (void)d->ToString();
        }
        break;
      case ChunkType::kSack:
        if (auto s = SackChunk::Parse(c)) {
          auto r = Reparse(*s, c.type);
          PL_CHECK(r.gap_block_count == s->gap_block_count && r.duplicate_count == s->duplicate_count);
          (void)s->ToString();
        }
        break;
      case ChunkType::kForwardTsn:
        if (auto f = ForwardTsnChunk::Parse(c)) {
          PL_CHECK(Reparse(*f, c.type).skipped_count == f->skipped_count);
          (void)f->ToString();
        }
        break;
      case ChunkType::kIForwardTsn:
        if (auto f = IForwardTsnChunk::Parse(c)) {
          PL_CHECK(Reparse(*f, c.type).skipped_count == f->skipped_count);
          (void)f->ToString();
        }
        break;
      case ChunkType::kInit:
      case ChunkType::kInitAck:
        if (auto i = InitChunk::Parse(c)) {
          auto r = Reparse(*i, c.type);
          PL_CHECK(r.initiate_tag == i->initiate_tag && r.initial_tsn == i->initial_tsn);
          (void)i->capabilities();
          (void)i->state_cookie();
          (void)i->ToString();
          FuzzParams(i->parameters);
        }
        break;
      case ChunkType::kCookieEcho:
        if (auto e = CookieEchoChunk::Parse(c)) PL_CHECK(Reparse(*e, c.type).cookie.size() == e->cookie.size());
        break;
      case ChunkType::kCookieAck:
      case ChunkType::kShutdownAck:
      case ChunkType::kShutdownComplete:
        if (auto e = EmptyChunk::Parse(c)) PL_CHECK(Reparse(*e, c.type).tag_reflected == e->tag_reflected);
        break;
      case ChunkType::kHeartbeat:
      case ChunkType::kHeartbeatAck:
        if (auto h = HeartbeatChunk::Parse(c)) PL_CHECK(Reparse(*h, c.type).info.size() == h->info.size());
        break;
      case ChunkType::kAbort:
      case ChunkType::kError:
        if (auto e = ErrorCausesChunk::Parse(c)) {
          (void)Reparse(*e, c.type);
          (void)e->Describe();
          (void)e->ToString();
        }
        break;
      case ChunkType::kShutdown:
        if (auto s = ShutdownChunk::Parse(c)) PL_CHECK(Reparse(*s, c.type).cumulative_tsn_ack == s->cumulative_tsn_ack);
        break;
      case ChunkType::kReConfig:
        if (auto r = ReConfigChunk::Parse(c)) {
          (void)Reparse(*r, c.type);
          (void)r->ToString();
          FuzzParams(r->parameters);
        }
        break;
    }
  }
  PL_CHECK(count == pkt->chunk_count());
  return 0;
}
