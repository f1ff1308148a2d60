#include "tests/support/json_client.h"

#include <gtest/gtest.h>
#include <httplib.h>

namespace herald::testing {
namespace {

JsonAnswer From(const httplib::Result& res) {
  JsonAnswer a;
  if (!res) return a;
  a.status = res->status;
  a.body = res->body;
  for (const auto& [name, value] : res->headers) a.headers.emplace(name, value);
  return a;
}

httplib::Client Client(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(60, 0);
  return client;
}

}  // namespace

std::string JsonAnswer::Header(const std::string& name) const {
  for (const auto& [n, v] : headers) {
    if (strcasecmp(n.c_str(), name.c_str()) == 0) return v;
  }
  return "";
}

nlohmann::json JsonAnswer::Json() const {
  auto parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(parsed.is_discarded()) << "not JSON (status " << status << "): " << body;
  return parsed.is_discarded() ? nlohmann::json() : parsed;
}

JsonAnswer PostJson(int port, const std::string& path, const std::string& body,
                    const std::string& key, const std::map<std::string, std::string>& headers,
                    const std::string& content_type) {
  auto client = Client(port);
  httplib::Headers h;
  if (!key.empty() && !headers.count("Authorization")) {
    h.emplace("Authorization", "Bearer " + key);
  }
  for (const auto& [n, v] : headers) h.emplace(n, v);
  if (content_type.empty() && body.empty()) return From(client.Post(path, h));
  return From(client.Post(path, h, body, content_type));
}

JsonAnswer SendHttp(int port, const std::string& method, const std::string& path,
                    const std::string& key) {
  auto client = Client(port);
  httplib::Headers h = {{"Authorization", "Bearer " + key}};
  if (method == "GET") return From(client.Get(path, h));
  if (method == "PUT") return From(client.Put(path, h, "{}", "application/json"));
  if (method == "PATCH") return From(client.Patch(path, h, "{}", "application/json"));
  return From(client.Delete(path, h));
}

}  // namespace herald::testing
