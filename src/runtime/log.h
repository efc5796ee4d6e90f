// A logging hook for runtime objects. The runtime never writes to stdout or
// stderr by itself: the owner (the CLI, a test) decides where lines go.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace peerlink::runtime {

// Receives one line without a trailing newline. Called on the io_context
// thread of the object that logs. An empty LogFn discards.
using LogFn = std::function<void(std::string_view line)>;

inline void Log(const LogFn& fn, std::string_view line) {
  if (fn) fn(line);
}

}  // namespace peerlink::runtime
