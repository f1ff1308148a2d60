#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace herald::web {

// The project's own small HTTP types: routes never see httplib.
struct HttpRequest {
  std::string method;
  std::string path;
  std::multimap<std::string, std::string> headers;
  std::string body;
  std::string remote_addr;
  std::vector<std::string> path_params;  // regex captures of the route
  // The client this request is charged to: remote_addr, or the X-Forwarded-For client when
  // the peer is a trusted proxy (client_ip.h).
  std::string client_ip;
  // Fields of an application/x-www-form-urlencoded or multipart/form-data body (for
  // multipart, each part's content), in order. Empty for other bodies.
  std::multimap<std::string, std::string> form;

  // The first value of a header, matched case-insensitively; empty when absent.
  std::string Header(const std::string& name) const;
  // The first value of a form field; empty when absent.
  std::string FormValue(const std::string& name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::map<std::string, std::string> headers;
};

// A JSON answer: the body and a line break, never cached (answers name requests and outcomes).
HttpResponse JsonResponse(int status, const nlohmann::json& body);

// Decodes an application/x-www-form-urlencoded body ('+' is a space, %XX a byte). Malformed
// escapes are kept literally; never throws.
std::multimap<std::string, std::string> ParseUrlEncoded(const std::string& body);

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

}  // namespace herald::web
