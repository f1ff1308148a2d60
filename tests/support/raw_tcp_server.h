#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace herald::testing {

// One accepted connection of a RawTcpServer, as its handler sees it: reads and writes that
// give up when the server stops, and the ways a misbehaving provider ends a conversation.
class RawConnection {
 public:
  // Takes `fd` over: it is closed when the connection is destroyed.
  RawConnection(int fd, int stop_fd) : fd_(fd), stop_fd_(stop_fd) {}
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // Reads until `delimiter` has arrived and returns everything up to and including it in
  // `out` (bytes after it stay buffered for the next read). False on end of stream, an error
  // or the server stopping.
  bool ReadUntil(std::string_view delimiter, std::string& out);
  // Reads exactly `n` bytes (buffered ones first) into `out`.
  bool ReadExactly(std::size_t n, std::string& out);
  bool Write(std::string_view bytes);

  // Neither reads nor answers again until the server stops: a peer that went silent. What
  // the client sends meanwhile stays in the kernel's buffers.
  void HangUntilStopped();
  // An orderly close (FIN): the client reads end of stream.
  void Close();
  // An abortive close (RST, SO_LINGER 0): the client's next read or write fails at once.
  void Reset();

  // False once Close, Reset or HangUntilStopped ended the conversation.
  bool open() const { return !closed_; }

  // Bytes read from the socket so far, buffered ones included.
  std::size_t bytes_read() const { return bytes_read_; }

 private:
  bool Fill();  // one read into buffer_; false on end, error or stop

  int fd_;
  int stop_fd_;
  std::string buffer_;
  std::size_t bytes_read_ = 0;
  bool closed_ = false;
};

// A TCP server on 127.0.0.1 and a free port that hands every connection, on its own thread,
// to `handler`: a stand-in for a provider that speaks its protocol by hand, so a test can
// make it fail at an exact point of the conversation. Destruction stops it: handlers
// blocked in a read or in HangUntilStopped return, and are joined.
class RawTcpServer {
 public:
  using Handler = std::function<void(RawConnection&)>;

  // receive_buffer > 0 shrinks each connection's receive buffer (SO_RCVBUF, set before
  // listen so accepted sockets inherit it), so that a client writing to a peer that stopped
  // reading blocks after little data.
  explicit RawTcpServer(Handler handler, int receive_buffer = 0);
  ~RawTcpServer();
  RawTcpServer(const RawTcpServer&) = delete;
  RawTcpServer& operator=(const RawTcpServer&) = delete;

  int port() const { return port_; }
  // Connections accepted so far.
  int connections() const { return connections_.load(); }

 private:
  void AcceptLoop();

  Handler handler_;
  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};  // readable once the server stops
  int port_ = -1;
  std::atomic<int> connections_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> workers_;  // guarded by mu_
};

}  // namespace herald::testing
