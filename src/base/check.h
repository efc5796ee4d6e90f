// Assertions for programming errors (tier 1 of STYLE.md's error model).
// PL_CHECK is always on; PL_DCHECK only in debug builds and tests.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace peerlink::base {
[[noreturn]] inline void CheckFailed(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "peerlink: check failed: %s at %s:%d\n", expr, file, line);
  std::abort();
}
}  // namespace peerlink::base

#define PL_CHECK(cond)                                                     \
  do {                                                                     \
    if (!(cond)) ::peerlink::base::CheckFailed(#cond, __FILE__, __LINE__); \
  } while (0)

#if defined(NDEBUG) && !defined(PEERLINK_DCHECK_ALWAYS_ON)
#define PL_DCHECK(cond) \
  do {                  \
    (void)sizeof(cond); \
  } while (0)
#else
#define PL_DCHECK(cond) PL_CHECK(cond)
#endif
