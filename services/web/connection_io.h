#pragma once

#include <cstddef>
#include <functional>
#include <memory>

namespace herald::web {

// The byte I/O of one accepted connection, non-blocking. The connection front only moves
// bytes through this interface, so TLS can be layered here (the handshake and records
// inside Read and Write) without touching the framing, the limits or the pool.
class ConnectionIo {
 public:
  enum class Status {
    kOk,          // `bytes` moved (at least one)
    kWouldBlock,  // try again when the socket is ready (see WantsWritable)
    kClosed,      // the peer closed its side (Read only)
    kError,
  };
  struct Result {
    Status status;
    size_t bytes;
  };

  virtual ~ConnectionIo() = default;
  virtual Result Read(char* buffer, size_t size) = 0;
  virtual Result Write(const char* data, size_t size) = 0;
  // Half-closes the sending side after the last response (then the front drains a little
  // before closing, so the client reads the answer instead of a reset).
  virtual void ShutdownWrite() = 0;
  // True when the last kWouldBlock of a Read needs the socket writable to make progress
  // (a TLS handshake or renegotiation). Plain TCP never does.
  virtual bool WantsWritable() const { return false; }
  // True when bytes already received wait inside the transport (TLS decrypts whole
  // records), where a readiness event on the socket would never announce them.
  virtual bool HasBuffered() const { return false; }
  virtual int fd() const = 0;
};

// Takes an accepted, non-blocking socket and owns it from then on (closes it when
// destroyed). Returns nullptr to refuse the connection.
using ConnectionIoFactory = std::function<std::unique_ptr<ConnectionIo>(int fd)>;

// Plain TCP.
std::unique_ptr<ConnectionIo> PlainTcp(int fd);

}  // namespace herald::web
