#include "services/crm/creatio_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string_view>

namespace herald::crm {
namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

// Idle handles kept beyond this are closed: each holds a connection open.
constexpr size_t kMaxIdleHandles = 16;
// Creatio's $metadata of a full configuration runs to several MiB; a larger answer is not
// one Herald asked for.
constexpr size_t kMaxBodyBytes = size_t{64} << 20;
constexpr int kMaxBatchItems = 100;

std::once_flag curl_init_once;

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

bool ContainsNoCase(std::string_view text, std::string_view part) {
  if (part.size() > text.size()) return false;
  for (size_t i = 0; i + part.size() <= text.size(); ++i) {
    if (StartsWithNoCase(text.substr(i), part)) return true;
  }
  return false;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

struct HttpExchange {
  std::string method;
  std::string url;
  std::string body;
  std::vector<std::string> headers;  // "Name: value"
};

struct HttpReply {
  CURLcode code = CURLE_OK;
  bool too_large = false;
  int status = 0;
  std::string body;
  std::string retry_after;
  std::string location;
  std::vector<std::string> set_cookies;  // "name=value", attributes dropped
};

size_t CollectBody(char* data, size_t size, size_t count, void* user) {
  auto* reply = static_cast<HttpReply*>(user);
  size_t n = size * count;
  if (reply->body.size() + n > kMaxBodyBytes) {
    reply->too_large = true;
    return 0;  // aborts the transfer
  }
  reply->body.append(data, n);
  return n;
}

size_t CollectHeader(char* data, size_t size, size_t count, void* user) {
  auto* reply = static_cast<HttpReply*>(user);
  std::string_view line(data, size * count);
  auto value_of = [&line](std::string_view name) {
    return std::string(Trim(line.substr(name.size())));
  };
  if (StartsWithNoCase(line, "HTTP/")) {
    // A new status line (after "100 Continue") starts a new header block.
    reply->retry_after.clear();
    reply->location.clear();
    reply->set_cookies.clear();
  } else if (StartsWithNoCase(line, "retry-after:")) {
    reply->retry_after = value_of("retry-after:");
  } else if (StartsWithNoCase(line, "location:")) {
    reply->location = value_of("location:");
  } else if (StartsWithNoCase(line, "set-cookie:")) {
    std::string cookie = value_of("set-cookie:");
    cookie = std::string(Trim(cookie.substr(0, cookie.find(';'))));
    if (cookie.find('=') != std::string::npos) reply->set_cookies.push_back(std::move(cookie));
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
  if (!list) list.reset(head);
}

// OData URLs are written as OData text ("Contact?$filter=Email eq 'a+b@example.org'"):
// characters a URL cannot carry are percent-encoded, and '+' in the query too (servers read
// it as a space there). '%' passes as is, so an already encoded URL stays what it was.
std::string EncodeUrl(std::string_view url) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(url.size());
  bool in_query = false;
  for (char ch : url) {
    auto c = static_cast<unsigned char>(ch);
    if (ch == '?') in_query = true;
    bool plain = c > 0x20 && c < 0x7f && ch != '"' && ch != '<' && ch != '>' && ch != '\\' &&
                 ch != '^' && ch != '`' && ch != '{' && ch != '|' && ch != '}' && ch != '#' &&
                 !(in_query && ch == '+');
    if (plain) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

std::string FormEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

// Retry-After as seconds from now: "120", or an HTTP-date.
std::optional<int> ParseRetryAfter(const std::string& text) {
  if (text.empty()) return std::nullopt;
  if (std::all_of(text.begin(), text.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })) {
    if (text.size() > 9) return std::numeric_limits<int>::max();
    return std::stoi(text);
  }
  time_t when = curl_getdate(text.c_str(), nullptr);
  if (when < 0) return std::nullopt;
  auto delta = static_cast<long long>(when) - static_cast<long long>(std::time(nullptr));
  return static_cast<int>(std::clamp<long long>(delta, 0, std::numeric_limits<int>::max()));
}

// Why an exchange got no answer, without the URL or anything else the request carried.
std::string TransportError(const HttpReply& reply) {
  if (reply.too_large) return "answer larger than " + std::to_string(kMaxBodyBytes >> 20) + " MiB";
  switch (reply.code) {
    case CURLE_OPERATION_TIMEDOUT:
      return "timeout";
    case CURLE_COULDNT_CONNECT:
      return "connection refused";
    case CURLE_GOT_NOTHING:
      return "connection closed without an answer";
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
      return "connection reset";
    default:
      return std::string("transport error: ") + curl_easy_strerror(reply.code);
  }
}

bool IsRedirectToLogin(const HttpReply& reply) {
  return reply.status >= 300 && reply.status < 400 && ContainsNoCase(reply.location, "login");
}

bool IsAuthProblem(const HttpReply& reply) {
  return reply.status == 401 || reply.status == 403 || IsRedirectToLogin(reply);
}

std::string AuthProblem(const HttpReply& reply) {
  if (IsRedirectToLogin(reply)) return "redirect to the login page";
  return "HTTP " + std::to_string(reply.status);
}

// What the worker acts on, for an answer that is not an auth problem.
ODataAnswer Classify(HttpReply reply) {
  ODataAnswer answer;
  if (reply.code != CURLE_OK || reply.too_large) {
    answer.outcome = Outcome::kRetryLater;
    answer.error = TransportError(reply);
    return answer;
  }
  answer.status = reply.status;
  answer.body = std::move(reply.body);
  answer.retry_after_s = ParseRetryAfter(reply.retry_after);
  if (reply.status == 429 || reply.status >= 500) {
    answer.outcome = Outcome::kRetryLater;
  }
  if (reply.status < 200 || reply.status >= 300) {
    answer.error = "HTTP " + std::to_string(reply.status);
  }
  return answer;
}

// The names inside the element of `<EntityType Name="entity"`: its Property and
// NavigationProperty names. nullopt when the entity is not there. A plain text walk, so a
// namespace prefix or attribute order Creatio's next version picks does not break it.
std::optional<std::vector<std::string>> EntityMembers(const std::string& xml,
                                                      const std::string& entity) {
  size_t pos = 0;
  const std::string name_attr = "Name=\"" + entity + "\"";
  while (true) {
    pos = xml.find("EntityType", pos);
    if (pos == std::string::npos) return std::nullopt;
    bool opening = pos > 0 && (xml[pos - 1] == '<' || xml[pos - 1] == ':');
    size_t tag_end = xml.find('>', pos);
    if (tag_end == std::string::npos) return std::nullopt;
    std::string_view tag(xml.data() + pos, tag_end - pos);
    if (opening && tag.find(name_attr) != std::string_view::npos) {
      std::vector<std::string> members;
      if (tag_end > 0 && xml[tag_end - 1] == '/') return members;  // <EntityType ... />
      size_t end = xml.find("EntityType>", tag_end);
      if (end == std::string::npos) end = xml.size();
      size_t p = tag_end;
      while ((p = xml.find("Property", p)) != std::string::npos && p < end) {
        size_t element_end = xml.find('>', p);
        if (element_end == std::string::npos || element_end > end) break;
        std::string_view element(xml.data() + p, element_end - p);
        size_t n = element.find(" Name=\"");
        if (n != std::string_view::npos) {
          n += 7;
          size_t q = element.find('"', n);
          if (q != std::string_view::npos) members.emplace_back(element.substr(n, q - n));
        }
        p = element_end;
      }
      return members;
    }
    pos = tag_end;
  }
}

}  // namespace

// What a login produced. A failed login is kept too, so the requests that waited for it
// share its answer instead of each trying again.
struct CreatioClient::Session {
  int generation = 0;
  bool ok = false;
  // Failed login: what to answer, and when it failed.
  Outcome failure = Outcome::kAuthFailed;
  std::string error;
  Clock::time_point failed_at;
  // Cookie login.
  std::string cookie_header;  // "name=value; name=value"
  std::string csrf;           // BPMCSRF, echoed as a header
  // OAuth.
  std::string bearer;
  Clock::time_point renew_at = Clock::time_point::max();
};

struct CreatioClient::Transport {
  struct Handle {
    Handle() : curl(curl_easy_init()) {
      if (curl == nullptr) throw std::runtime_error("curl_easy_init failed");
    }
    ~Handle() { curl_easy_cleanup(curl); }
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    CURL* curl;
  };

  explicit Transport(int timeout_ms) : timeout_ms(timeout_ms) {
    // curl_global_init is not thread-safe on every build; once, before any handle.
    std::call_once(curl_init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  }

  std::unique_ptr<Handle> Acquire() {
    {
      std::lock_guard lock(mu);
      if (!idle.empty()) {
        auto handle = std::move(idle.back());
        idle.pop_back();
        return handle;
      }
    }
    return std::make_unique<Handle>();
  }

  void Release(std::unique_ptr<Handle> handle) {
    // Reset drops the options (they point into the finished call's buffers) and keeps the
    // live connection, which is the point of pooling.
    curl_easy_reset(handle->curl);
    std::lock_guard lock(mu);
    if (idle.size() < kMaxIdleHandles) idle.push_back(std::move(handle));
  }

  HttpReply Perform(const HttpExchange& request) {
    HttpReply reply;
    Slist headers;
    Append(headers, "Expect:");  // no 100-continue round trip
    for (const auto& h : request.headers) Append(headers, h);

    auto handle = Acquire();
    CURL* c = handle->curl;
    long timeout = timeout_ms;  // NOLINT(google-runtime-int): curl's type
    curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    // Never follow: a redirect to /Login is how Creatio says the session is gone.
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    if (request.method == "GET") {
      curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
      if (request.method != "POST") {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
      }
      curl_easy_setopt(c, CURLOPT_POST, 1L);
      // A write goes on a connection of its own. On a reused connection that ends before
      // any byte of an answer, libcurl silently sends the request again on a fresh one; a
      // write held by a stalled Creatio would then be applied late, after newer changes
      // were queued (a stale card written, then the right one), and a POST would add a
      // second row. Without reuse the caller sees the failure and decides itself.
      curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size()));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c, CURLOPT_USERAGENT, "herald-crm/0.1");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // signals and threads do not mix
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, CollectBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, CollectHeader);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &reply);

    reply.code = curl_easy_perform(c);
    if (reply.code == CURLE_OK) {
      long status = 0;  // NOLINT(google-runtime-int): curl's type
      curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
      reply.status = static_cast<int>(status);
    } else {
      reply.status = 0;
      reply.body.clear();
    }
    Release(std::move(handle));
    return reply;
  }

  int timeout_ms;
  std::mutex mu;
  std::vector<std::unique_ptr<Handle>> idle;
};

CreatioClient::CreatioClient(CreatioSettings settings)
    : settings_(std::move(settings)),
      transport_(std::make_unique<Transport>(settings_.timeout_ms)) {}

CreatioClient::~CreatioClient() = default;

std::shared_ptr<const CreatioClient::Session> CreatioClient::Login(int generation) {
  auto session = std::make_shared<Session>();
  session->generation = generation;
  auto fail = [&session](Outcome outcome, std::string error) {
    session->ok = false;
    session->failure = outcome;
    session->error = std::move(error);
    session->failed_at = Clock::now();
    return session;
  };

  HttpExchange request;
  request.method = "POST";
  request.headers = {"Accept: application/json"};
  bool oauth = settings_.auth == "oauth";
  if (oauth) {
    const std::string& base =
        settings_.identity_url.empty() ? settings_.base_url : settings_.identity_url;
    request.url = base + "/connect/token";
    request.headers.emplace_back("Content-Type: application/x-www-form-urlencoded");
    request.body = "grant_type=client_credentials&client_id=" + FormEncode(settings_.client_id) +
                   "&client_secret=" + FormEncode(settings_.client_secret);
  } else {
    request.url = settings_.base_url + "/ServiceModel/AuthService.svc/Login";
    request.headers.emplace_back("Content-Type: application/json");
    request.headers.emplace_back("ForceUseSession: true");
    request.body =
        Json{{"UserName", settings_.user_name}, {"UserPassword", settings_.password}}.dump();
  }
  const char* what = oauth ? "token request" : "login";

  HttpReply reply = transport_->Perform(request);
  if (reply.code != CURLE_OK || reply.too_large) {
    return fail(Outcome::kRetryLater, std::string(what) + ": " + TransportError(reply));
  }
  if (reply.status == 429 || reply.status >= 500) {
    return fail(Outcome::kRetryLater,
                std::string(what) + " answered HTTP " + std::to_string(reply.status));
  }
  if (reply.status != 200) {
    return fail(Outcome::kAuthFailed,
                std::string(what) + " refused (HTTP " + std::to_string(reply.status) + ")");
  }
  Json body = Json::parse(reply.body, nullptr, /*allow_exceptions=*/false);

  if (oauth) {
    if (!body.is_object() || !body.contains("access_token") || !body["access_token"].is_string() ||
        body["access_token"].get<std::string>().empty()) {
      return fail(Outcome::kAuthFailed, "token request answered without an access_token");
    }
    session->bearer = body["access_token"].get<std::string>();
    long long lifetime_s = 0;
    if (body.contains("expires_in")) {
      const auto& e = body["expires_in"];
      if (e.is_number()) {
        lifetime_s = e.get<long long>();
      } else if (e.is_string()) {
        lifetime_s = std::atoll(e.get<std::string>().c_str());
      }
    }
    if (lifetime_s > 0) {
      // Renewed shortly before it runs out, so a request in flight never carries a token
      // that expires on the way: 60 s early, or a tenth of a short lifetime.
      auto lifetime = std::chrono::milliseconds(lifetime_s * 1000);
      auto margin = std::min<std::chrono::milliseconds>(std::chrono::seconds(60), lifetime / 10);
      session->renew_at = Clock::now() + lifetime - margin;
    }
  } else {
    // HTTP 200 is not success: bad credentials answer 200 with Code 1.
    if (!body.is_object() || !body.contains("Code") || !body["Code"].is_number_integer()) {
      return fail(Outcome::kAuthFailed, "login refused (no Code in the answer)");
    }
    auto code = body["Code"].get<long long>();
    if (code != 0) {
      return fail(Outcome::kAuthFailed, "login refused (Code " + std::to_string(code) + ")");
    }
    std::map<std::string, std::string> cookies;
    for (const auto& cookie : reply.set_cookies) {
      auto eq = cookie.find('=');
      cookies[cookie.substr(0, eq)] = cookie.substr(eq + 1);
    }
    for (const auto& [name, value] : cookies) {
      if (!session->cookie_header.empty()) session->cookie_header += "; ";
      session->cookie_header += name + "=" + value;
    }
    if (auto it = cookies.find("BPMCSRF"); it != cookies.end()) session->csrf = it->second;
  }
  session->ok = true;
  logins_.fetch_add(1);
  return session;
}

std::shared_ptr<const CreatioClient::Session> CreatioClient::CurrentSession() {
  std::lock_guard lock(session_mu_);
  const auto now = Clock::now();
  bool fresh_login = !session_;
  if (session_ && session_->ok && now >= session_->renew_at) fresh_login = true;
  if (session_ && !session_->ok) {
    // A refused login is not tried again at once: Creatio locks a user out after a few
    // bad passwords, and every queued row would otherwise try.
    auto hold = session_->failure == Outcome::kAuthFailed
                    ? std::chrono::milliseconds(settings_.login_refused_hold_ms)
                    : std::chrono::milliseconds(0);
    if (now - session_->failed_at >= hold) fresh_login = true;
  }
  if (fresh_login) session_ = Login(session_ ? session_->generation + 1 : 1);
  return session_;
}

std::shared_ptr<const CreatioClient::Session> CreatioClient::Relogin(int failed_generation) {
  std::lock_guard lock(session_mu_);
  // Single flight: whoever comes second finds the generation already replaced (by a
  // session or by a refusal) and takes that.
  if (session_ && session_->generation != failed_generation) return session_;
  session_ = Login(failed_generation + 1);
  return session_;
}

ODataAnswer CreatioClient::Exchange(const ODataRequest& request, const char* accept,
                                    const std::vector<std::string>& extra_headers) {
  HttpExchange http;
  http.method = request.method;
  http.url = settings_.base_url + settings_.odata_path + "/" + EncodeUrl(request.url);
  http.body = request.body;

  auto with_session = [&](const Session& session) {
    HttpExchange out = http;
    out.headers = {std::string("Accept: ") + accept,
                   "Content-Type: application/json; charset=utf-8; IEEE754Compatible=true",
                   "ForceUseSession: true"};
    for (const auto& h : extra_headers) out.headers.push_back(h);
    if (!session.bearer.empty()) {
      out.headers.push_back("Authorization: Bearer " + session.bearer);
    } else {
      if (!session.cookie_header.empty()) out.headers.push_back("Cookie: " + session.cookie_header);
      if (!session.csrf.empty()) out.headers.push_back("BPMCSRF: " + session.csrf);
    }
    return out;
  };

  auto login_failure = [](const Session& session) {
    ODataAnswer answer;
    answer.outcome = session.failure;
    answer.error = session.error;
    return answer;
  };

  auto session = CurrentSession();
  if (!session->ok) return login_failure(*session);
  HttpReply reply = transport_->Perform(with_session(*session));
  if (reply.code == CURLE_OK && IsAuthProblem(reply)) {
    session = Relogin(session->generation);
    if (!session->ok) return login_failure(*session);
    reply = transport_->Perform(with_session(*session));
    if (reply.code == CURLE_OK && IsAuthProblem(reply)) {
      ODataAnswer answer;
      answer.outcome = Outcome::kAuthFailed;
      answer.status = reply.status;
      answer.error = AuthProblem(reply) + " after a fresh login";
      return answer;
    }
  }
  return Classify(std::move(reply));
}

ODataAnswer CreatioClient::Send(const ODataRequest& request) {
  return Exchange(request, "application/json", {});
}

BatchAnswer CreatioClient::Batch(const std::vector<ODataRequest>& items) {
  if (items.size() > kMaxBatchItems) {
    throw std::invalid_argument("a $batch carries at most 100 requests");
  }
  BatchAnswer answer;
  if (items.empty()) return answer;

  Json requests = Json::array();
  for (size_t i = 0; i < items.size(); ++i) {
    Json item{{"method", items[i].method},
              {"url", EncodeUrl(items[i].url)},
              {"id", std::to_string(i + 1)},
              // Creatio's own examples carry these per item; continue-on-error per item too,
              // for versions that read it there rather than on the $batch request.
              {"headers",
               {{"Content-Type", "application/json;odata=verbose"},
                {"Accept", "application/json;odata=verbose"},
                {"Prefer", "continue-on-error"}}}};
    if (!items[i].body.empty()) {
      Json body = Json::parse(items[i].body, nullptr, /*allow_exceptions=*/false);
      if (body.is_discarded()) {
        throw std::invalid_argument("the body of $batch item " + std::to_string(i + 1) +
                                    " is not JSON");
      }
      item["body"] = std::move(body);
    }
    requests.push_back(std::move(item));
  }
  ODataRequest batch{"POST", "$batch", Json{{"requests", std::move(requests)}}.dump()};
  answer.exchange = Exchange(batch, "application/json", {"Prefer: continue-on-error"});
  if (answer.exchange.outcome != Outcome::kAnswered || answer.exchange.status != 200) {
    return answer;
  }

  answer.items.resize(items.size());
  Json body = Json::parse(answer.exchange.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object() || !body.contains("responses") || !body["responses"].is_array()) {
    answer.exchange.error = "$batch answer without responses";
    return answer;
  }
  for (const auto& response : body["responses"]) {
    if (!response.is_object() || !response.contains("id")) continue;
    const auto& id_json = response["id"];
    long long id = 0;
    if (id_json.is_string()) {
      const auto& text = id_json.get_ref<const std::string&>();
      if (text.empty() || text.size() > 6 || !std::all_of(text.begin(), text.end(), [](char c) {
            return std::isdigit(static_cast<unsigned char>(c)) != 0;
          })) {
        continue;
      }
      id = std::stoll(text);
    } else if (id_json.is_number_integer()) {
      id = id_json.get<long long>();
    }
    if (id < 1 || id > static_cast<long long>(items.size())) continue;
    auto& item = answer.items[static_cast<size_t>(id - 1)];
    if (response.contains("status") && response["status"].is_number_integer()) {
      item.status = response["status"].get<int>();
    }
    if (response.contains("body")) {
      const auto& b = response["body"];
      item.body = b.is_string() ? b.get<std::string>() : b.is_null() ? std::string() : b.dump();
    }
  }
  return answer;
}

std::vector<std::string> CreatioClient::CheckMetadata() {
  std::vector<std::string> problems;
  ODataAnswer answer;
  try {
    answer = Exchange({"GET", "$metadata", ""}, "application/xml", {});
  } catch (const std::exception& e) {
    return {std::string("$metadata: ") + e.what()};
  }
  if (answer.outcome != Outcome::kAnswered || answer.status != 200) {
    std::string why =
        !answer.error.empty() ? answer.error : "HTTP " + std::to_string(answer.status);
    return {"$metadata could not be read: " + why};
  }

  auto check = [&](const std::string& entity,
                   const std::vector<std::vector<std::string>>& required) {
    auto members = EntityMembers(answer.body, entity);
    if (!members) {
      problems.push_back("$metadata has no entity " + entity);
      return;
    }
    for (const auto& alternatives : required) {
      bool found = std::any_of(alternatives.begin(), alternatives.end(), [&](const auto& name) {
        return std::find(members->begin(), members->end(), name) != members->end();
      });
      if (!found) problems.push_back(entity + " has no property " + alternatives.front());
    }
  };
  check(settings_.contact_entity, {{"Id"},
                                   {settings_.do_not_use_email_field},
                                   {settings_.do_not_use_sms_field},
                                   {settings_.do_not_use_call_field},
                                   {settings_.email_field},
                                   {settings_.mobile_phone_field},
                                   {settings_.name_field}});
  // The subscription's references are written as ...Id properties; a fork exposing only the
  // navigation properties still lets $filter=Contact/Id work, so either is accepted.
  check(settings_.subscription_entity, {{"Id"},
                                        {"ContactId", "Contact"},
                                        {"BulkEmailTypeId", "BulkEmailType"},
                                        {"BulkEmailSubsStatusId", "BulkEmailSubsStatus"}});
  return problems;
}

}  // namespace herald::crm
