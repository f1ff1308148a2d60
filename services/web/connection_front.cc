#include "services/web/connection_front.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <stdexcept>

#include "common/log/log.h"

namespace herald::web {
namespace {

constexpr uint64_t kListenId = 1;
constexpr uint64_t kWakeId = 2;
constexpr size_t kReadChunk = 16 * 1024;
// After a refusal the front reads and discards a little before closing, so the client reads
// the answer rather than a connection reset; never more than this, never for longer.
constexpr size_t kLingerBytes = 64 * 1024;
constexpr size_t kMaxBodyLinger = 16 * 1024 * 1024;
constexpr auto kLingerTime = std::chrono::seconds(2);
// A connection still sending its request is evicted for a newcomer only after this long.
constexpr auto kEvictableAfter = std::chrono::seconds(1);
constexpr auto kTick = std::chrono::milliseconds(50);

const char* StatusText(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Error";
  }
}

std::string Answer(int status, const std::string& reason) {
  std::string body = reason + "\n";
  return "HTTP/1.1 " + std::to_string(status) + " " + StatusText(status) +
         "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
         std::to_string(body.size()) +
         "\r\nConnection: close\r\nCache-Control: no-store\r\nX-Content-Type-Options: "
         "nosniff\r\nReferrer-Policy: no-referrer\r\n\r\n" +
         body;
}

std::string PeerIp(const sockaddr_storage& a, int* port) {
  char buf[INET6_ADDRSTRLEN] = "";
  if (a.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a);
    inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof buf);
    *port = ntohs(v4->sin_port);
  } else if (a.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a);
    inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof buf);
    *port = ntohs(v6->sin6_port);
  }
  return buf;
}

}  // namespace

struct ConnectionFront::Conn {
  enum class State { kReading, kIdle, kProcessing, kWriting, kLingering };
  uint64_t id = 0;
  std::unique_ptr<ConnectionIo> io;
  std::string peer_ip;
  int peer_port = 0;
  std::string client_key;  // empty: exempt from the per-client count
  State state = State::kReading;
  uint32_t watching = 0;
  Clock::time_point since;     // when the current state began
  Clock::time_point deadline;  // of the current state
  bool request_started = false;
  bool peer_closed = false;  // the client shut its sending side down
  bool hung_up = false;      // reset while its request was in the pool
  std::string in;
  size_t scanned = 0;
  std::optional<RequestHead> head;
  bool continue_sent = false;
  int served = 0;
  std::string out;
  size_t out_done = 0;
  bool close_after = false;
  size_t linger_left = 0;
};

ConnectionFront::ConnectionFront(FrontOptions options, Dispatch dispatch)
    : options_(std::move(options)), dispatch_(std::move(dispatch)) {}

ConnectionFront::~ConnectionFront() {
  Stop();
  if (wake_fd_ >= 0) close(wake_fd_);
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

void ConnectionFront::Start(int listen_fd) {
  listen_fd_ = listen_fd;
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) throw std::runtime_error("http: cannot create epoll");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kListenId;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
  ev.data.u64 = kWakeId;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  thread_ = std::thread([this] { Loop(); });
}

void ConnectionFront::Stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof one);
  thread_.join();
}

void ConnectionFront::Complete(uint64_t connection, std::string response, bool close) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    completions_.push_back({connection, std::move(response), close});
  }
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof one);
}

ConnectionFront::Stats ConnectionFront::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void ConnectionFront::Loop() {
  std::vector<epoll_event> events(256);
  auto next_check = Clock::now() + kTick;
  while (!stopping_) {
    int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()),
                       static_cast<int>(kTick.count()));
    for (int i = 0; i < n; ++i) {
      uint64_t id = events[i].data.u64;
      if (id == kListenId) {
        AcceptAll();
      } else if (id == kWakeId) {
        uint64_t count;
        (void)!read(wake_fd_, &count, sizeof count);
        TakeCompletions();
      } else {
        auto it = conns_.find(id);
        if (it != conns_.end()) OnEvent(*it->second, events[i].events);
      }
    }
    auto now = Clock::now();
    if (now >= next_check) {
      next_check = now + kTick;
      CheckDeadlines();
      if (accept_paused_ && now >= accept_resume_) {
        accept_paused_ = false;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = kListenId;
        epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &ev);
      }
    }
  }
  while (!conns_.empty()) Close(conns_.begin()->first);
  close(listen_fd_);
  listen_fd_ = -1;
}

void ConnectionFront::Watch(Conn& c, uint32_t events) {
  if (c.watching == events) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = c.id;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.io->fd(), &ev);
  c.watching = events;
}

void ConnectionFront::Close(uint64_t id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  Conn& c = *it->second;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.io->fd(), nullptr);
  if (!c.client_key.empty()) {
    auto pc = per_client_.find(c.client_key);
    if (pc != per_client_.end() && --pc->second == 0) per_client_.erase(pc);
  }
  conns_.erase(it);  // closes the socket
  std::lock_guard lock(mu_);
  stats_.open = conns_.size();
}

bool ConnectionFront::MakeRoom() {
  const auto now = Clock::now();
  Conn* idle = nullptr;
  Conn* slow = nullptr;
  for (auto& [id, p] : conns_) {
    Conn& c = *p;
    if (c.state == Conn::State::kIdle || (c.state == Conn::State::kReading && c.in.empty())) {
      if (!idle || c.since < idle->since) idle = &c;
    } else if (c.state == Conn::State::kReading && now - c.since >= kEvictableAfter) {
      if (!slow || c.since < slow->since) slow = &c;
    }
  }
  Conn* victim = idle ? idle : slow;
  if (!victim) return false;
  Close(victim->id);
  std::lock_guard lock(mu_);
  ++stats_.evicted;
  return true;
}

void ConnectionFront::AcceptAll() {
  for (;;) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    int fd =
        accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: stop accepting for a tick instead of spinning on the
        // listener; connections wait in the kernel's backlog meanwhile.
        log::Warn("http: out of file descriptors; accepting paused");
        accept_paused_ = true;
        accept_resume_ = Clock::now() + kTick;
        epoll_event ev{};
        ev.data.u64 = kListenId;
        epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &ev);
      }
      return;
    }
    int port = 0;
    std::string ip = PeerIp(addr, &port);
    std::string key = options_.trusted.Contains(ip) ? std::string() : ClientKey(ip);
    if (!key.empty() && per_client_[key] >= options_.max_connections_per_client) {
      // Best effort, the socket buffer is empty: say why before closing.
      std::string answer = Answer(429, "too many connections from this address");
      if (options_.answer_refusals) (void)!send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
      close(fd);
      std::lock_guard lock(mu_);
      ++stats_.refused_per_client;
      continue;
    }
    if (conns_.size() >= options_.max_connections && !MakeRoom()) {
      std::string answer = Answer(503, "too many connections; retry later");
      if (options_.answer_refusals) (void)!send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
      close(fd);
      std::lock_guard lock(mu_);
      ++stats_.refused_full;
      continue;
    }
    auto io = options_.io(fd);
    if (!io) continue;
    auto conn = std::make_unique<Conn>();
    Conn& c = *conn;
    c.id = next_id_++;
    c.io = std::move(io);
    c.peer_ip = std::move(ip);
    c.peer_port = port;
    c.client_key = key;
    c.since = Clock::now();
    c.deadline = c.since + options_.request_timeout;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = c.id;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.io->fd(), &ev) != 0) continue;
    c.watching = EPOLLIN;
    if (!key.empty()) ++per_client_[key];
    conns_.emplace(c.id, std::move(conn));
    std::lock_guard lock(mu_);
    ++stats_.accepted;
    stats_.open = conns_.size();
  }
}

void ConnectionFront::OnEvent(Conn& c, uint32_t events) {
  if (events & EPOLLERR) return Close(c.id);
  switch (c.state) {
    case Conn::State::kReading:
    case Conn::State::kIdle:
      // EPOLLOUT only when the transport asked for it to read (a TLS handshake).
      if (events & (EPOLLIN | EPOLLOUT | EPOLLHUP)) ReadRequest(c);
      break;
    case Conn::State::kWriting:
      if (events & EPOLLHUP) return Close(c.id);
      if (events & EPOLLOUT) Flush(c);
      break;
    case Conn::State::kLingering:
      Linger(c);
      break;
    case Conn::State::kProcessing:
      // The answer is on its way; a client that hung up is closed when it arrives. Level-
      // triggered EPOLLHUP cannot be masked, so the socket leaves the set meanwhile.
      if (events & EPOLLHUP) {
        epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.io->fd(), nullptr);
        c.hung_up = true;
      }
      break;
  }
}

void ConnectionFront::ReadRequest(Conn& c) {
  const uint64_t id = c.id;
  // Never hold more than the current request can need plus the largest head: what a
  // client sends beyond it stays in the kernel until its turn comes.
  size_t need = options_.head.max_header_bytes + 1;
  if (c.head) need += c.head->head_bytes + c.head->content_length;
  char buf[kReadChunk];
  bool wants_writable = false;
  while (c.in.size() < need) {
    auto r = c.io->Read(buf, std::min(sizeof buf, need - c.in.size()));
    if (r.status == ConnectionIo::Status::kWouldBlock) {
      wants_writable = c.io->WantsWritable();
      break;
    }
    if (r.status == ConnectionIo::Status::kClosed) {
      // A client may send its request and shut down its side: answer what is complete.
      c.peer_closed = true;
      break;
    }
    if (r.status != ConnectionIo::Status::kOk) return Close(id);
    c.in.append(buf, r.bytes);
  }
  Advance(c);
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  if (c.state == Conn::State::kReading || c.state == Conn::State::kIdle) {
    if (c.peer_closed) return Close(id);
    Watch(c, EPOLLIN | (wants_writable ? EPOLLOUT : 0u));
  }
}

void ConnectionFront::Advance(Conn& c) {
  if (c.state != Conn::State::kReading && c.state != Conn::State::kIdle) return;
  if (c.in.empty()) return;
  const auto now = Clock::now();
  if (!c.request_started) {
    // A new connection's deadline runs from the accept; a kept-alive one's from this byte.
    c.request_started = true;
    if (c.state == Conn::State::kIdle) {
      c.since = now;
      c.deadline = now + options_.request_timeout;
    }
    c.state = Conn::State::kReading;
  }
  if (!c.head) {
    HeadScan scan = ScanRequestHead(c.in, options_.head, &c.scanned);
    if (scan.kind == HeadScan::Kind::kIncomplete) return;
    if (scan.kind == HeadScan::Kind::kRefused) {
      return Refuse(c, scan.status, scan.reason, kLingerBytes);
    }
    size_t limit = options_.body_limit(scan.head.path);
    if (scan.head.content_length > limit) {
      return Refuse(c, 413,
                    "request body of " + std::to_string(scan.head.content_length) +
                        " bytes is larger than this path's limit of " + std::to_string(limit) +
                        " bytes",
                    std::min(scan.head.content_length, kMaxBodyLinger) + kLingerBytes);
    }
    c.head = std::move(scan.head);
  }
  const size_t total = c.head->head_bytes + c.head->content_length;
  if (c.in.size() < total) {
    if (c.head->expect_continue && !c.continue_sent && c.head->version == "HTTP/1.1") {
      // The socket's buffer is empty between requests: this small write goes out whole.
      static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      c.io->Write(kContinue, sizeof kContinue - 1);
      c.continue_sent = true;
    }
    return;
  }
  FrontRequest r;
  r.connection = c.id;
  r.bytes = c.in.substr(0, total);
  c.in.erase(0, total);
  r.path = c.head->path;
  r.peer_ip = c.peer_ip;
  r.peer_port = c.peer_port;
  r.continue_sent = c.continue_sent;
  ++c.served;
  r.last =
      c.head->close || c.peer_closed || c.served >= options_.keep_alive_max_requests || stopping_;
  c.close_after = r.last;
  c.state = Conn::State::kProcessing;
  c.since = now;
  Watch(c, 0);
  dispatch_(std::move(r));
}

void ConnectionFront::Refuse(Conn& c, int status, const std::string& reason, size_t linger_bytes) {
  {
    std::lock_guard lock(mu_);
    if (status == 408) {
      ++stats_.timed_out;
    } else {
      ++stats_.refused_requests;
    }
  }
  c.in.clear();
  c.out = Answer(status, reason);
  c.out_done = 0;
  c.close_after = true;
  c.linger_left = linger_bytes;
  c.state = Conn::State::kWriting;
  c.since = Clock::now();
  c.deadline = c.since + options_.write_timeout;
  Flush(c);
}

void ConnectionFront::Flush(Conn& c) {
  while (c.out_done < c.out.size()) {
    auto r = c.io->Write(c.out.data() + c.out_done, c.out.size() - c.out_done);
    if (r.status == ConnectionIo::Status::kWouldBlock) return Watch(c, EPOLLOUT);
    if (r.status != ConnectionIo::Status::kOk) return Close(c.id);
    c.out_done += r.bytes;
  }
  c.out.clear();
  c.out_done = 0;
  if (c.close_after) return StartLinger(c);
  // Ready for the next request on this connection; pipelined bytes may already be here.
  c.head.reset();
  c.scanned = 0;
  c.continue_sent = false;
  c.request_started = false;
  c.state = Conn::State::kIdle;
  c.since = Clock::now();
  c.deadline = c.since + options_.keep_alive_idle;
  Watch(c, EPOLLIN);
  if (c.io->HasBuffered()) return ReadRequest(c);
  Advance(c);
}

void ConnectionFront::StartLinger(Conn& c) {
  c.io->ShutdownWrite();
  c.state = Conn::State::kLingering;
  c.since = Clock::now();
  c.deadline = c.since + kLingerTime;
  if (c.linger_left == 0) c.linger_left = kLingerBytes;
  Watch(c, EPOLLIN);
  Linger(c);
}

void ConnectionFront::Linger(Conn& c) {
  char buf[kReadChunk];
  for (;;) {
    auto r = c.io->Read(buf, std::min(sizeof buf, c.linger_left));
    if (r.status == ConnectionIo::Status::kWouldBlock) return;
    if (r.status != ConnectionIo::Status::kOk || r.bytes >= c.linger_left) return Close(c.id);
    c.linger_left -= r.bytes;
  }
}

void ConnectionFront::TakeCompletions() {
  std::vector<Completion> done;
  {
    std::lock_guard lock(mu_);
    done.swap(completions_);
  }
  for (auto& d : done) {
    auto it = conns_.find(d.connection);
    if (it == conns_.end()) continue;
    Conn& c = *it->second;
    if (d.response.empty() || c.hung_up) {
      Close(c.id);
      continue;
    }
    c.out = std::move(d.response);
    c.out_done = 0;
    c.close_after = c.close_after || d.close;
    c.linger_left = 0;
    c.state = Conn::State::kWriting;
    c.since = Clock::now();
    c.deadline = c.since + options_.write_timeout;
    Flush(c);
  }
}

void ConnectionFront::CheckDeadlines() {
  const auto now = Clock::now();
  std::vector<uint64_t> expired;
  for (auto& [id, p] : conns_) {
    if (p->state != Conn::State::kProcessing && now >= p->deadline) expired.push_back(id);
  }
  for (uint64_t id : expired) {
    auto it = conns_.find(id);
    if (it == conns_.end()) continue;
    Conn& c = *it->second;
    if (c.state == Conn::State::kReading && c.request_started) {
      Refuse(
          c, 408,
          "request not complete within " + std::to_string(options_.request_timeout.count()) + " ms",
          kLingerBytes);
    } else {
      if (c.state == Conn::State::kIdle || c.state == Conn::State::kReading) {
        std::lock_guard lock(mu_);
        ++stats_.timed_out;
      }
      Close(id);
    }
  }
}

}  // namespace herald::web
