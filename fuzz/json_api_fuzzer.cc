// The JSON API's request decoding (POST /v1/{Service}/{Method}): any body read into the
// request message of any herald.v1 method by ParseRequest, the strict proto3 JSON walk.
// ParseRequest reports every problem as a FieldProblem and leaves the message empty then;
// it has no exception to catch.
//
// Input: one byte choosing the method (in the order of the services' descriptors), then
// the body.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/message_differencer.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "services/web/json_api/json_codec.h"

namespace {

using google::protobuf::Message;

// Every request type the JSON API serves, once.
std::vector<const Message*> RequestPrototypes() {
  std::vector<const Message*> out;
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const char* name : {"herald.v1.SubscriptionService", "herald.v1.DispatchService",
                           "herald.v1.PrivacyService", "herald.v1.CrmService"}) {
    const auto* service = pool->FindServiceByName(name);
    HERALD_FUZZ_CHECK(service != nullptr);
    for (int i = 0; i < service->method_count(); ++i) {
      const auto* type = service->method(i)->input_type();
      const Message* prototype =
          google::protobuf::MessageFactory::generated_factory()->GetPrototype(type);
      HERALD_FUZZ_CHECK(prototype != nullptr);
      bool seen = false;
      for (const auto* p : out) seen = seen || p == prototype;
      if (!seen) out.push_back(prototype);
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<const Message*> kRequests = RequestPrototypes();
  herald::fuzz::Input in(data, size);
  const Message* prototype = kRequests[in.Byte() % kRequests.size()];
  std::string_view body = in.Rest();
  std::unique_ptr<Message> request(prototype->New());
  auto problem = herald::web::json_api::ParseRequest(body, *request);
  if (problem) {
    HERALD_FUZZ_CHECK(!problem->description.empty());
    HERALD_FUZZ_CHECK(request->ByteSizeLong() == 0);  // nothing half-read is ever used
    return 0;
  }
  // What was read prints back (the answer path) and reads again to the same message.
  std::string printed = herald::web::json_api::PrintAnswer(*request);
  std::unique_ptr<Message> again(prototype->New());
  HERALD_FUZZ_CHECK(!herald::web::json_api::ParseRequest(printed, *again).has_value());
  HERALD_FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(*again, *request));
  return 0;
}
