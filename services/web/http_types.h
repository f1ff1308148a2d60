#pragma once

#include <functional>
#include <map>
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
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::map<std::string, std::string> headers;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

}  // namespace herald::web
