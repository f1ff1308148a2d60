#pragma once

#include <stdexcept>
#include <string>

namespace herald {

// The outcome classes a caller can act on. Mapped once, at the transport edge, to a gRPC
// status code or an HTTP status; the domain never sees either.
enum class ErrorCode {
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,
  kPermissionDenied,
  kUnauthenticated,
  kResourceExhausted,
  kUnavailable,
  kInternal,
};

// A domain error. Its message names the offending field but never repeats the value:
// messages reach logs and callers' logs.
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

inline Error InvalidArgument(const std::string& field, const std::string& problem) {
  return Error(ErrorCode::kInvalidArgument, field + ": " + problem);
}
inline Error NotFound(const std::string& what) {
  return Error(ErrorCode::kNotFound, what + " not found");
}
inline Error AlreadyExists(const std::string& message) {
  return Error(ErrorCode::kAlreadyExists, message);
}
inline Error FailedPrecondition(const std::string& message) {
  return Error(ErrorCode::kFailedPrecondition, message);
}
inline Error Unavailable(const std::string& message) {
  return Error(ErrorCode::kUnavailable, message);
}

}  // namespace herald
