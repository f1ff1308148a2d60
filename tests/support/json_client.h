#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace herald::testing {

// One answer of heraldd's JSON API.
struct JsonAnswer {
  int status = 0;  // 0: the listener could not be reached
  std::string body;
  std::multimap<std::string, std::string> headers;

  std::string Header(const std::string& name) const;
  // The body parsed; a test failure (and null) when it is not JSON.
  nlohmann::json Json() const;
};

// POST http://127.0.0.1:port/path. `key` becomes "Authorization: Bearer <key>" unless
// `headers` names an Authorization of its own; an empty content type with an empty body
// sends neither.
JsonAnswer PostJson(int port, const std::string& path, const std::string& body,
                    const std::string& key = "",
                    const std::map<std::string, std::string>& headers = {},
                    const std::string& content_type = "application/json");

// Any other method, for the 405 answers.
JsonAnswer SendHttp(int port, const std::string& method, const std::string& path,
                    const std::string& key);

}  // namespace herald::testing
