#pragma once

#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <vector>

namespace herald::dispatch::sms {

struct HttpPost {
  std::string url;
  std::string content_type;
  std::string body;
  std::vector<std::string> headers;  // extra "Name: value" lines
  std::string basic_user;            // HTTP basic auth when not empty
  std::string basic_password;
  int timeout_s = 15;  // for the whole exchange, connecting included
  // Once requested, a request not yet written in full is abandoned (HttpReply::stopped); one
  // that was written waits for its answer.
  std::stop_token stop;
};

struct HttpReply {
  int status = 0;               // 0: no HTTP answer (connection failure, timeout)
  std::string body;             // at most kMaxReplyBodyBytes; the rest is discarded
  std::string retry_after;      // the Retry-After header, as sent
  std::string transport_error;  // why there is no answer, when status is 0
  // With status 0: the whole request, body included, had been written to the connection
  // before the answer failed to come (a timeout, a reset, a connection closed without a
  // reply). The provider may have acted on it.
  bool request_sent = false;
  // With status 0: abandoned on HttpPost::stop before the whole request was written, so the
  // provider cannot have acted on it.
  bool stopped = false;
};

inline constexpr size_t kMaxReplyBodyBytes = 64 * 1024;

// A libcurl client for provider APIs (the same library the SMTP transport uses). Thread-safe:
// each call borrows an easy handle from a small pool, so concurrent sends never share one,
// and a handle's open connections are reused by whichever call borrows it next.
//
// Redirects are not followed: a provider answering a POST with a redirect is misconfigured,
// and following it would resend the credentials elsewhere.
class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpReply Post(const HttpPost& request);

 private:
  struct Handle;
  std::unique_ptr<Handle> Acquire();
  void Release(std::unique_ptr<Handle> handle);

  std::mutex mu_;
  std::vector<std::unique_ptr<Handle>> idle_;  // guarded by mu_
};

}  // namespace herald::dispatch::sms
