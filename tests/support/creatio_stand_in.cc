#include "tests/support/creatio_stand_in.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <utility>

namespace herald::testing {

using json = nlohmann::json;

namespace {

constexpr char kODataBase[] = "/0/odata";
constexpr char kLoginPath[] = "/ServiceModel/AuthService.svc/Login";
constexpr char kTokenPath[] = "/connect/token";
constexpr char kJsonType[] = "application/json; odata.metadata=minimal; charset=utf-8";
constexpr size_t kMaxBatchRequests = 100;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool IsGuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (std::isxdigit(static_cast<unsigned char>(s[i])) == 0) {
      return false;
    }
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// ASP.NET reads a query string the form way: '+' is a space, %XX a byte.
std::string PercentDecode(const std::string& s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Keeps what OData clients leave readable in a query ($, comma, slash, quote, parentheses).
std::string PercentEncode(const std::string& s, bool lower_hex = false) {
  static const char kUpper[] = "0123456789ABCDEF";
  static const char kLower[] = "0123456789abcdef";
  const char* hex = lower_hex ? kLower : kUpper;
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 ||
        std::string_view("-._~$,'()").find(static_cast<char>(c)) != std::string_view::npos) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

using QueryParams = std::vector<std::pair<std::string, std::string>>;

QueryParams ParseQuery(const std::string& raw) {
  QueryParams params;
  size_t start = 0;
  while (start <= raw.size() && !raw.empty()) {
    size_t end = raw.find('&', start);
    if (end == std::string::npos) end = raw.size();
    std::string part = raw.substr(start, end - start);
    if (!part.empty()) {
      const size_t eq = part.find('=');
      std::string key = part.substr(0, eq);
      std::string value = eq == std::string::npos ? "" : part.substr(eq + 1);
      params.emplace_back(PercentDecode(key, true), PercentDecode(value, true));
    }
    start = end + 1;
  }
  return params;
}

std::string QueryString(const QueryParams& params) {
  std::string out;
  for (const auto& [key, value] : params) {
    if (!out.empty()) out += '&';
    out += PercentEncode(key) + "=" + PercentEncode(value);
  }
  return out;
}

// The client's side of this exchange sees its connection closed before any byte of an
// answer: httplib always writes a response after the handler returns, so the socket is shut
// down under it. The socket is found by its two ports (httplib does not hand it out). The
// write httplib then attempts fails with EPIPE; SIGPIPE stays blocked in this pool thread so
// it cannot end the test process.
void AbortConnection(const httplib::Request& req) {
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  while (dirent* entry = readdir(dir)) {
    if (std::isdigit(static_cast<unsigned char>(entry->d_name[0])) == 0) continue;
    const int fd = std::atoi(entry->d_name);
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    sockaddr_in local{};
    sockaddr_in peer{};
    socklen_t len = sizeof(local);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0 ||
        local.sin_family != AF_INET || ntohs(local.sin_port) != req.local_port) {
      continue;
    }
    len = sizeof(peer);
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0 ||
        ntohs(peer.sin_port) != req.remote_port) {
      continue;
    }
    shutdown(fd, SHUT_RDWR);
  }
  closedir(dir);
}

// httplib 0.11 listens with a backlog of 5: clients that each open a connection per request
// overflow it, and a dropped SYN costs a one-second retransmit, which would pass for a slow
// Creatio. Listening again on the bound socket only widens its queue.
void WidenListenBacklog(int port) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  while (dirent* entry = readdir(dir)) {
    if (std::isdigit(static_cast<unsigned char>(entry->d_name[0])) == 0) continue;
    const int fd = std::atoi(entry->d_name);
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    int listening = 0;
    socklen_t option_len = sizeof(listening);
    sockaddr_in local{};
    socklen_t len = sizeof(local);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &option_len) == 0 && listening != 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0 &&
        local.sin_family == AF_INET && ntohs(local.sin_port) == port) {
      ::listen(fd, SOMAXCONN);
    }
  }
  closedir(dir);
}

// What the stand-in answers, before it becomes an HTTP response or a $batch item.
struct Answer {
  int status = 200;
  json body;  // null: none (or `text` when set)
  std::string text;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;
};

Answer ODataError(int status, const std::string& message) {
  Answer a;
  a.status = status;
  a.body = {{"error", {{"code", ""}, {"message", message}}}};
  return a;
}

struct BadRequest : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// $filter: comparisons of a property with a literal, joined by `and` / `or`, in parentheses.
enum class FieldType { kGuid, kString, kBool };
using Schema = std::map<std::string, FieldType>;

struct Filter {
  enum class Kind { kCompare, kAnd, kOr } kind = Kind::kCompare;
  std::string field;  // the property in the row
  std::string op;     // eq ne gt ge lt le
  json literal;
  std::vector<Filter> parts;

  bool Matches(const json& row) const {
    switch (kind) {
      case Kind::kAnd:
        return std::all_of(parts.begin(), parts.end(),
                           [&](const Filter& f) { return f.Matches(row); });
      case Kind::kOr:
        return std::any_of(parts.begin(), parts.end(),
                           [&](const Filter& f) { return f.Matches(row); });
      case Kind::kCompare:
        break;
    }
    const json& value = row.at(field);
    if (op == "eq") return value == literal;
    if (op == "ne") return value != literal;
    if (op == "gt") return value > literal;
    if (op == "ge") return value >= literal;
    if (op == "lt") return value < literal;
    return value <= literal;
  }
};

class FilterParser {
 public:
  FilterParser(const std::string& text, const Schema& schema,
               const std::map<std::string, std::string>& aliases)
      : schema_(schema), aliases_(aliases) {
    Tokenize(text);
  }

  Filter Parse() {
    Filter f = Or();
    if (pos_ != tokens_.size()) throw BadRequest("$filter: unexpected '" + tokens_[pos_] + "'");
    return f;
  }

 private:
  void Tokenize(const std::string& text) {
    size_t i = 0;
    while (i < text.size()) {
      const char c = text[i];
      if (c == ' ') {
        ++i;
      } else if (c == '(' || c == ')') {
        tokens_.emplace_back(1, c);
        ++i;
      } else if (c == '\'') {
        std::string token = "'";
        ++i;
        bool closed = false;
        while (i < text.size()) {
          if (text[i] == '\'') {
            if (i + 1 < text.size() && text[i + 1] == '\'') {
              token += '\'';
              i += 2;
              continue;
            }
            closed = true;
            ++i;
            break;
          }
          token += text[i++];
        }
        if (!closed) throw BadRequest("$filter: unterminated string literal");
        tokens_.push_back(token + "'");
      } else {
        const size_t start = i;
        while (i < text.size() && text[i] != ' ' && text[i] != '(' && text[i] != ')') ++i;
        tokens_.push_back(text.substr(start, i - start));
      }
    }
  }

  const std::string& Next() {
    if (pos_ >= tokens_.size()) throw BadRequest("$filter: unexpected end");
    return tokens_[pos_++];
  }
  bool Peek(const std::string& token) const {
    return pos_ < tokens_.size() && tokens_[pos_] == token;
  }

  Filter Joined(Filter::Kind kind, const std::string& word, Filter (FilterParser::*part)()) {
    Filter first = (this->*part)();
    if (!Peek(word)) return first;
    Filter joined;
    joined.kind = kind;
    joined.parts.push_back(std::move(first));
    while (Peek(word)) {
      ++pos_;
      joined.parts.push_back((this->*part)());
    }
    return joined;
  }
  Filter Or() { return Joined(Filter::Kind::kOr, "or", &FilterParser::And); }
  Filter And() { return Joined(Filter::Kind::kAnd, "and", &FilterParser::Primary); }

  Filter Primary() {
    if (Peek("(")) {
      ++pos_;
      Filter inner = Or();
      if (Next() != ")") throw BadRequest("$filter: ')' expected");
      return inner;
    }
    Filter f;
    std::string name = Next();
    if (auto alias = aliases_.find(name); alias != aliases_.end()) name = alias->second;
    const auto field = schema_.find(name);
    if (field == schema_.end()) {
      throw BadRequest("$filter: Could not find a property named '" + name + "'");
    }
    f.field = name;
    f.op = Next();
    static const std::set<std::string> kOps = {"eq", "ne", "gt", "ge", "lt", "le"};
    if (kOps.count(f.op) == 0) throw BadRequest("$filter: unsupported operator '" + f.op + "'");
    const std::string literal = Next();
    switch (field->second) {
      case FieldType::kGuid:
        if (!IsGuid(literal)) throw BadRequest("$filter: " + name + " needs a GUID literal");
        f.literal = Lower(literal);
        break;
      case FieldType::kString:
        if (literal.size() < 2 || literal.front() != '\'') {
          throw BadRequest("$filter: " + name + " needs a string literal");
        }
        f.literal = literal.substr(1, literal.size() - 2);
        break;
      case FieldType::kBool:
        if (literal != "true" && literal != "false") {
          throw BadRequest("$filter: " + name + " needs true or false");
        }
        if (f.op != "eq" && f.op != "ne") throw BadRequest("$filter: " + name + " is Boolean");
        f.literal = literal == "true";
        break;
    }
    return f;
  }

  const Schema& schema_;
  const std::map<std::string, std::string>& aliases_;
  std::vector<std::string> tokens_;
  size_t pos_ = 0;
};

const Schema& ContactSchema() {
  static const Schema schema = {
      {"Id", FieldType::kGuid},
      {"Name", FieldType::kString},
      {"Email", FieldType::kString},
      {"MobilePhone", FieldType::kString},
      {"UsrTimeZone", FieldType::kString},
      {"DoNotUseEmail", FieldType::kBool},
      {"DoNotUseSms", FieldType::kBool},
      {"DoNotUseCall", FieldType::kBool},
  };
  return schema;
}

const Schema& SubscriptionSchema() {
  static const Schema schema = {
      {"Id", FieldType::kGuid},
      {"ContactId", FieldType::kGuid},
      {"BulkEmailTypeId", FieldType::kGuid},
      {"BulkEmailSubsStatusId", FieldType::kGuid},
  };
  return schema;
}

json ContactRow(const CreatioContact& c) {
  return {{"Id", c.id},
          {"Name", c.name},
          {"Email", c.email},
          {"MobilePhone", c.mobile_phone},
          {"UsrTimeZone", c.time_zone},
          {"DoNotUseEmail", c.do_not_use_email},
          {"DoNotUseSms", c.do_not_use_sms},
          {"DoNotUseCall", c.do_not_use_call}};
}

json SubscriptionRow(const CreatioSubscription& s) {
  return {{"Id", s.id},
          {"ContactId", s.contact_id},
          {"BulkEmailTypeId", s.type_id},
          {"BulkEmailSubsStatusId", s.status_id}};
}

bool Is2xx(int status) { return status >= 200 && status < 300; }

}  // namespace

struct CreatioStandIn::State {
  struct Session {
    std::string csrf;
    std::optional<Expiry> expired;
  };
  struct Token {
    std::chrono::steady_clock::time_point expires;
    std::optional<Expiry> expired;
  };
  struct AppliedWrite {
    CreatioWrite write;
    std::string contact_id;
  };

  mutable std::mutex mu;
  std::condition_variable cv;
  std::mt19937_64 random{std::random_device{}()};
  std::string base_url;

  std::map<std::string, CreatioContact> contacts;
  std::map<std::string, CreatioSubscription> subscriptions;
  std::vector<AppliedWrite> writes;
  std::set<std::string> removed_fields;

  std::string user = "Supervisor";
  std::string password = "Supervisor!1";
  std::string client_id = "herald";
  std::string client_secret = "herald-secret";
  std::chrono::seconds token_lifetime{3600};
  std::map<std::string, Session> sessions;  // by .ASPXAUTH
  std::map<std::string, Token> tokens;

  int fail_count = 0;
  int fail_status = 0;
  int fail_retry_after_s = -1;
  std::chrono::milliseconds delay{0};
  bool stalled = false;
  std::uint64_t releases = 0;  // Unstall() calls so far
  int held = 0;
  bool closing = false;
  std::map<std::string, int> failing_contacts;

  std::vector<CreatioRequest> requests;
  std::uint64_t record_epoch = 0;  // ClearRecord() calls so far
  int logins = 0;
  int failed_logins = 0;
  int token_grants = 0;
  int batches = 0;
  int single_writes = 0;

  std::string RandomHex(size_t bytes) {
    static const char kHex[] = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < bytes; ++i) {
      const auto b = static_cast<unsigned>(random() & 0xff);
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 15]);
    }
    return out;
  }
  std::string NewGuid() {
    std::string hex = RandomHex(16);
    hex[12] = '4';
    return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
           hex.substr(16, 4) + "-" + hex.substr(20);
  }

  // The record of one request; `index` and `epoch` let its status be filled in later.
  std::pair<size_t, std::uint64_t> Record(CreatioRequest r) {
    requests.push_back(std::move(r));
    return {requests.size() - 1, record_epoch};
  }
  void SetStatus(std::pair<size_t, std::uint64_t> at, int status) {
    if (at.second == record_epoch && at.first < requests.size()) {
      requests[at.first].status = status;
    }
  }

  Schema ContactFields() const {
    Schema schema = ContactSchema();
    for (const auto& field : removed_fields) schema.erase(field);
    return schema;
  }
  json ContactJson(const CreatioContact& c) const {
    json row = ContactRow(c);
    for (const auto& field : removed_fields) row.erase(field);
    return row;
  }

  std::string ContextUrl(const std::string& fragment) const {
    return base_url + kODataBase + "/$metadata#" + fragment;
  }

  // --- Authentication -------------------------------------------------------------------

  std::optional<Answer> Expired(Expiry how, const std::string& target) const {
    if (how == Expiry::kUnauthorized) return ODataError(401, "Unauthorized");
    Answer a;
    a.status = 302;
    a.headers.emplace_back("Location",
                           "/Login/NuiLogin.aspx?ReturnUrl=" + PercentEncode(target, true));
    a.text = "<html><head><title>Object moved</title></head><body></body></html>";
    a.content_type = "text/html; charset=utf-8";
    return a;
  }

  // nullopt when the request may go on.
  std::optional<Answer> CheckSession(const httplib::Request& req) const {
    const std::string authorization = req.get_header_value("Authorization");
    if (StartsWith(authorization, "Bearer ")) {
      const auto token = tokens.find(authorization.substr(7));
      if (token == tokens.end()) return ODataError(401, "Unauthorized");
      if (token->second.expired) return Expired(*token->second.expired, req.target);
      if (std::chrono::steady_clock::now() >= token->second.expires) {
        return ODataError(401, "Unauthorized");
      }
      return std::nullopt;
    }
    std::string aspxauth;
    const std::string cookies = req.get_header_value("Cookie");
    size_t start = 0;
    while (start < cookies.size()) {
      size_t end = cookies.find(';', start);
      if (end == std::string::npos) end = cookies.size();
      std::string pair = cookies.substr(start, end - start);
      const size_t first = pair.find_first_not_of(' ');
      if (first != std::string::npos) pair.erase(0, first);
      if (StartsWith(pair, ".ASPXAUTH=")) aspxauth = pair.substr(10);
      start = end + 1;
    }
    const auto session = sessions.find(aspxauth);
    if (aspxauth.empty() || session == sessions.end()) return ODataError(401, "Unauthorized");
    if (session->second.expired) return Expired(*session->second.expired, req.target);
    if (!req.has_header("BPMCSRF") || req.get_header_value("BPMCSRF") != session->second.csrf) {
      return ODataError(403, "The BPMCSRF header is missing or does not match the session");
    }
    return std::nullopt;
  }

  // --- OData ----------------------------------------------------------------------------

  // A collection read: $select, $filter, $orderby, $top, $skip, $count.
  Answer ReadCollection(const std::string& entity, std::vector<json> rows, const Schema& schema,
                        const std::map<std::string, std::string>& aliases,
                        const QueryParams& params) const {
    std::map<std::string, std::string> options;
    for (const auto& [key, value] : params) {
      if (!StartsWith(key, "$")) continue;
      static const std::set<std::string> kSupported = {"$select", "$filter", "$orderby",
                                                       "$top",    "$skip",   "$count"};
      if (kSupported.count(key) == 0) {
        throw BadRequest("The query option '" + key + "' is not supported");
      }
      if (!options.emplace(key, value).second) {
        throw BadRequest("The query option '" + key + "' was given more than once");
      }
    }
    const std::vector<std::string> select = Select(options, schema);
    if (auto f = options.find("$filter"); f != options.end()) {
      const Filter filter = FilterParser(f->second, schema, aliases).Parse();
      std::erase_if(rows, [&](const json& row) { return !filter.Matches(row); });
    }
    if (auto o = options.find("$orderby"); o != options.end()) {
      std::string field = o->second;
      bool descending = false;
      if (const size_t space = field.find(' '); space != std::string::npos) {
        const std::string direction = field.substr(space + 1);
        if (direction != "asc" && direction != "desc") {
          throw BadRequest("$orderby: unsupported direction '" + direction + "'");
        }
        descending = direction == "desc";
        field.resize(space);
      }
      if (schema.count(field) == 0) {
        throw BadRequest("$orderby: Could not find a property named '" + field + "'");
      }
      std::stable_sort(rows.begin(), rows.end(), [&](const json& a, const json& b) {
        return descending ? b.at(field) < a.at(field) : a.at(field) < b.at(field);
      });
    }
    const size_t total = rows.size();
    const size_t skip = Count(options, "$skip").value_or(0);
    const std::optional<size_t> top = Count(options, "$top");
    json value = json::array();
    for (size_t i = skip; i < total && (!top || i < skip + *top); ++i) {
      value.push_back(Project(rows[i], select));
    }
    Answer a;
    std::string fragment = entity;
    if (!select.empty()) {
      fragment += "(";
      for (size_t i = 0; i < select.size(); ++i) fragment += (i ? "," : "") + select[i];
      fragment += ")";
    }
    a.body = {{"@odata.context", ContextUrl(fragment)}};
    if (auto c = options.find("$count"); c != options.end()) {
      if (c->second != "true" && c->second != "false") throw BadRequest("$count: true or false");
      if (c->second == "true") a.body["@odata.count"] = total;
    }
    a.body["value"] = std::move(value);
    if (top && skip + *top < total) {
      QueryParams next;
      bool replaced = false;
      for (const auto& [key, v] : params) {
        if (key == "$skip") {
          next.emplace_back(key, std::to_string(skip + *top));
          replaced = true;
        } else {
          next.emplace_back(key, v);
        }
      }
      if (!replaced) next.emplace_back("$skip", std::to_string(skip + *top));
      a.body["@odata.nextLink"] = base_url + kODataBase + "/" + entity + "?" + QueryString(next);
    }
    return a;
  }

  static std::optional<size_t> Count(const std::map<std::string, std::string>& options,
                                     const std::string& name) {
    const auto o = options.find(name);
    if (o == options.end()) return std::nullopt;
    if (o->second.empty() || o->second.size() > 9 ||
        !std::all_of(o->second.begin(), o->second.end(),
                     [](unsigned char c) { return std::isdigit(c) != 0; })) {
      throw BadRequest(name + ": a non-negative whole number is required");
    }
    return static_cast<size_t>(std::stoul(o->second));
  }

  static std::vector<std::string> Select(const std::map<std::string, std::string>& options,
                                         const Schema& schema) {
    std::vector<std::string> fields;
    const auto s = options.find("$select");
    if (s == options.end()) return fields;
    size_t start = 0;
    while (start <= s->second.size()) {
      size_t end = s->second.find(',', start);
      if (end == std::string::npos) end = s->second.size();
      std::string field = s->second.substr(start, end - start);
      field.erase(0, field.find_first_not_of(' '));
      field.erase(field.find_last_not_of(' ') + 1);
      if (schema.count(field) == 0) {
        throw BadRequest("$select: Could not find a property named '" + field + "'");
      }
      fields.push_back(field);
      start = end + 1;
    }
    return fields;
  }

  static json Project(const json& row, const std::vector<std::string>& select) {
    if (select.empty()) return row;
    json out = json::object();
    for (const auto& field : select) out[field] = row.at(field);
    return out;
  }

  // A single-row read allows $select only.
  static std::vector<std::string> SingleRowSelect(const QueryParams& params, const Schema& schema) {
    std::map<std::string, std::string> options;
    for (const auto& [key, value] : params) {
      if (!StartsWith(key, "$")) continue;
      if (key != "$select") throw BadRequest("The query option '" + key + "' is not supported");
      options.emplace(key, value);
    }
    return Select(options, schema);
  }

  Answer ReadOne(const std::string& entity, const json& row, const Schema& schema,
                 const QueryParams& params) const {
    Answer a;
    a.body = Project(row, SingleRowSelect(params, schema));
    a.body["@odata.context"] = ContextUrl(entity + "/$entity");
    return a;
  }

  static json ParseObject(const std::string& body) {
    json j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw BadRequest("The body is not a JSON object");
    return j;
  }

  void Applied(const std::string& entity, const std::string& id, const std::string& body,
               const std::string& contact_id) {
    writes.push_back({{entity, id, body}, contact_id});
  }

  Answer PatchContact(const std::string& id, const std::string& body) {
    if (auto failing = failing_contacts.find(id); failing != failing_contacts.end()) {
      return ODataError(failing->second, failing->second == 404
                                             ? "Entity 'Contact' with Id '" + id + "' not found"
                                             : "The stand-in refuses writes to this contact");
    }
    const auto contact = contacts.find(id);
    if (contact == contacts.end()) {
      return ODataError(404, "Entity 'Contact' with Id '" + id + "' not found");
    }
    const json changes = ParseObject(body);
    const Schema fields = ContactFields();
    CreatioContact updated = contact->second;
    for (const auto& [key, value] : changes.items()) {
      if (StartsWith(key, "@")) continue;  // annotations
      const auto field = fields.find(key);
      if (field == fields.end() || key == "Id") {
        throw BadRequest("The property '" + key +
                         "' does not exist on type 'Terrasoft.Configuration.Contact' or is "
                         "not writable");
      }
      if (field->second == FieldType::kBool) {
        if (!value.is_boolean()) throw BadRequest("The property '" + key + "' is Boolean");
        const bool flag = value.get<bool>();
        if (key == "DoNotUseEmail") updated.do_not_use_email = flag;
        if (key == "DoNotUseSms") updated.do_not_use_sms = flag;
        if (key == "DoNotUseCall") updated.do_not_use_call = flag;
      } else {
        if (!value.is_string() && !value.is_null()) {
          throw BadRequest("The property '" + key + "' is a string");
        }
        const std::string text = value.is_null() ? "" : value.get<std::string>();
        if (key == "Name") updated.name = text;
        if (key == "Email") updated.email = text;
        if (key == "MobilePhone") updated.mobile_phone = text;
      }
    }
    contact->second = updated;
    Applied("Contact", id, body, id);
    Answer a;
    a.status = 204;
    return a;
  }

  // The GUID a subscription body gives `key`; throws when it is not one.
  static std::string GuidField(const json& j, const std::string& key) {
    const auto v = j.find(key);
    if (v == j.end() || !v->is_string() || !IsGuid(v->get<std::string>())) {
      throw BadRequest("The property '" + key + "' needs a GUID");
    }
    return Lower(v->get<std::string>());
  }

  static void CheckSubscriptionFields(const json& j) {
    for (const auto& [key, value] : j.items()) {
      if (StartsWith(key, "@")) continue;
      if (SubscriptionSchema().count(key) == 0) {
        throw BadRequest("The property '" + key +
                         "' does not exist on type "
                         "'Terrasoft.Configuration.BulkEmailSubscription'");
      }
    }
  }

  Answer PostSubscription(const std::string& body) {
    const json j = ParseObject(body);
    CheckSubscriptionFields(j);
    CreatioSubscription row;
    row.id = j.contains("Id") ? GuidField(j, "Id") : NewGuid();
    row.contact_id = GuidField(j, "ContactId");
    row.type_id = GuidField(j, "BulkEmailTypeId");
    row.status_id = GuidField(j, "BulkEmailSubsStatusId");
    if (subscriptions.count(row.id) != 0) throw BadRequest("A row with this Id exists");
    if (contacts.count(row.contact_id) == 0) {
      throw BadRequest("The contact '" + row.contact_id + "' does not exist");
    }
    subscriptions[row.id] = row;
    Applied("BulkEmailSubscription", row.id, body, row.contact_id);
    Answer a;
    a.status = 201;
    a.body = SubscriptionRow(row);
    a.body["@odata.context"] = ContextUrl("BulkEmailSubscription/$entity");
    a.headers.emplace_back("Location",
                           base_url + kODataBase + "/BulkEmailSubscription(" + row.id + ")");
    return a;
  }

  Answer PatchSubscription(const std::string& id, const std::string& body) {
    const auto row = subscriptions.find(id);
    if (row == subscriptions.end()) {
      return ODataError(404, "Entity 'BulkEmailSubscription' with Id '" + id + "' not found");
    }
    const json j = ParseObject(body);
    CheckSubscriptionFields(j);
    if (j.contains("Id")) throw BadRequest("The property 'Id' is not writable");
    CreatioSubscription updated = row->second;
    if (j.contains("ContactId")) updated.contact_id = GuidField(j, "ContactId");
    if (j.contains("BulkEmailTypeId")) updated.type_id = GuidField(j, "BulkEmailTypeId");
    if (j.contains("BulkEmailSubsStatusId")) {
      updated.status_id = GuidField(j, "BulkEmailSubsStatusId");
    }
    row->second = updated;
    Applied("BulkEmailSubscription", id, body, updated.contact_id);
    Answer a;
    a.status = 204;
    return a;
  }

  std::string Metadata() const {
    std::string xml =
        R"(<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
<edmx:DataServices>
<Schema Namespace="Terrasoft.Configuration.OData" xmlns="http://docs.oasis-open.org/odata/ns/edm">
<EntityType Name="Contact">
<Key><PropertyRef Name="Id"/></Key>
)";
    static const std::map<FieldType, std::string> kTypes = {{FieldType::kGuid, "Edm.Guid"},
                                                            {FieldType::kString, "Edm.String"},
                                                            {FieldType::kBool, "Edm.Boolean"}};
    for (const auto& [name, type] : ContactFields()) {
      xml += "<Property Name=\"" + name + "\" Type=\"" + kTypes.at(type) + "\"" +
             (type == FieldType::kString ? "" : " Nullable=\"false\"") + "/>\n";
    }
    xml += R"(</EntityType>
<EntityType Name="BulkEmailSubscription">
<Key><PropertyRef Name="Id"/></Key>
<Property Name="Id" Type="Edm.Guid" Nullable="false"/>
<Property Name="ContactId" Type="Edm.Guid"/>
<Property Name="BulkEmailTypeId" Type="Edm.Guid"/>
<Property Name="BulkEmailSubsStatusId" Type="Edm.Guid"/>
<NavigationProperty Name="Contact" Type="Terrasoft.Configuration.OData.Contact"/>
</EntityType>
<EntityContainer Name="BPMonlineOData">
<EntitySet Name="Contact" EntityType="Terrasoft.Configuration.OData.Contact"/>
<EntitySet Name="BulkEmailSubscription" EntityType="Terrasoft.Configuration.OData.BulkEmailSubscription"/>
</EntityContainer>
</Schema>
</edmx:DataServices>
</edmx:Edmx>
)";
    return xml;
  }

  // One OData operation; `path` is relative to the OData base ("Contact(<id>)"), decoded.
  Answer Execute(const std::string& method, const std::string& path, const std::string& query,
                 const std::string& body, bool in_batch) {
    try {
      return Route(method, path, ParseQuery(query), body, in_batch);
    } catch (const BadRequest& e) {
      return ODataError(400, e.what());
    }
  }

  Answer Route(const std::string& method, const std::string& path, const QueryParams& params,
               const std::string& body, bool in_batch) {
    if (path == "$metadata") {
      if (method != "GET") return ODataError(405, "$metadata is read-only");
      Answer a;
      a.text = Metadata();
      a.content_type = "application/xml; charset=utf-8";
      return a;
    }
    std::string entity = path;
    std::optional<std::string> key;
    if (const size_t open = path.find('('); open != std::string::npos) {
      if (path.back() != ')') return ODataError(404, "No resource at '" + path + "'");
      entity = path.substr(0, open);
      const std::string raw_key = path.substr(open + 1, path.size() - open - 2);
      if (!IsGuid(raw_key)) {
        throw BadRequest("The key '" + raw_key + "' is not an unquoted GUID");
      }
      key = Lower(raw_key);
    }
    if (entity != "Contact" && entity != "BulkEmailSubscription") {
      return ODataError(404, "Resource not found for the segment '" + entity + "'");
    }
    const bool write = method == "PATCH" || method == "POST";
    if (write && !in_batch) ++single_writes;
    if (entity == "Contact") {
      if (!key) {
        if (method != "GET") return ODataError(405, "The stand-in reads contacts only in pages");
        std::vector<json> rows;
        for (const auto& [id, c] : contacts) rows.push_back(ContactJson(c));
        return ReadCollection("Contact", std::move(rows), ContactFields(), {}, params);
      }
      if (method == "PATCH") return PatchContact(*key, body);
      if (method != "GET") return ODataError(405, "Method not allowed on Contact(<id>)");
      const auto c = contacts.find(*key);
      if (c == contacts.end()) {
        return ODataError(404, "Entity 'Contact' with Id '" + *key + "' not found");
      }
      return ReadOne("Contact", ContactJson(c->second), ContactFields(), params);
    }
    if (!key) {
      if (method == "POST") return PostSubscription(body);
      if (method != "GET") return ODataError(405, "Method not allowed on BulkEmailSubscription");
      static const std::map<std::string, std::string> kAliases = {
          {"Contact/Id", "ContactId"},
          {"BulkEmailType/Id", "BulkEmailTypeId"},
          {"BulkEmailSubsStatus/Id", "BulkEmailSubsStatusId"}};
      std::vector<json> rows;
      for (const auto& [id, s] : subscriptions) rows.push_back(SubscriptionRow(s));
      return ReadCollection("BulkEmailSubscription", std::move(rows), SubscriptionSchema(),
                            kAliases, params);
    }
    if (method == "PATCH") return PatchSubscription(*key, body);
    if (method != "GET") {
      return ODataError(405, "Method not allowed on BulkEmailSubscription(<id>)");
    }
    const auto s = subscriptions.find(*key);
    if (s == subscriptions.end()) {
      return ODataError(404, "Entity 'BulkEmailSubscription' with Id '" + *key + "' not found");
    }
    return ReadOne("BulkEmailSubscription", SubscriptionRow(s->second), SubscriptionSchema(),
                   params);
  }

  // The item's URL relative to the OData base, split at '?'; nullopt for a URL elsewhere.
  std::optional<std::pair<std::string, std::string>> BatchItemUrl(std::string url) const {
    const std::string absolute = base_url + kODataBase + "/";
    const std::string rooted = std::string(kODataBase) + "/";
    if (StartsWith(url, absolute)) {
      url.erase(0, absolute.size());
    } else if (StartsWith(url, rooted)) {
      url.erase(0, rooted.size());
    } else if (StartsWith(url, "/") || url.find("://") != std::string::npos) {
      return std::nullopt;
    }
    const size_t question = url.find('?');
    if (question == std::string::npos) return std::make_pair(PercentDecode(url, false), "");
    return std::make_pair(PercentDecode(url.substr(0, question), false), url.substr(question + 1));
  }

  Answer Batch(const httplib::Request& req) {
    const json j = json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("requests") ||
        !j["requests"].is_array()) {
      return ODataError(400, "A $batch body is {\"requests\":[...]}");
    }
    const json& items = j["requests"];
    if (items.size() > kMaxBatchRequests) {
      return ODataError(400, "The number of requests in the batch exceeds the limit of 100");
    }
    for (const auto& item : items) {
      if (!item.is_object() || !item.contains("id") || !item["id"].is_string() ||
          !item.contains("method") || !item["method"].is_string() || !item.contains("url") ||
          !item["url"].is_string() || (item.contains("body") && !item["body"].is_object()) ||
          (item.contains("headers") && !item["headers"].is_object())) {
        return ODataError(400, "Every $batch request needs a string id, method and url");
      }
    }
    ++batches;
    const std::string prefer = Lower(req.get_header_value("Prefer"));
    const bool continue_on_error = prefer.find("continue-on-error") != std::string::npos;
    json responses = json::array();
    for (const auto& item : items) {
      const std::string method = item["method"].get<std::string>();
      const std::string url = item["url"].get<std::string>();
      const std::string body = item.contains("body") ? item["body"].dump() : "";
      CreatioRequest record;
      record.method = method;
      record.body = body;
      record.in_batch = true;
      if (item.contains("headers")) {
        for (const auto& [name, value] : item["headers"].items()) {
          record.headers[Lower(name)] = value.is_string() ? value.get<std::string>() : value.dump();
        }
      }
      Answer a;
      const auto target = BatchItemUrl(url);
      if (!target) {
        record.path = url;
        a = ODataError(400, "A $batch item's url is relative to the OData base");
      } else {
        record.path = std::string(kODataBase) + "/" + target->first;
        record.query = PercentDecode(target->second, true);
        a = target->first == "$batch"
                ? ODataError(400, "A $batch cannot hold a $batch")
                : Execute(method, target->first, target->second, body, /*in_batch=*/true);
      }
      record.status = a.status;
      requests.push_back(std::move(record));
      json response = {{"id", item["id"]}, {"status", a.status}, {"headers", json::object()}};
      if (!a.body.is_null()) {
        response["headers"]["content-type"] = kJsonType;
        response["body"] = a.body;
      }
      responses.push_back(std::move(response));
      if (!Is2xx(a.status) && !continue_on_error) break;
    }
    Answer a;
    a.body = {{"responses", std::move(responses)}};
    return a;
  }
};

namespace {

void Reply(const Answer& a, httplib::Response& res) {
  res.status = a.status;
  for (const auto& [name, value] : a.headers) res.set_header(name, value);
  if (!a.text.empty()) {
    res.set_content(a.text, a.content_type);
  } else if (!a.body.is_null()) {
    res.set_content(a.body.dump(), a.content_type.empty() ? kJsonType : a.content_type);
  }
}

CreatioRequest Describe(const httplib::Request& req) {
  CreatioRequest r;
  r.method = req.method;
  r.path = req.path;
  if (const size_t q = req.target.find('?'); q != std::string::npos) {
    r.query = PercentDecode(req.target.substr(q + 1), true);
  }
  r.body = req.body;
  for (const auto& [name, value] : req.headers) {
    auto& slot = r.headers[Lower(name)];
    slot = slot.empty() ? value : slot + ", " + value;
  }
  return r;
}

// The fields of an application/x-www-form-urlencoded body.
std::map<std::string, std::string> FormFields(const std::string& body) {
  std::map<std::string, std::string> fields;
  for (auto& [key, value] : ParseQuery(body)) fields.emplace(key, value);
  return fields;
}

}  // namespace

CreatioStandIn::CreatioStandIn() : state_(std::make_unique<State>()) {
  httplib::Server& http = server_.server();
  // Held (stalled) requests each keep a pool thread; leave room for the rest.
  http.new_task_queue = [] { return new httplib::ThreadPool(32); };

  http.Post(kLoginPath, [this](const httplib::Request& req, httplib::Response& res) {
    State& s = *state_;
    std::lock_guard lock(s.mu);
    const auto at = s.Record(Describe(req));
    const json j = json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("UserName") ||
        !j["UserName"].is_string() || !j.contains("UserPassword") ||
        !j["UserPassword"].is_string()) {
      res.status = 400;
      res.set_content(R"({"Message":"The request is invalid."})", "application/json");
      s.SetStatus(at, res.status);
      return;
    }
    json answer = {{"Code", 0},
                   {"Message", ""},
                   {"Exception", nullptr},
                   {"PasswordChangeUrl", nullptr},
                   {"RedirectUrl", nullptr}};
    if (j["UserName"] != s.user || j["UserPassword"] != s.password) {
      ++s.failed_logins;
      answer["Code"] = 1;
      answer["Message"] = "Either the username or the password is invalid.";
    } else {
      ++s.logins;
      const std::string aspxauth = s.RandomHex(32);
      const std::string csrf = s.RandomHex(11);
      s.sessions[aspxauth] = {csrf, std::nullopt};
      res.set_header("Set-Cookie", ".ASPXAUTH=" + aspxauth + "; path=/; HttpOnly");
      res.set_header("Set-Cookie", "BPMCSRF=" + csrf + "; path=/");
      res.set_header("Set-Cookie", "BPMLOADER=" + s.RandomHex(12) + "; path=/; HttpOnly");
      res.set_header("Set-Cookie", "UserName=" + PercentEncode(s.user) + "; path=/");
    }
    res.status = 200;
    res.set_content(answer.dump(), "application/json; charset=utf-8");
    s.SetStatus(at, res.status);
  });

  http.Post(kTokenPath, [this](const httplib::Request& req, httplib::Response& res) {
    State& s = *state_;
    std::lock_guard lock(s.mu);
    const auto at = s.Record(Describe(req));
    const auto form = FormFields(req.body);
    const auto field = [&](const std::string& name) {
      const auto f = form.find(name);
      return f == form.end() ? std::string() : f->second;
    };
    res.status = 400;
    if (field("grant_type") != "client_credentials") {
      res.set_content(R"({"error":"unsupported_grant_type"})", "application/json");
    } else if (field("client_id") != s.client_id || field("client_secret") != s.client_secret) {
      res.set_content(R"({"error":"invalid_client"})", "application/json");
    } else {
      ++s.token_grants;
      const std::string token = s.RandomHex(32);
      s.tokens[token] = {std::chrono::steady_clock::now() + s.token_lifetime, std::nullopt};
      res.status = 200;
      res.set_content(json{{"access_token", token},
                           {"expires_in", s.token_lifetime.count()},
                           {"token_type", "Bearer"}}
                          .dump(),
                      "application/json");
    }
    s.SetStatus(at, res.status);
  });

  const auto odata = [this](const httplib::Request& req, httplib::Response& res) {
    State& s = *state_;
    std::unique_lock lock(s.mu);
    const auto at = s.Record(Describe(req));
    if (s.stalled && !s.closing) {
      const std::uint64_t releases = s.releases;
      ++s.held;
      s.cv.wait(lock, [&] { return s.releases != releases || s.closing; });
      --s.held;
      lock.unlock();
      AbortConnection(req);
      return;
    }
    if (s.delay.count() > 0) {
      s.cv.wait_for(lock, s.delay, [&] { return s.closing; });
    }
    Answer a;
    if (s.fail_count > 0) {
      --s.fail_count;
      a = ODataError(s.fail_status, "The stand-in was told to fail this request");
      if ((s.fail_status == 429 || s.fail_status == 503) && s.fail_retry_after_s >= 0) {
        a.headers.emplace_back("Retry-After", std::to_string(s.fail_retry_after_s));
      }
    } else if (auto refused = s.CheckSession(req)) {
      a = std::move(*refused);
    } else {
      const std::string relative = req.path.substr(std::string(kODataBase).size() + 1);
      const size_t q = req.target.find('?');
      if (relative == "$batch") {
        a = req.method == "POST" ? s.Batch(req) : ODataError(405, "$batch takes POST");
      } else {
        a = s.Execute(req.method, relative, q == std::string::npos ? "" : req.target.substr(q + 1),
                      req.body,
                      /*in_batch=*/false);
      }
    }
    s.SetStatus(at, a.status);
    Reply(a, res);
  };
  const std::string odata_pattern = std::string(kODataBase) + "/(.+)";
  http.Get(odata_pattern, odata);
  http.Post(odata_pattern, odata);
  http.Patch(odata_pattern, odata);
  http.Put(odata_pattern, odata);
  http.Delete(odata_pattern, odata);

  // Anything else is recorded too, so a test sees a request that went astray.
  const auto elsewhere = [this](const httplib::Request& req, httplib::Response& res) {
    State& s = *state_;
    std::lock_guard lock(s.mu);
    CreatioRequest r = Describe(req);
    r.status = 404;
    s.requests.push_back(std::move(r));
    res.status = 404;
    res.set_content("Not found", "text/plain");
  };
  http.Get(".*", elsewhere);
  http.Post(".*", elsewhere);
  http.Patch(".*", elsewhere);
  http.Put(".*", elsewhere);
  http.Delete(".*", elsewhere);

  server_.Start();
  WidenListenBacklog(std::stoi(server_.base_url().substr(server_.base_url().rfind(':') + 1)));
  std::lock_guard lock(state_->mu);
  state_->base_url = server_.base_url();
}

CreatioStandIn::~CreatioStandIn() {
  {
    std::lock_guard lock(state_->mu);
    state_->closing = true;
  }
  state_->cv.notify_all();
  // server_ (declared after state_) stops and joins its handlers before state_ goes.
}

std::string CreatioStandIn::base_url() const { return server_.base_url(); }
std::string CreatioStandIn::odata_url() const { return server_.base_url() + kODataBase; }

void CreatioStandIn::PutContact(const CreatioContact& contact) {
  std::lock_guard lock(state_->mu);
  CreatioContact c = contact;
  c.id = Lower(c.id);
  state_->contacts[c.id] = c;
}

std::optional<CreatioContact> CreatioStandIn::contact(const std::string& id) const {
  std::lock_guard lock(state_->mu);
  const auto c = state_->contacts.find(Lower(id));
  if (c == state_->contacts.end()) return std::nullopt;
  return c->second;
}

std::vector<CreatioContact> CreatioStandIn::contacts() const {
  std::lock_guard lock(state_->mu);
  std::vector<CreatioContact> out;
  for (const auto& [id, c] : state_->contacts) out.push_back(c);
  return out;
}

void CreatioStandIn::PutSubscription(const CreatioSubscription& row) {
  std::lock_guard lock(state_->mu);
  CreatioSubscription r = row;
  r.id = Lower(r.id);
  r.contact_id = Lower(r.contact_id);
  r.type_id = Lower(r.type_id);
  r.status_id = Lower(r.status_id);
  state_->subscriptions[r.id] = r;
}

std::vector<CreatioSubscription> CreatioStandIn::subscriptions() const {
  std::lock_guard lock(state_->mu);
  std::vector<CreatioSubscription> out;
  for (const auto& [id, s] : state_->subscriptions) out.push_back(s);
  return out;
}

std::vector<CreatioWrite> CreatioStandIn::writes() const {
  std::lock_guard lock(state_->mu);
  std::vector<CreatioWrite> out;
  for (const auto& w : state_->writes) out.push_back(w.write);
  return out;
}

std::vector<CreatioWrite> CreatioStandIn::writes_for(const std::string& contact_id) const {
  std::lock_guard lock(state_->mu);
  const std::string id = Lower(contact_id);
  std::vector<CreatioWrite> out;
  for (const auto& w : state_->writes) {
    if (w.contact_id == id) out.push_back(w.write);
  }
  return out;
}

void CreatioStandIn::SetUser(const std::string& user, const std::string& password) {
  std::lock_guard lock(state_->mu);
  state_->user = user;
  state_->password = password;
}

void CreatioStandIn::SetClient(const std::string& client_id, const std::string& secret) {
  std::lock_guard lock(state_->mu);
  state_->client_id = client_id;
  state_->client_secret = secret;
}

void CreatioStandIn::SetTokenLifetime(std::chrono::seconds lifetime) {
  std::lock_guard lock(state_->mu);
  state_->token_lifetime = lifetime;
}

void CreatioStandIn::ExpireSessions(Expiry how) {
  std::lock_guard lock(state_->mu);
  for (auto& [id, session] : state_->sessions) {
    if (!session.expired) session.expired = how;
  }
  for (auto& [id, token] : state_->tokens) {
    if (!token.expired) token.expired = how;
  }
}

void CreatioStandIn::FailNext(int count, int status, int retry_after_s) {
  std::lock_guard lock(state_->mu);
  state_->fail_count = count;
  state_->fail_status = status;
  state_->fail_retry_after_s = retry_after_s;
}

void CreatioStandIn::SetDelay(std::chrono::milliseconds delay) {
  std::lock_guard lock(state_->mu);
  state_->delay = delay;
}

void CreatioStandIn::Stall() {
  std::lock_guard lock(state_->mu);
  state_->stalled = true;
}

void CreatioStandIn::Unstall() {
  {
    std::lock_guard lock(state_->mu);
    state_->stalled = false;
    ++state_->releases;
  }
  state_->cv.notify_all();
}

int CreatioStandIn::stalled_requests() const {
  std::lock_guard lock(state_->mu);
  return state_->held;
}

void CreatioStandIn::FailContact(const std::string& contact_id, int status) {
  std::lock_guard lock(state_->mu);
  state_->failing_contacts[Lower(contact_id)] = status;
}

void CreatioStandIn::RemoveContactField(const std::string& field) {
  std::lock_guard lock(state_->mu);
  state_->removed_fields.insert(field);
}

void CreatioStandIn::RestoreContactField(const std::string& field) {
  std::lock_guard lock(state_->mu);
  state_->removed_fields.erase(field);
}

std::vector<CreatioRequest> CreatioStandIn::requests() const {
  std::lock_guard lock(state_->mu);
  return state_->requests;
}

int CreatioStandIn::logins() const {
  std::lock_guard lock(state_->mu);
  return state_->logins;
}

int CreatioStandIn::failed_logins() const {
  std::lock_guard lock(state_->mu);
  return state_->failed_logins;
}

int CreatioStandIn::token_grants() const {
  std::lock_guard lock(state_->mu);
  return state_->token_grants;
}

int CreatioStandIn::batches() const {
  std::lock_guard lock(state_->mu);
  return state_->batches;
}

int CreatioStandIn::single_writes() const {
  std::lock_guard lock(state_->mu);
  return state_->single_writes;
}

void CreatioStandIn::ClearRecord() {
  std::lock_guard lock(state_->mu);
  state_->requests.clear();
  ++state_->record_epoch;
  state_->logins = 0;
  state_->failed_logins = 0;
  state_->token_grants = 0;
  state_->batches = 0;
  state_->single_writes = 0;
}

}  // namespace herald::testing
