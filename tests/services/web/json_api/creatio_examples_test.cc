// docs/creatio.md is what a Creatio administrator builds web services from ("quick setup"
// reads its cURL and JSON examples), so every example must be what Herald reads and prints:
// one section per method the JSON API serves, each request read strictly (J2, J3), each
// answer exactly what the printer gives for it (J4), the cURL body the request shown.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "herald/v1/dispatch.pb.h"
#include "herald/v1/privacy.pb.h"
#include "herald/v1/subscriptions.pb.h"
#include "services/web/json_api/json_api.h"
#include "services/web/json_api/json_codec.h"

namespace herald::web::json_api {
namespace {

using Json = nlohmann::json;

struct Section {
  std::string request, response, curl_body;
};

std::map<std::string, Section> ReadSections() {
  std::ifstream in(std::string(HERALD_SOURCE_DIR) + "/docs/creatio.md");
  EXPECT_TRUE(in) << "docs/creatio.md";
  std::map<std::string, Section> out;
  std::string line, path, block, *into = nullptr;
  const std::regex heading(R"(^### POST (/v1/\S+)\s*$)");
  const std::regex curl_body(R"(-d '(.*)'\s*$)");
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_match(line, m, heading)) {
      path = m[1];
      EXPECT_EQ(out.count(path), 0u) << path << " has two sections";
      out[path];
      continue;
    }
    if (line.rfind("## ", 0) == 0) path.clear();  // a new chapter ends the reference section
    if (path.empty()) continue;
    if (into) {
      if (line == "```") {
        into = nullptr;
      } else {
        *into += line + "\n";
      }
      continue;
    }
    if (line == "```json request") into = &out[path].request;
    if (line == "```json response") into = &out[path].response;
    if (std::regex_search(line, m, curl_body) && out[path].curl_body.empty()) {
      out[path].curl_body = m[1];
    }
  }
  return out;
}

TEST(CreatioExamplesTest, J1_EveryMethodHasACheckedSection) {
  // Each file's descriptors join the pool once its generated code is linked in.
  ASSERT_NE(v1::UpsertSubjectRequest::descriptor(), nullptr);
  ASSERT_NE(v1::SendRequest::descriptor(), nullptr);
  ASSERT_NE(v1::BlockSubjectRequest::descriptor(), nullptr);
  auto sections = ReadSections();
  std::set<std::string> served;
  for (const char* service :
       {"herald.v1.SubscriptionService", "herald.v1.DispatchService", "herald.v1.PrivacyService"}) {
    const auto* s = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
    ASSERT_NE(s, nullptr);
    for (int i = 0; i < s->method_count(); ++i) {
      const auto* md = s->method(i);
      std::string path = JsonApi::PathOf(s->full_name(), md->name());
      served.insert(path);
      SCOPED_TRACE(path);
      ASSERT_TRUE(sections.count(path)) << "docs/creatio.md has no section";
      const Section& sec = sections[path];
      auto* factory = google::protobuf::MessageFactory::generated_factory();
      std::unique_ptr<google::protobuf::Message> request(
          factory->GetPrototype(md->input_type())->New());
      auto problem = ParseRequest(sec.request, *request);
      EXPECT_FALSE(problem) << "request example: " << problem->Text();
      ASSERT_FALSE(sec.curl_body.empty()) << "no cURL example";
      EXPECT_EQ(Json::parse(sec.curl_body, nullptr, false),
                Json::parse(sec.request, nullptr, false))
          << "the cURL body differs from the request example";
      std::unique_ptr<google::protobuf::Message> response(
          factory->GetPrototype(md->output_type())->New());
      problem = ParseRequest(sec.response, *response);
      ASSERT_FALSE(problem) << "response example: " << problem->Text();
      // Exactly what Herald prints for that answer: every field, int64 as strings, names.
      EXPECT_EQ(Json::parse(PrintAnswer(*response)), Json::parse(sec.response))
          << "the response example is not what the printer gives";
    }
  }
  for (const auto& [path, sec] : sections) {
    EXPECT_TRUE(served.count(path)) << path << ": no such method";
  }
  EXPECT_GE(served.size(), 36u);
}

}  // namespace
}  // namespace herald::web::json_api
