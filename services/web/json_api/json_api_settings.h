#pragma once

#include <string>

#include "common/config/section.h"

namespace herald::web {

// The `json_api.*` section: the JSON-over-HTTP listener of the api role (Creatio and other
// callers that do not speak gRPC), on the private network like grpc.listen.
struct JsonApiSettings {
  std::string listen = "127.0.0.1:8082";
  int threads = 32;                 // each in-flight call holds one until the gRPC answer is in
  int max_body_bytes = 1048576;     // one JSON request
  int max_upload_bytes = 33554432;  // an NDJSON AddRecipients upload
  int deadline_ms = 30000;          // each call's gRPC deadline; 504 past it
};

const config::Section<JsonApiSettings>& JsonApiSection();

}  // namespace herald::web
