// Counts heap allocations made through the global operator new, so tests and
// benchmarks can assert or report allocations per operation. Linking the
// peerlink_alloc_counter object library replaces the global operator new and
// delete for the whole binary.
#pragma once

#include <cstdint>

namespace peerlink::testing {
// Total number of operator new calls so far in this process.
uint64_t AllocationCount();
}  // namespace peerlink::testing
