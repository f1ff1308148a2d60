#include "services/web/connection_io.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace herald::web {
namespace {

class PlainTcpIo final : public ConnectionIo {
 public:
  explicit PlainTcpIo(int fd) : fd_(fd) {}
  ~PlainTcpIo() override { close(fd_); }

  Result Read(char* buffer, size_t size) override {
    for (;;) {
      ssize_t n = recv(fd_, buffer, size, 0);
      if (n > 0) {
        // ACK at once: a client with Nagle's algorithm on holds a request's body until its
        // head is acknowledged, and a delayed ACK would stall every such request by up to
        // 40 ms. Linux turns quick ACKs off again by itself, so each read re-arms them.
        int one = 1;
        setsockopt(fd_, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
        return {Status::kOk, static_cast<size_t>(n)};
      }
      if (n == 0) return {Status::kClosed, 0};
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return {Status::kWouldBlock, 0};
      return {Status::kError, 0};
    }
  }

  Result Write(const char* data, size_t size) override {
    for (;;) {
      ssize_t n = send(fd_, data, size, MSG_NOSIGNAL);
      if (n >= 0) return {n > 0 ? Status::kOk : Status::kWouldBlock, static_cast<size_t>(n)};
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return {Status::kWouldBlock, 0};
      return {Status::kError, 0};
    }
  }

  void ShutdownWrite() override { shutdown(fd_, SHUT_WR); }
  int fd() const override { return fd_; }

 private:
  const int fd_;
};

}  // namespace

std::unique_ptr<ConnectionIo> PlainTcp(int fd) { return std::make_unique<PlainTcpIo>(fd); }

}  // namespace herald::web
