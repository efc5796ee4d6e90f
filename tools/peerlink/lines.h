// Newline-delimited text over pipes: the signaling channel of `ice-peer`
// (JSON lines on stdin/stdout) and the parent side in `ice-demo`.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/streambuf.hpp>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace peerlink::cli {

// Reads lines from a pipe or terminal asynchronously. Lines longer than
// kMaxLine end the stream with an error (a signaling peer gone wrong).
class LineReader {
 public:
  static constexpr size_t kMaxLine = 64 * 1024;
  LineReader(boost::asio::io_context& io,
             std::function<void(std::string_view line)> on_line,
             std::function<void(const std::string& why)> on_end);
  // Takes ownership of `fd`. Fails for descriptors epoll cannot watch (regular files).
  [[nodiscard]] bool Start(int fd, std::string* error);
  void Close();

 private:
  void ReadMore();
  boost::asio::posix::stream_descriptor sd_;
  boost::asio::streambuf buf_{kMaxLine};
  std::function<void(std::string_view)> on_line_;
  std::function<void(const std::string&)> on_end_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Writes all of `data` to a blocking descriptor, retrying after EINTR; false with errno set on
// failure. With `abort`: a signal that interrupts a blocked write() (a handler installed without
// SA_RESTART) ends it with ECANCELED once *abort is set.
bool WriteAll(int fd, std::span<const uint8_t> data, const std::atomic<bool>* abort = nullptr);

// Writes `line` plus '\n' to a blocking descriptor (stdout, a child's stdin).
// Returns false if the reader is gone (EPIPE; SIGPIPE is ignored by main).
bool WriteLine(int fd, std::string_view line);

// "10", "2.5": seconds for messages and child command lines (no trailing zeros).
std::string FormatSeconds(double s);

// One line to stderr, prefixed "peerlink[<tag>]: ".
void LogLine(std::string_view tag, std::string_view message);

}  // namespace peerlink::cli
