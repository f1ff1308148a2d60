// THE destruction proof (STANDARDS L1, L3), end to end through the recipient's
// real paths against a running heraldd:
//   1. a subject with a distinctive surname, given name and Cyrillic patronymic, an IDN
//      e-mail and a phone consents (proof with IP and user agent);
//   2. it is sent an e-mail (to the capturing SMTP server) and an SMS (to an in-test
//      provider speaking Twilio's API, which quotes the number and text back, as Twilio
//      does); a second SMS is refused with Twilio's error words naming the number;
//   3. the unsubscribe link is taken from the captured e-mail and POSTed one-click over HTTP
//      with a User-Agent and X-Forwarded-For (loopback is a trusted proxy);
//   4. a signed Twilio webhook brings "STOP" from its phone (and the confirmation SMS goes);
//   5. a refusal-marker e-mail from its address, signed with its name and phone, is posted
//      to /hooks/email/inbound with the secret;
//   6. ExportSubjectData (privacy scope) holds those events and messages;
//   7. DestroySubject (privacy scope); then row_to_json(t)::text of every row of every table
//      (found in pg_catalog) is searched for every form of its data: only
//      destruction_records may hold any; heraldd's log holds none at all;
//   8. the same e-mail and phone imported again are ADDRESS_SUPPRESSED.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "common/crypto/hash.h"
#include "herald/v1/dispatch.grpc.pb.h"
#include "herald/v1/privacy.grpc.pb.h"
#include "herald/v1/subscriptions.grpc.pb.h"
#include "services/inbound/sms/webhook_parsing.h"
#include "tests/support/campaign_driver.h"
#include "tests/support/consented_subject.h"
#include "tests/support/eventually.h"
#include "tests/support/heraldd_process.h"
#include "tests/support/personal_data_scan.h"
#include "tests/support/sms_provider_stand_in.h"
#include "tests/support/smtp_capture.h"
#include "tests/support/test_database.h"

namespace herald {
namespace {

using ::testing::HasSubstr;
using testing::HeralddProcess;
using json = nlohmann::json;

constexpr char kSurname[] = "Zyxwvutsrov";
constexpr char kGivenName[] = "Quillibald";
constexpr char kPatronymic[] = "Ксерксович";
constexpr char kEmailGiven[] = "Quill.Zyx@Пример.рф";
constexpr char kEmailALabel[] = "quill.zyx@xn--e1afmkfd.xn--p1ai";
constexpr char kPhoneGiven[] = "+7 (916) 555-12-34";
constexpr char kPhoneE164[] = "+79165551234";
constexpr char kConsentIp[] = "203.0.113.77";
constexpr char kClickIp[] = "198.51.100.231";
constexpr char kUserAgent[] = "DistinctBrowser/7.7 (QuillOS)";
constexpr char kTwilioToken[] = "twilio-auth-token-for-e2e";
constexpr char kMailSecret[] = "inbound-mail-secret-for-e2e-0123";
constexpr char kPublicBase[] = "https://herald.test";  // HeralddProcess's public_base_url

// Every form in which the subject's data could have been written anywhere.
const std::vector<std::string>& Needles() {
  static const std::vector<std::string> k = {
      kEmailGiven,
      "Quill.Zyx@пример.рф",  // as given, domain lower-cased
      "quill.zyx@пример.рф",  // lower-cased
      "Quill.Zyx@ПРИМЕР.РФ",  // domain upper-cased
      kEmailALabel,           // IDNA A-label form (ASCII-lower-cased matching covers case)
      "quill.zyx",            // the local part alone
      "quill.zyx%40",         // URL-encoded forms
      "quill.zyx=40",         // quoted-printable
      kPhoneGiven,
      kPhoneE164,        // E.164
      "79165551234",     // digits only
      "9165551234",      // national digits
      "916 555",         // as written in a signature
      "555-12-34",       // the local part as written
      "%2B79165551234",  // URL-encoded E.164 (form posts)
      kSurname,
      kGivenName,
      kPatronymic,
      "КСЕРКСОВИЧ",
      "ксерксович",
      kConsentIp,
      kClickIp,
      "DistinctBrowser",
      "QuillOS",
  };
  return k;
}

// Unkeyed SHA-256 digests of the addresses: a phone number is re-identified from one by
// enumeration, so none may survive either (only keyed hashes, L3). bytea columns appear
// in row_to_json as "\\x" + lower-case hex, which the scan finds.
std::vector<std::string> NeedlesWithDigests() {
  std::vector<std::string> out = Needles();
  for (const char* form :
       {kPhoneE164, "79165551234", "9165551234", kEmailALabel, "quill.zyx@пример.рф"}) {
    out.push_back(crypto::ToHex(crypto::Sha256(form)));
  }
  return out;
}

class DestructionE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    twilio_.RefuseTwilioRequest(2);
    db_ = testing::TestDatabase::Create();
    HERALD_REQUIRE_DB(db_);
    capture_ = std::make_unique<testing::SmtpCapture>();
    std::string yaml =
        "email:\n  from_address: news@herald.test\n  from_name: Herald\n"
        "  unsubscribe_mailto: unsubscribe@herald.test\n"
        "inbound_mail:\n  max_bytes: 200000\n"
        "links:\n  policy_url: https://herald.test/privacy-policy\n"
        "providers:\n"
        "  - name: capture\n    kind: smtp\n    country: RU\n"
        "    settings:\n      url: smtp://127.0.0.1:" +
        std::to_string(capture_->port()) +
        "\n      starttls: none\n"
        "  - name: tw\n    kind: twilio\n    country: RU\n    priority: 1\n"
        "    settings:\n      base_url: " +
        twilio_.base_url() + "\n      account_sid: AC123\n      from: Herald\n";
    server_ = std::make_unique<HeralddProcess>(db_->dsn(), yaml);
    server_->AddEnv(std::string("HERALD_PROVIDER_TW_SECRET=") + kTwilioToken);
    server_->AddEnv(std::string("HERALD_INBOUND_MAIL_SECRET=") + kMailSecret);
    server_->AddEnv("HERALD_HTTP_TRUSTED_PROXIES=127.0.0.0/8");
    server_->Start();
    subs_ = v1::SubscriptionService::NewStub(server_->Channel());
    dispatch_ = v1::DispatchService::NewStub(server_->Channel());
    privacy_ = v1::PrivacyService::NewStub(server_->Channel());
  }

  // Plain SHA-256 digests of the idempotent requests that carried the subject's data: what
  // idempotency_keys.request_hash held before it was keyed (L6). None may be stored.
  std::vector<std::string> request_digests_;
  std::vector<std::string> AllNeedles() {
    std::vector<std::string> out = NeedlesWithDigests();
    out.insert(out.end(), request_digests_.begin(), request_digests_.end());
    return out;
  }

  std::string Upsert(bool with_names) {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kCrmKey);
    v1::UpsertSubjectRequest r;
    if (with_names) {
      r.set_external_id("crm-4711");
      r.set_surname(kSurname);
      r.set_given_name(kGivenName);
      r.set_patronymic(kPatronymic);
    }
    r.set_locale("ru");
    r.add_emails(kEmailGiven);
    r.add_phones(kPhoneGiven);
    r.set_idempotency_key(with_names ? "import-named" : "import-again");
    request_digests_.push_back(crypto::ToHex(crypto::Sha256(r.SerializeAsString())));
    v1::UpsertSubjectResponse resp;
    auto st = subs_->UpsertSubject(&ctx, r, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp.subject().id();
  }

  void Consent(const std::string& id) {
    v1::Proof proof = testing::WebFormProof();
    proof.set_ip(kConsentIp);
    proof.set_user_agent(kUserAgent);
    testing::GrantConsent(*subs_, id, {v1::EMAIL, v1::SMS}, proof);
  }

  std::string Send(const std::string& id, v1::Channel channel, const std::string& key) {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kSchedulerKey);
    v1::SendRequest r;
    r.set_idempotency_key(key);
    r.mutable_recipient()->set_subject_id(id);
    r.set_channel(channel);
    r.set_topic("special_offers");
    if (channel == v1::EMAIL) {
      r.mutable_content()->set_subject("Offers for {{given_name}} {{surname}}");
      r.mutable_content()->set_text(
          "Hello {{given_name}}!\n\nUnsubscribe: {{unsubscribe_url}}\n"
          "Preferences: {{preferences_url}}\n");
      r.mutable_content()->set_html(
          "<p>Hello <b>{{given_name}}</b>!</p><p><a href=\"{{unsubscribe_url}}\">Unsubscribe</a>"
          "</p>");
    } else {
      r.mutable_content()->set_text("{{given_name}}, offers this week. STOP to opt out");
    }
    request_digests_.push_back(crypto::ToHex(crypto::Sha256(r.SerializeAsString())));
    v1::SendResponse resp;
    auto st = dispatch_->Send(&ctx, r, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(resp.status(), v1::QUEUED) << v1::MessageStatus_Name(resp.status());
    return resp.message_id();
  }

  v1::MessageStatus WaitSettled(const std::string& message_id) {
    v1::Message m;
    testing::Eventually(
        [&] {
          grpc::ClientContext ctx;
          testing::Authorize(ctx, HeralddProcess::kCrmKey);
          v1::GetMessageRequest r;
          r.set_message_id(message_id);
          dispatch_->GetMessage(&ctx, r, &m);
          return m.status() == v1::SENT || m.status() == v1::FAILED;
        },
        std::chrono::seconds(20));
    return m.status();
  }

  // The unsubscribe link of the one captured e-mail, its origin moved to the web listener.
  std::string CapturedUnsubscribePath() {
    auto messages = capture_->Messages();
    EXPECT_EQ(messages.size(), 1u);
    if (messages.empty()) return "";
    // The text part may be quoted-printable: undo soft line breaks before matching.
    std::string raw = std::regex_replace(messages.back(), std::regex("=\r?\n"), "");
    std::smatch m;
    if (!std::regex_search(raw, m,
                           std::regex(std::string(kPublicBase) + R"((/u/[A-Za-z0-9_\-]+))"))) {
      ADD_FAILURE() << "no unsubscribe link in the captured e-mail";
      return "";
    }
    return m[1];
  }

  v1::DenyReason Check(const std::string& id, v1::Channel channel) {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kCrmKey);
    v1::CheckEligibilityRequest r;
    r.mutable_recipient()->set_subject_id(id);
    r.set_channel(channel);
    r.set_topic("special_offers");
    v1::CheckEligibilityResponse resp;
    auto st = subs_->CheckEligibility(&ctx, r, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp.decision().reason();
  }

  // Answers as Twilio does, quoting number and text back; the second SMS is refused
  // (permanently, HTTP 400) with Twilio's error body naming the number, so a provider
  // response holding the subject's data is part of the proof.
  testing::SmsProviderStandIn twilio_;
  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<testing::SmtpCapture> capture_;
  std::unique_ptr<HeralddProcess> server_;
  std::unique_ptr<v1::SubscriptionService::Stub> subs_;
  std::unique_ptr<v1::DispatchService::Stub> dispatch_;
  std::unique_ptr<v1::PrivacyService::Stub> privacy_;
};

TEST_F(DestructionE2eTest, L1_L3_NothingOfTheSubjectSurvivesItsRealPathsButTheDestructionRecord) {
  // 1. The subject and its consents, with the proof's IP and user agent.
  std::string id = Upsert(true);
  ASSERT_FALSE(id.empty());
  Consent(id);
  ASSERT_EQ(Check(id, v1::EMAIL), v1::DENY_REASON_UNSPECIFIED);
  ASSERT_EQ(Check(id, v1::SMS), v1::DENY_REASON_UNSPECIFIED);

  // 2. An e-mail to the capturing SMTP server and an SMS to the provider, both sent.
  std::string mail_id = Send(id, v1::EMAIL, "e2e-mail-1");
  std::string sms_id = Send(id, v1::SMS, "e2e-sms-1");
  ASSERT_EQ(WaitSettled(mail_id), v1::SENT) << server_->Log();
  ASSERT_EQ(WaitSettled(sms_id), v1::SENT) << server_->Log();
  // A second SMS the provider refuses with words that quote the number.
  std::string refused_id = Send(id, v1::SMS, "e2e-sms-2");
  ASSERT_EQ(WaitSettled(refused_id), v1::FAILED) << server_->Log();
  ASSERT_EQ(twilio_.sent().size(), 1u);
  EXPECT_EQ(twilio_.sent()[0].to, kPhoneE164);
  EXPECT_THAT(twilio_.sent()[0].body, HasSubstr(kGivenName));

  // 3. The link from the delivered e-mail, one-click POST (RFC 8058) through the "proxy".
  std::string path = CapturedUnsubscribePath();
  ASSERT_FALSE(path.empty());
  {
    httplib::Client http("127.0.0.1", server_->http_port());
    http.set_read_timeout(10, 0);
    httplib::Headers h = {{"User-Agent", kUserAgent}, {"X-Forwarded-For", kClickIp}};
    auto res =
        http.Post(path, h, "List-Unsubscribe=One-Click", "application/x-www-form-urlencoded");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
  }
  EXPECT_NE(Check(id, v1::EMAIL), v1::DENY_REASON_UNSPECIFIED);

  // 4. "STOP" from its phone through a signed Twilio webhook; the confirmation goes out.
  {
    std::multimap<std::string, std::string> params = {
        {"MessageSid", "SMin-e2e-1"}, {"From", kPhoneE164}, {"To", "Herald"}, {"Body", "STOP"}};
    std::string body;
    for (const auto& [k, v] : params) {
      if (!body.empty()) body += "&";
      body += httplib::detail::encode_query_param(k) + "=" + httplib::detail::encode_query_param(v);
    }
    const std::string hook = "/hooks/sms/tw/inbound";
    httplib::Headers h = {
        {"X-Twilio-Signature",
         inbound::sms::TwilioSignature(kTwilioToken, std::string(kPublicBase) + hook, params)}};
    httplib::Client http("127.0.0.1", server_->http_port());
    auto res = http.Post(hook, h, body, "application/x-www-form-urlencoded");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
  }
  EXPECT_TRUE(
      testing::Eventually([&] { return twilio_.sent().size() >= 2; }, std::chrono::seconds(20)))
      << "no STOP confirmation reached the provider\n"
      << server_->Log();
  EXPECT_TRUE(testing::Eventually(
      [&] {
        return db_->Scalar(
                   "SELECT count(*) FROM messages WHERE status IN ('queued', 'sending',"
                   " 'retrying')") == "0";
      },
      std::chrono::seconds(20)));
  EXPECT_NE(Check(id, v1::SMS), v1::DENY_REASON_UNSPECIFIED);

  // 5. The seed's refusal marker from its address, signed with its name and phone.
  {
    std::string raw =
        std::string("From: \"") + kGivenName + " " + kPatronymic + " " + kSurname + "\" <" +
        kEmailGiven +
        ">\r\n"
        "To: unsubscribe@herald.test\r\n"
        "Date: Fri, 27 Nov 2026 10:15:00 +0300\r\n"
        "Message-ID: <e2e-refusal-1@mail.example.net>\r\n"
        "Subject: REFUSAL of notifications about new products and services and special offers\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=UTF-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        "Please stop.\r\n--\r\n" +
        kGivenName + " " + kPatronymic + " " + kSurname + "\r\n" + kPhoneGiven + "\r\n";
    httplib::Client http("127.0.0.1", server_->mail_port());
    http.set_read_timeout(10, 0);
    httplib::Headers h = {{"Authorization", std::string("Bearer ") + kMailSecret}};
    auto res = http.Post("/hooks/email/inbound", h, raw, "message/rfc822");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    EXPECT_EQ(json::parse(res->body).value("outcome", ""), "refusal_applied") << res->body;
  }
  EXPECT_EQ(Check(id, v1::EMAIL), v1::ADDRESS_SUPPRESSED);

  // Before: the scan sees the data where it is expected (so it could see it after).
  auto before = testing::ScanEveryTable(db_->dsn(), AllNeedles());
  EXPECT_GE(before.tables, 15);
  auto tables_hit = before.TablesHit();
  std::string hit_list;
  for (const auto& t : tables_hit) hit_list += " " + t;
  std::cout << "before destruction: " << before.tables << " tables, " << before.rows
            << " rows; the subject's data in:" << hit_list << "\n";
  for (const char* t : {"public.subjects", "public.addresses", "public.event_personal",
                        "public.messages", "public.message_attempts"}) {
    EXPECT_TRUE(tables_hit.count(t)) << t << " should hold the data before destruction";
  }

  // Every path left its rows (inbound rows hold keyed hashes only, so the scan finds none).
  EXPECT_GE(std::stoll(db_->Scalar("SELECT count(*) FROM inbound_sms")), 1);
  EXPECT_GE(std::stoll(db_->Scalar("SELECT count(*) FROM inbound_mail")), 1);
  EXPECT_GE(std::stoll(db_->Scalar("SELECT count(*) FROM message_attempts")), 4);
  EXPECT_GE(std::stoll(db_->Scalar("SELECT count(*) FROM idempotency_keys")), 3);

  // 6. The export (privacy scope) holds the three opt-outs and the messages.
  {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kPrivacyKey);
    v1::ExportSubjectDataRequest r;
    r.set_subject_id(id);
    v1::ExportSubjectDataResponse resp;
    auto st = privacy_->ExportSubjectData(&ctx, r, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_THAT(resp.document(), HasSubstr(kSurname));
    EXPECT_THAT(resp.document(), HasSubstr(kPatronymic));
    json d = json::parse(resp.json());
    EXPECT_THAT(d["addresses"].dump(), HasSubstr("xn--e1afmkfd.xn--p1ai"));
    std::multiset<int> sources;
    for (const auto& e : d["events"]) sources.insert(e["source"].get<int>());
    EXPECT_GE(sources.count(v1::LINK), 1u) << d["events"].dump();
    EXPECT_GE(sources.count(v1::SMS_REPLY), 1u) << d["events"].dump();
    EXPECT_GE(sources.count(v1::EMAIL_REPLY), 1u) << d["events"].dump();
    EXPECT_THAT(d["events"].dump(), HasSubstr(kClickIp));
    std::set<std::string> message_ids;
    for (const auto& m : d["messages"]) message_ids.insert(m["id"].get<std::string>());
    EXPECT_TRUE(message_ids.count(mail_id)) << d["messages"].dump();
    EXPECT_TRUE(message_ids.count(sms_id)) << d["messages"].dump();
    EXPECT_TRUE(message_ids.count(refused_id)) << d["messages"].dump();
  }

  // 7. Destruction over gRPC, then the scan of every row of every table.
  std::string record_id;
  {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kPrivacyKey);
    v1::DestroySubjectRequest r;
    r.set_subject_id(id);
    r.set_reason("consent revoked");
    v1::DestroySubjectResponse resp;
    auto st = privacy_->DestroySubject(&ctx, r, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    record_id = resp.destruction_record_id();
  }
  auto after = testing::ScanEveryTable(db_->dsn(), AllNeedles());
  EXPECT_EQ(after.tables, before.tables);
  std::set<std::string> in_record;
  for (const auto& h : after.hits) {
    if (h.table == "public.destruction_records") {
      in_record.insert(h.needle);
      continue;
    }
    ADD_FAILURE() << "after destruction " << h.table << " still holds '" << h.needle << "'";
  }
  // The record names the person (order 179), and nothing else of it.
  EXPECT_TRUE(in_record.count(kSurname));
  EXPECT_TRUE(in_record.count(kGivenName));
  EXPECT_TRUE(in_record.count(kPatronymic));
  for (const char* n : {kEmailALabel, kPhoneE164, "9165551234", kClickIp, kConsentIp}) {
    EXPECT_FALSE(in_record.count(n)) << "the destruction record holds " << n;
  }
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM destruction_records WHERE id = '" + record_id +
                        "' AND subject_id = '" + id + "'"),
            "1");
  // Events stay (only their personal side went).
  EXPECT_GT(std::stoll(db_->Scalar("SELECT count(*) FROM events WHERE subject_id = '" + id + "'")),
            5);
  // The log never held any of it.
  std::string log = server_->Log();
  for (const auto& n : Needles()) {
    EXPECT_EQ(testing::AsciiLower(log).find(testing::AsciiLower(n)), std::string::npos)
        << "heraldd's log holds '" << n << "'";
  }

  // 8. The same e-mail and phone imported again (an import, no new consent: a newer
  // consent with proof is what lifts a suppression, DESIGN "suppression"): still suppressed.
  std::string again = Upsert(false);
  ASSERT_FALSE(again.empty());
  EXPECT_NE(again, id);
  EXPECT_EQ(Check(again, v1::EMAIL), v1::ADDRESS_SUPPRESSED);
  EXPECT_EQ(Check(again, v1::SMS), v1::ADDRESS_SUPPRESSED);
}

}  // namespace
}  // namespace herald
