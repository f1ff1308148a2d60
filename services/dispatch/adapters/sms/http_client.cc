#include "services/dispatch/adapters/sms/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <string_view>

namespace herald::dispatch::sms {
namespace {

// Idle handles kept beyond this are closed: more than this many concurrent sends per
// provider would be unusual, and each idle handle holds sockets open.
constexpr size_t kMaxIdleHandles = 16;

std::once_flag curl_init_once;

struct ReplyCollector {
  HttpReply* reply;
};

size_t CollectBody(char* data, size_t size, size_t count, void* user) {
  auto* reply = static_cast<ReplyCollector*>(user)->reply;
  size_t n = size * count;
  // Keep reading past the cap (returning less would abort the transfer and turn an accepted
  // message into a transport error), but keep only what a caller may look at.
  size_t room = kMaxReplyBodyBytes - std::min(kMaxReplyBodyBytes, reply->body.size());
  reply->body.append(data, std::min(n, room));
  return n;
}

bool StartsWithNoCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

size_t CollectHeader(char* data, size_t size, size_t count, void* user) {
  auto* reply = static_cast<ReplyCollector*>(user)->reply;
  std::string_view line(data, size * count);
  // A new status line starts a new header block (after "100 Continue"): forget the old one.
  if (StartsWithNoCase(line, "HTTP/")) {
    reply->retry_after.clear();
  } else if (StartsWithNoCase(line, "retry-after:")) {
    reply->retry_after = std::string(Trim(line.substr(std::string_view("retry-after:").size())));
  }
  return size * count;
}

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

void Append(Slist& list, const std::string& line) {
  curl_slist* head = curl_slist_append(list.get(), line.c_str());
  if (head == nullptr) throw std::bad_alloc();
  if (!list) list.reset(head);  // the first append creates the list; later ones extend it
}

// libcurl counts the request's header bytes (CURLINFO_REQUEST_SIZE) and body bytes
// (CURLINFO_SIZE_UPLOAD_T) as they are written to the connection, those of a body sent with
// the headers included. Both complete and no answer: a timer ran out or the connection was
// reset or closed while the provider had the whole request. A send error means some of it
// could not be written, and a failure to connect or to set up TLS comes before any of it.
bool WholeRequestSent(CURL* c, CURLcode rc, size_t body_size) {
  if (rc != CURLE_OPERATION_TIMEDOUT && rc != CURLE_GOT_NOTHING && rc != CURLE_RECV_ERROR) {
    return false;
  }
  long header_bytes = 0;  // NOLINT(google-runtime-int): curl's type
  curl_off_t body_bytes = 0;
  curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &header_bytes);
  curl_easy_getinfo(c, CURLINFO_SIZE_UPLOAD_T, &body_bytes);
  return header_bytes > 0 && body_bytes >= static_cast<curl_off_t>(body_size);
}

// Abandons a request once a stop is asked for, as long as its body is not all written (see
// HttpPost::stop). libcurl calls this at least once a second, connecting included.
struct StopWatch {
  const std::stop_token* stop = nullptr;
  curl_off_t body_size = 0;
  bool stopped = false;
};

int OnProgress(void* userp, curl_off_t, curl_off_t, curl_off_t, curl_off_t uploaded) {
  auto* watch = static_cast<StopWatch*>(userp);
  if (!watch->stop->stop_requested() || uploaded >= watch->body_size) return 0;
  watch->stopped = true;
  return 1;
}

}  // namespace

struct HttpClient::Handle {
  Handle() : curl(curl_easy_init()) {
    if (curl == nullptr) throw std::runtime_error("curl_easy_init failed");
  }
  ~Handle() { curl_easy_cleanup(curl); }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  CURL* curl;
};

HttpClient::HttpClient() {
  // curl_global_init is not thread-safe on every build; do it once, before any handle.
  std::call_once(curl_init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

HttpClient::~HttpClient() = default;

std::unique_ptr<HttpClient::Handle> HttpClient::Acquire() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto handle = std::move(idle_.back());
      idle_.pop_back();
      return handle;
    }
  }
  return std::make_unique<Handle>();
}

void HttpClient::Release(std::unique_ptr<Handle> handle) {
  // Reset drops the options (which point into the finished call's buffers) but keeps the
  // live connections, which is the point of pooling.
  curl_easy_reset(handle->curl);
  std::lock_guard lock(mu_);
  if (idle_.size() < kMaxIdleHandles) idle_.push_back(std::move(handle));
}

HttpReply HttpClient::Post(const HttpPost& request) {
  HttpReply reply;
  ReplyCollector collector{&reply};
  char error[CURL_ERROR_SIZE] = {};

  Slist headers;
  Append(headers, "Content-Type: " + request.content_type);
  Append(headers, "Accept: application/json");
  Append(headers, "Expect:");  // no 100-continue round trip for a small body
  for (const auto& h : request.headers) Append(headers, h);

  auto handle = Acquire();
  CURL* c = handle->curl;
  long timeout = std::max(1, request.timeout_s);  // NOLINT(google-runtime-int): curl's type
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_USERAGENT, "herald-sms/0.1");
  curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // signals and threads do not mix
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, CollectBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &collector);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, CollectHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &collector);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  if (!request.basic_user.empty()) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, request.basic_user.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, request.basic_password.c_str());
  }

  StopWatch watch{&request.stop, static_cast<curl_off_t>(request.body.size())};
  if (request.stop.stop_possible()) {
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, OnProgress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &watch);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  }

  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_OK) {
    long status = 0;  // NOLINT(google-runtime-int): curl's type
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    reply.status = static_cast<int>(status);
  } else {
    reply = HttpReply{};
    reply.transport_error = error[0] != '\0' ? error : curl_easy_strerror(rc);
    reply.request_sent = WholeRequestSent(c, rc, request.body.size());
    reply.stopped = watch.stopped;
  }
  Release(std::move(handle));
  return reply;
}

}  // namespace herald::dispatch::sms
