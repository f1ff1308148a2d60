#include "tests/support/raw_tcp_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

namespace herald::testing {
namespace {

// Waits until `fd` is readable; false when the server stopped first.
bool WaitReadable(int fd, int stop_fd) {
  pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
  while (true) {
    int n = ::poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || (fds[1].revents != 0)) return false;
    if (fds[0].revents != 0) return true;
  }
}

}  // namespace

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawConnection::Fill() {
  if (closed_ || !WaitReadable(fd_, stop_fd_)) return false;
  char chunk[16 * 1024];
  ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
  if (n <= 0) return false;
  buffer_.append(chunk, static_cast<std::size_t>(n));
  bytes_read_ += static_cast<std::size_t>(n);
  return true;
}

bool RawConnection::ReadUntil(std::string_view delimiter, std::string& out) {
  std::size_t searched = 0;
  while (true) {
    std::size_t at = buffer_.find(delimiter, searched);
    if (at != std::string::npos) {
      out = buffer_.substr(0, at + delimiter.size());
      buffer_.erase(0, at + delimiter.size());
      return true;
    }
    searched = buffer_.size() >= delimiter.size() ? buffer_.size() - delimiter.size() + 1 : 0;
    if (!Fill()) return false;
  }
}

bool RawConnection::ReadExactly(std::size_t n, std::string& out) {
  while (buffer_.size() < n) {
    if (!Fill()) return false;
  }
  out = buffer_.substr(0, n);
  buffer_.erase(0, n);
  return true;
}

bool RawConnection::Write(std::string_view bytes) {
  while (!bytes.empty() && !closed_) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return !closed_;
}

void RawConnection::HangUntilStopped() {
  pollfd stop = {stop_fd_, POLLIN, 0};
  while (::poll(&stop, 1, -1) < 0 && errno == EINTR) {
  }
  closed_ = true;  // the server is stopping: nothing more to say
}

void RawConnection::Close() {
  if (closed_) return;
  ::shutdown(fd_, SHUT_RDWR);
  closed_ = true;
}

void RawConnection::Reset() {
  if (closed_) return;
  linger abort_on_close{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
  ::close(fd_);
  fd_ = -1;
  closed_ = true;
}

RawTcpServer::RawTcpServer(Handler handler, int receive_buffer) : handler_(std::move(handler)) {
  if (::pipe(stop_pipe_) != 0) throw std::runtime_error("raw tcp server: pipe failed");
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listen_fd_ < 0) throw std::runtime_error("raw tcp server: socket failed");
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (receive_buffer > 0) {
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      ::listen(listen_fd_, 16) != 0) {
    throw std::runtime_error("raw tcp server: cannot listen on 127.0.0.1");
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

RawTcpServer::~RawTcpServer() {
  ::close(stop_pipe_[1]);  // every poll on the read end wakes up
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mu_);
    workers.swap(workers_);
  }
  for (std::thread& w : workers) w.join();
  ::close(listen_fd_);
  ::close(stop_pipe_[0]);
}

void RawTcpServer::AcceptLoop() {
  while (WaitReadable(listen_fd_, stop_pipe_[0])) {
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    ++connections_;
    std::lock_guard lock(mu_);
    workers_.emplace_back([this, fd] {
      RawConnection connection(fd, stop_pipe_[0]);
      handler_(connection);
    });
  }
}

}  // namespace herald::testing
