#include "tests/support/consented_subject.h"

#include <gtest/gtest.h>

#include <cctype>
#include <utility>

#include "tests/support/heraldd_process.h"

namespace herald::testing {

v1::Proof WebFormProof() {
  v1::Proof proof;
  proof.set_source(v1::WEB_FORM);
  proof.set_document_version("v1");
  return proof;
}

void GrantConsent(v1::SubscriptionService::Stub& subs, const std::string& subject_id,
                  const std::vector<v1::Channel>& marketing, const v1::Proof& proof) {
  std::vector<std::pair<v1::ConsentKind, v1::Channel>> grants = {
      {v1::PROCESSING, v1::CHANNEL_UNSPECIFIED}};
  for (v1::Channel channel : marketing) grants.emplace_back(v1::MARKETING, channel);
  for (auto [kind, channel] : grants) {
    grpc::ClientContext ctx;
    Authorize(ctx, HeralddProcess::kCrmKey);
    v1::RecordConsentRequest r;
    r.set_subject_id(subject_id);
    r.set_kind(kind);
    r.set_channel(channel);
    r.set_granted(true);
    *r.mutable_proof() = proof;
    v1::RecordConsentResponse ignored;
    auto status = subs.RecordConsent(&ctx, r, &ignored);
    EXPECT_TRUE(status.ok()) << "RecordConsent " << v1::ConsentKind_Name(kind) << "/"
                             << v1::Channel_Name(channel) << ": " << status.error_message();
  }
}

std::string ConsentedSubject(v1::SubscriptionService::Stub& subs,
                             const v1::UpsertSubjectRequest& subject,
                             const std::vector<v1::Channel>& marketing, const v1::Proof& proof) {
  grpc::ClientContext ctx;
  Authorize(ctx, HeralddProcess::kCrmKey);
  v1::UpsertSubjectResponse resp;
  auto status = subs.UpsertSubject(&ctx, subject, &resp);
  EXPECT_TRUE(status.ok()) << "UpsertSubject: " << status.error_message();
  if (!status.ok()) return "";
  GrantConsent(subs, resp.subject().id(), marketing, proof);
  return resp.subject().id();
}

v1::UpsertSubjectRequest SubjectWith(const std::string& given_name,
                                     const std::vector<std::string>& emails,
                                     const std::string& locale) {
  v1::UpsertSubjectRequest r;
  r.set_given_name(given_name);
  if (!locale.empty()) r.set_locale(locale);
  for (const auto& e : emails) r.add_emails(e);
  return r;
}

std::vector<v1::Subject> SubjectsAt(v1::SubscriptionService::Stub& subs,
                                    const std::string& address) {
  grpc::ClientContext ctx;
  Authorize(ctx, HeralddProcess::kAdminKey);
  v1::FindSubjectsRequest r;
  r.set_address(address);
  v1::FindSubjectsResponse resp;
  auto st = subs.FindSubjects(&ctx, r, &resp);
  EXPECT_TRUE(st.ok()) << st.error_message();
  return {resp.subjects().begin(), resp.subjects().end()};
}

std::string DecodeQuotedPrintable(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '=') {
      out.push_back(s[i]);
    } else if (i + 2 < s.size() && s[i + 1] == '\r' && s[i + 2] == '\n') {
      i += 2;
    } else if (i + 1 < s.size() && s[i + 1] == '\n') {
      i += 1;
    } else if (i + 2 < s.size() && isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace herald::testing
