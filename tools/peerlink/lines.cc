#include "tools/peerlink/lines.h"

#include <unistd.h>

#include <boost/asio/read_until.hpp>
#include <cerrno>
#include <cstdio>
#include <istream>

namespace peerlink::cli {

LineReader::LineReader(boost::asio::io_context& io,
                       std::function<void(std::string_view)> on_line,
                       std::function<void(const std::string&)> on_end)
    : sd_(io), on_line_(std::move(on_line)), on_end_(std::move(on_end)) {}

bool LineReader::Start(int fd, std::string* error) {
  boost::system::error_code ec;
  sd_.assign(fd, ec);
  if (ec) {
    ::close(fd);
    if (error) *error = "cannot watch descriptor " + std::to_string(fd) + ": " + ec.message();
    return false;
  }
  ReadMore();
  return true;
}

void LineReader::Close() {
  boost::system::error_code ignored;
  sd_.close(ignored);
}

void LineReader::ReadMore() {
  std::weak_ptr<bool> alive = alive_;
  boost::asio::async_read_until(sd_, buf_, '\n', [this, alive](const boost::system::error_code& ec, size_t n) {
    if (alive.expired() || ec == boost::asio::error::operation_aborted) return;
    if (ec) {
      std::string why = ec == boost::asio::error::eof         ? "end of input"
                        : ec == boost::asio::error::not_found ? "line too long"
                                                              : ec.message();
      if (on_end_) on_end_(why);
      return;
    }
    std::string line(n, '\0');
    std::istream in(&buf_);
    in.read(line.data(), static_cast<std::streamsize>(n));
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
      line.pop_back();
    if (on_line_) on_line_(line);
    if (alive.expired()) return;
    ReadMore();
  });
}

bool WriteAll(int fd, std::span<const uint8_t> data, const std::atomic<bool>* abort) {
  size_t off = 0;
  while (off < data.size()) {
    if (abort && abort->load()) {
      errno = ECANCELED;
      return false;
    }
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    off += static_cast<size_t>(n);
  }
  return true;
}

bool WriteLine(int fd, std::string_view line) {
  std::string data(line);
  data.push_back('\n');
  return WriteAll(fd, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

std::string FormatSeconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", s);
  return buf;
}

void LogLine(std::string_view tag, std::string_view message) {
  std::string line = "peerlink[" + std::string(tag) + "]: " + std::string(message) + "\n";
  // One write() per line so that lines from the two demo children do not interleave.
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace peerlink::cli
