#include "services/web/json_api/json_api_settings.h"

namespace herald::web {

const config::Section<JsonApiSettings>& JsonApiSection() {
  using S = JsonApiSettings;
  static const config::Section<S> kSection{{
      config::Text("json_api.listen", &S::listen,
                   "Listen address of the JSON API (api role): POST /v1/{Service}/{Method} for "
                   "every RPC, for callers that do not speak gRPC (Creatio). Private network "
                   "only, like grpc.listen.",
                   config::ListenAddress),
      config::Int("json_api.threads", &S::threads, 1, 1024,
                  "JSON API worker threads; each holds one call until its answer is in."),
      config::Int("json_api.max_body_bytes", &S::max_body_bytes, 1024, 16777216,
                  "Largest JSON request body, and longest line of an NDJSON upload; 413 "
                  "beyond."),
      config::Int("json_api.max_upload_bytes", &S::max_upload_bytes, 1024, 268435456,
                  "Largest NDJSON upload to POST /v1/DispatchService/AddRecipients; 413 beyond."),
      config::Int("json_api.deadline_ms", &S::deadline_ms, 100, 600000,
                  "Deadline of each call made through the JSON API; past it the answer is 504."),
  }};
  return kSection;
}

}  // namespace herald::web
