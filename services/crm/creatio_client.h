#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "services/crm/creatio_settings.h"

namespace herald::crm {

// One OData request, relative to the OData base: "Contact(<id>)", "$batch",
// "BulkEmailSubscription?$filter=...". `body` is JSON, empty for none. The URL is OData text:
// the client percent-encodes what a URL cannot carry (spaces, quotes, non-ASCII) and '+' in
// the query; '%' passes unchanged, so an already encoded URL stays as it is.
struct ODataRequest {
  std::string method;  // GET, POST, PATCH
  std::string url;
  std::string body;
};

// How an exchange ended, as the write-back worker and the import act on it.
enum class Outcome {
  kAnswered,    // an HTTP answer other than the ones below (see `status`)
  kAuthFailed,  // still 401/403/redirect to login after one fresh login, or login refused
  kRetryLater,  // 429, 5xx, timeout, refused or reset connection: back off and retry
};

struct ODataAnswer {
  Outcome outcome = Outcome::kAnswered;
  int status = 0;    // HTTP status; 0 when there was no answer
  std::string body;  // the answer's body (JSON), at most a few MiB
  // Retry-After in seconds when the answer carried one (429, 503).
  std::optional<int> retry_after_s;
  // Why, without personal data: "HTTP 503", "timeout", "connection refused", "login refused
  // (Code 1)".
  std::string error;
};

// One item's answer inside a $batch, in request order. An item Creatio did not execute
// (after a failure, without continue-on-error) has status 0.
struct BatchItemAnswer {
  int status = 0;
  std::string body;
};

struct BatchAnswer {
  ODataAnswer exchange;                // of the $batch request itself
  std::vector<BatchItemAnswer> items;  // filled when exchange is kAnswered with 200
};

// A client of Creatio's OData 4 API, shared by every write-back worker and the import.
// Thread-safe. Logs in lazily (cookie login, or OAuth 2.0 client credentials with the token
// reused until shortly before it expires), sends the headers Creatio needs (ForceUseSession,
// BPMCSRF echoed from its cookie), and on 401, 403 or a redirect to the login page logs in
// again once and retries once. The fresh login is single-flight: a request that failed on
// session generation g logs in only if no other thread has already replaced g, so concurrent
// workers cost one login, never a storm.
class CreatioClient {
 public:
  explicit CreatioClient(CreatioSettings settings);
  ~CreatioClient();
  CreatioClient(const CreatioClient&) = delete;
  CreatioClient& operator=(const CreatioClient&) = delete;

  ODataAnswer Send(const ODataRequest& request);
  // POST $batch with `Prefer: continue-on-error`; at most 100 items (more, or an item body
  // that is not JSON, throws std::invalid_argument: a caller's bug). An empty list sends
  // nothing and answers kAnswered with status 0.
  BatchAnswer Batch(const std::vector<ODataRequest>& items);

  // Reads $metadata and checks that every configured entity and field exists. Returns the
  // problems found ("Contact has no property DoNotUseSms"); empty when all is well. Throws
  // nothing: an exchange failure is returned as one problem.
  std::vector<std::string> CheckMetadata();

  const CreatioSettings& settings() const { return settings_; }
  int logins() const { return logins_.load(); }  // fresh logins or tokens obtained

 private:
  struct Session;
  struct Transport;
  // A login (or token) for generation `generation`; a failed one is returned too (not ok).
  // Called with session_mu_ held.
  std::shared_ptr<const Session> Login(int generation);
  // The session to use, logging in when there is none, an OAuth token is due for renewal,
  // or the last login failed (a refusal only after settings_.login_refused_hold_ms).
  std::shared_ptr<const Session> CurrentSession();
  // After an auth problem on `failed_generation`: logs in unless another thread already did.
  std::shared_ptr<const Session> Relogin(int failed_generation);
  ODataAnswer Exchange(const ODataRequest& request, const char* accept,
                       const std::vector<std::string>& extra_headers);

  CreatioSettings settings_;
  std::unique_ptr<Transport> transport_;
  std::mutex session_mu_;
  std::shared_ptr<const Session> session_;  // guarded by session_mu_
  std::atomic<int> logins_{0};
};

}  // namespace herald::crm
