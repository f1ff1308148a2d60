// The recipient's side in a real browser: a marketing e-mail is sent
// through DispatchService.Send to the capturing SMTP server; its unsubscribe link is taken
// from the delivered message, pointed at heraldd's own web listener, and opened in Debian's
// headless Chromium driven by playwright-core (tests/browser/recipient_flow.mjs): confirm,
// follow the link to the preference center, toggle a topic, save. The new state is then read
// over gRPC and compared with what the pages showed. One run per language (az, ru, en); the
// screenshots land in the test output folder (HERALD_BROWSER_OUTPUT_DIR, default
// <build>/test-output/browser).
//
// Requirements: STANDARDS E1 (GET shows a page), E2 (POST answers 2xx, never 3xx), E4 (the
// link is in the body and in List-Unsubscribe), and the pages' own rules (language from the
// subject's locale before Accept-Language; security headers; every change is an event with source
// LINK).
//
// Chromium, node and tests/browser/node_modules (deploy/dev/install-packages) are required:
// missing ones skip the test locally and fail it under CI.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "herald/v1/dispatch.grpc.pb.h"
#include "herald/v1/subscriptions.grpc.pb.h"
#include "tests/support/campaign_driver.h"
#include "tests/support/consented_subject.h"
#include "tests/support/eventually.h"
#include "tests/support/heraldd_process.h"
#include "tests/support/smtp_capture.h"
#include "tests/support/test_database.h"

namespace herald {
namespace {

using ::testing::HasSubstr;
using testing::HeralddProcess;
using json = nlohmann::json;

constexpr char kPublicBase[] = "https://herald.test";
constexpr char kPolicyUrl[] = "https://herald.test/privacy-policy";
constexpr char kMessageTopic[] = "special_offers";
// The topic the recipient toggles in the preference center: not the one unsubscribed from.
constexpr char kToggledTopic[] = "product_news";

std::string Env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

std::string NodePath() { return Env("HERALD_NODE", "/usr/bin/node"); }
std::string ChromiumPath() { return Env("HERALD_CHROMIUM", "/usr/bin/chromium"); }
std::string BrowserDir() { return std::string(HERALD_SOURCE_DIR) + "/tests/browser"; }
std::string OutputDir() { return Env("HERALD_BROWSER_OUTPUT_DIR", HERALD_BROWSER_OUTPUT_DIR); }

// What is missing to drive a browser, or "" when everything is there.
std::string MissingBrowserTools() {
  namespace fs = std::filesystem;
  if (access(NodePath().c_str(), X_OK) != 0) return "node (" + NodePath() + ")";
  if (access(ChromiumPath().c_str(), X_OK) != 0) return "chromium (" + ChromiumPath() + ")";
  if (!fs::exists(BrowserDir() + "/node_modules/playwright-core/package.json")) {
    return "tests/browser/node_modules (run deploy/dev/install-packages)";
  }
  return "";
}

struct ChildResult {
  int exit_code = -1;
  std::string out;
};

// Runs argv with stdout captured and stderr written to `stderr_file`; kills it after
// `timeout_s`.
ChildResult RunChild(const std::vector<std::string>& args, const std::string& stderr_file,
                     int timeout_s) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    int err = open(stderr_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (err >= 0) dup2(err, 2);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  ChildResult r;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int status = 0;
  bool exited = false;
  char buf[4096];
  while (true) {
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) r.out.append(buf, static_cast<size_t>(n));
    if (exited) break;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;  // one more read drains what is left
      continue;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      r.out += "\n(killed after " + std::to_string(timeout_s) + " s)";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  close(fds[0]);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

struct Language {
  std::string name;             // the test's name
  std::string locale;           // the subject's locale ("" for none)
  std::string accept_language;  // the browser's
  std::string expected;         // <html lang> of every page
  std::string given_name;
};

void PrintTo(const Language& l, std::ostream* os) {
  *os << "locale " << l.locale << ", Accept-Language " << l.accept_language;
}

std::string Name(const ::testing::TestParamInfo<Language>& info) { return info.param.name; }

class BrowserTest : public ::testing::TestWithParam<Language> {
 protected:
  void SetUp() override {
    db_ = testing::TestDatabase::Create();
    HERALD_REQUIRE_DB(db_);
    std::string missing = MissingBrowserTools();
    if (!missing.empty()) {
      if (testing::InCi()) FAIL() << "browser test under CI without " << missing;
      GTEST_SKIP() << "no " << missing;
    }
    capture_ = std::make_unique<testing::SmtpCapture>();
    std::string config =
        "email:\n  from_address: news@herald.test\n  from_name: Herald\n"
        "providers:\n  - name: capture\n    kind: smtp\n    country: RU\n"
        "    settings:\n      url: smtp://127.0.0.1:" +
        std::to_string(capture_->port()) + "\n      starttls: none\n" +
        "links:\n  policy_url: " + kPolicyUrl + "\n" + ExtraConfig();
    server_ = std::make_unique<HeralddProcess>(db_->dsn(), config);
    server_->Start();
    subs_ = v1::SubscriptionService::NewStub(server_->Channel());
    dispatch_ = v1::DispatchService::NewStub(server_->Channel());
  }

  // More configuration sections for a derived suite.
  virtual std::string ExtraConfig() const { return ""; }

  // A subject in `locale` with processing consent and e-mail marketing consent.
  std::string Subject(const std::string& email) {
    return testing::ConsentedSubject(
        *subs_, testing::SubjectWith(GetParam().given_name, {email}, GetParam().locale));
  }

  v1::SendResponse Send(const std::string& subject_id) {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kSchedulerKey);
    v1::SendRequest r;
    r.set_idempotency_key("browser-" + GetParam().name);
    r.mutable_recipient()->set_subject_id(subject_id);
    r.set_channel(v1::EMAIL);
    r.set_topic(kMessageTopic);
    r.mutable_content()->set_subject("Offers for {{given_name}}");
    r.mutable_content()->set_text(
        "Hello {{given_name}}!\n\nUnsubscribe: {{unsubscribe_url}}\n"
        "Preferences: {{preferences_url}}\n");
    r.mutable_content()->set_html(
        "<p>Hello <b>{{given_name}}</b>!</p><p><a href=\"{{unsubscribe_url}}\">Unsubscribe</a>"
        " · <a href=\"{{preferences_url}}\">Preferences</a></p>");
    v1::SendResponse resp;
    auto status = dispatch_->Send(&ctx, r, &resp);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return resp;
  }

  v1::Decision Check(const std::string& subject_id, const std::string& topic) {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kCrmKey);
    v1::CheckEligibilityRequest r;
    r.mutable_recipient()->set_subject_id(subject_id);
    r.set_channel(v1::EMAIL);
    r.set_topic(topic);
    v1::CheckEligibilityResponse resp;
    auto status = subs_->CheckEligibility(&ctx, r, &resp);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return resp.decision();
  }

  struct PrefState {
    bool subscribed = false;
    bool channel_consent = false;
    bool operator==(const PrefState& o) const {
      return subscribed == o.subscribed && channel_consent == o.channel_consent;
    }
  };

  // "pref:EMAIL:product_news" -> its state, for every preference of the subject.
  std::map<std::string, PrefState> Preferences(const std::string& subject_id) {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kCrmKey);
    v1::GetPreferencesRequest r;
    r.set_subject_id(subject_id);
    v1::GetPreferencesResponse resp;
    auto status = subs_->GetPreferences(&ctx, r, &resp);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::map<std::string, PrefState> out;
    for (const auto& p : resp.preferences()) {
      out["pref:" + v1::Channel_Name(p.channel()) + ":" + p.topic()] = {p.subscribed(),
                                                                        p.channel_consent()};
    }
    return out;
  }

  std::vector<v1::SubjectEvent> Events(const std::string& subject_id) {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kAdminKey);
    v1::ListSubjectEventsRequest r;
    r.set_subject_id(subject_id);
    r.set_page_size(500);
    v1::ListSubjectEventsResponse resp;
    auto status = subs_->ListSubjectEvents(&ctx, r, &resp);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {resp.events().begin(), resp.events().end()};
  }

  v1::Message WaitFor(const std::string& id, v1::MessageStatus want) {
    v1::Message m;
    testing::Eventually(
        [&] {
          grpc::ClientContext ctx;
          testing::Authorize(ctx, HeralddProcess::kCrmKey);
          v1::GetMessageRequest r;
          r.set_message_id(id);
          dispatch_->GetMessage(&ctx, r, &m);
          return m.status() == want;
        },
        std::chrono::seconds(20));
    EXPECT_EQ(m.status(), want) << server_->Log();
    return m;
  }

  // The delivered message as the capture's reader decoded it (the last line of index.jsonl).
  // Runs tests/browser/recipient_flow.mjs on `link`; fails the test unless it printed JSON
  // and reached its end.
  json Flow(const std::string& link, const std::string& name, const std::string& steps) {
    std::string out_dir = OutputDir();
    std::filesystem::create_directories(out_dir);
    auto run =
        RunChild({NodePath(), BrowserDir() + "/recipient_flow.mjs", "--url", link, "--out", out_dir,
                  "--name", name, "--toggle", std::string("pref:EMAIL:") + kToggledTopic,
                  "--accept-language", GetParam().accept_language, "--chromium", ChromiumPath(),
                  "--steps", steps},
                 out_dir + "/" + name + "-node.stderr", 120);
    json result;
    try {
      result = json::parse(run.out);
    } catch (const std::exception&) {
      ADD_FAILURE() << "recipient_flow.mjs printed no JSON (exit " << run.exit_code << "):\n"
                    << run.out << "\nheraldd log:\n"
                    << server_->Log();
      return json();
    }
    EXPECT_EQ(run.exit_code, 0) << result.dump(2) << "\nheraldd log:\n" << server_->Log();
    if (run.exit_code == 0) {
      EXPECT_FALSE(result.contains("error")) << result.dump(2);
    }
    return run.exit_code == 0 ? result : json();
  }

  int LinkEvents(const std::string& subject_id) {
    int n = 0;
    for (const auto& e : Events(subject_id)) n += e.source() == v1::LINK;
    return n;
  }

  json Delivered() {
    std::ifstream in(capture_->dir() + "/index.jsonl");
    std::string line, last;
    while (std::getline(in, line)) {
      if (!line.empty()) last = line;
    }
    return last.empty() ? json() : json::parse(last);
  }

  // The unsubscribe link of the delivered message, its origin moved to the web listener.
  std::string DeliveredLink() {
    // E4: the link in the body and the one in List-Unsubscribe are the same public URL.
    json mail = Delivered();
    if (!mail.is_object()) {
      ADD_FAILURE() << "nothing reached the capturing SMTP server";
      return "";
    }
    std::string header = mail["parsed"]["headers"].value("List-Unsubscribe", "");
    std::string text;
    for (const auto& part : mail["parsed"]["parts"]) {
      if (part["content_type"] == "text/plain") text = part["content"].get<std::string>();
    }
    std::regex link_re(std::string(kPublicBase) + R"(/u/[A-Za-z0-9_\-]+)");
    std::smatch body_link;
    if (!std::regex_search(text, body_link, link_re)) {
      ADD_FAILURE() << "no unsubscribe link in the body";
      return "";
    }
    std::string public_link = body_link.str();
    EXPECT_THAT(header, HasSubstr("<" + public_link + ">"));
    EXPECT_THAT(text, HasSubstr(std::string(kPublicBase) + "/p/"));

    // The public origin is the operator's proxy; here the web role listens on loopback.
    return "http://127.0.0.1:" + std::to_string(server_->http_port()) +
           public_link.substr(std::string(kPublicBase).size());
  }

  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<testing::SmtpCapture> capture_;
  std::unique_ptr<HeralddProcess> server_;
  std::unique_ptr<v1::SubscriptionService::Stub> subs_;
  std::unique_ptr<v1::DispatchService::Stub> dispatch_;
};

TEST_P(BrowserTest, UnsubscribeLinkThenPreferenceCenterInTheSubjectsLanguage) {
  const Language& lang = GetParam();
  std::string subject = Subject("browser-" + lang.name + "@example.com");
  ASSERT_FALSE(subject.empty());
  // Before any click the message's topic is allowed, so the denial below is the link's doing.
  ASSERT_TRUE(Check(subject, kMessageTopic).allowed());

  auto sent = Send(subject);
  ASSERT_EQ(sent.status(), v1::QUEUED);
  WaitFor(sent.message_id(), v1::SENT);

  std::string local_link = DeliveredLink();
  ASSERT_FALSE(local_link.empty());

  // E1: opening the link (a mail scanner does) shows the page and changes nothing.
  auto prefs_before = Preferences(subject);
  json scan = Flow(local_link, lang.name + "-scan", "open");
  ASSERT_TRUE(scan.is_object());
  ASSERT_EQ(scan["steps"].size(), 1u) << scan.dump(2);
  EXPECT_EQ(scan["steps"][0]["status"], 200);
  EXPECT_EQ(scan["steps"][0]["lang"], lang.expected);
  EXPECT_TRUE(Check(subject, kMessageTopic).allowed()) << "GET /u/{token} unsubscribed (E1)";
  EXPECT_EQ(Preferences(subject), prefs_before) << "GET /u/{token} changed preferences (E1)";
  EXPECT_EQ(LinkEvents(subject), 0) << "GET /u/{token} recorded an event (E1)";

  // The whole path: confirm, preference center, toggle, save, read back.
  std::string toggle = std::string("pref:EMAIL:") + kToggledTopic;
  json result = Flow(local_link, lang.name, "all");
  ASSERT_TRUE(result.is_object());

  // Every page: the subject's language (not the browser's Accept-Language), 200, no redirect
  // (E2), and the headers that keep the token from leaking or being framed.
  ASSERT_EQ(result["steps"].size(), 5u) << result.dump(2);
  for (const auto& step : result["steps"]) {
    SCOPED_TRACE(step["step"].get<std::string>());
    EXPECT_EQ(step["lang"], lang.expected);
    EXPECT_EQ(step["status"], 200);
    EXPECT_FALSE(step["title"].get<std::string>().empty());
    EXPECT_EQ(step["headers"]["referrer-policy"], "no-referrer");
    EXPECT_THAT(step["headers"]["content-security-policy"].get<std::string>(),
                HasSubstr("frame-ancestors 'none'"));
    EXPECT_THAT(step["headers"]["cache-control"].get<std::string>(), HasSubstr("no-store"));
  }
  for (const auto& r : result["responses"]) {
    EXPECT_EQ(r["status"], 200) << r.dump();  // never a 3xx (E2), never an error page
  }
  auto ids = [&](int i) { return result["steps"][i]["ids"]; };
  EXPECT_TRUE(ids(0)["unsubscribe-form"] && ids(0)["confirm-unsubscribe"]) << ids(0).dump();
  EXPECT_TRUE(ids(1)["unsubscribed"] && ids(1)["preferences-link"] && ids(1)["undo"])
      << ids(1).dump();
  EXPECT_TRUE(ids(2)["preferences-form"] && ids(2)["save-preferences"] &&
              ids(2)["unsubscribe-all"] && ids(2)["policy-link"])
      << ids(2).dump();
  EXPECT_TRUE(ids(3)["status"]) << ids(3).dump();
  EXPECT_EQ(result["steps"][2].value("policy_href", ""), kPolicyUrl);
  EXPECT_EQ(result["steps"][1]["path"], "/u/{token}");  // the POST answered in place
  EXPECT_EQ(result["steps"][2]["path"], "/p/{token}");

  // The confirmed unsubscribe holds: the message's topic is now refused by the gate.
  v1::Decision after = Check(subject, kMessageTopic);
  EXPECT_FALSE(after.allowed());
  EXPECT_THAT(after.reason(), ::testing::AnyOf(v1::UNSUBSCRIBED_TOPIC, v1::UNSUBSCRIBED_CHANNEL,
                                               v1::UNSUBSCRIBED_ALL, v1::ADDRESS_SUPPRESSED))
      << v1::DenyReason_Name(after.reason());

  // The toggle was saved, and every box the page now shows matches the registry.
  const json& t = result["toggle"];
  ASSERT_TRUE(t["before"].is_boolean() && t["after"].is_boolean()) << t.dump(2);
  EXPECT_NE(t["before"].get<bool>(), t["after"].get<bool>()) << "the toggle did not stick";
  auto prefs = Preferences(subject);
  ASSERT_TRUE(prefs.count(toggle)) << toggle << " missing from GetPreferences";
  EXPECT_EQ(prefs[toggle].subscribed, t["after"].get<bool>());
  EXPECT_TRUE(prefs[toggle].channel_consent);
  // A box is shown checked when the preference is on and the channel has marketing consent,
  // and can only be changed where there is consent (the subject gave it for e-mail alone).
  ASSERT_EQ(t["after_all"].size(), prefs.size()) << "the page and GetPreferences differ";
  for (const auto& box : t["after_all"]) {
    std::string name = box["name"];
    SCOPED_TRACE(name);
    EXPECT_TRUE(box["labelled"].get<bool>()) << "a checkbox without a label";
    ASSERT_TRUE(prefs.count(name)) << "the page shows a preference the registry does not have";
    EXPECT_EQ(box["checked"].get<bool>(), prefs[name].subscribed && prefs[name].channel_consent);
    EXPECT_EQ(box["disabled"].get<bool>(), !prefs[name].channel_consent);
    EXPECT_EQ(prefs[name].channel_consent, name.rfind("pref:EMAIL:", 0) == 0);
  }

  // Every change made on the pages is an event with source LINK naming the message.
  int link_events = 0, naming_message = 0;
  for (const auto& e : Events(subject)) {
    if (e.source() != v1::LINK) continue;
    ++link_events;
    if (e.details_json().find(sent.message_id()) != std::string::npos) ++naming_message;
  }
  EXPECT_GE(link_events, 2) << "the unsubscribe and the preference change";
  EXPECT_GE(naming_message, 2) << "link events must name the message they came from";

  for (const auto& shot : result["screenshots"]) {
    EXPECT_GT(std::filesystem::file_size(shot.get<std::string>()), 1000u) << shot;
  }
}

// The undo offered after unsubscribing: a form of our own page (CSRF-checked, posted by the
// browser with "Origin: null" under no-referrer), recorded as a preference change with
// source LINK; the message's topic is allowed again.
class BrowserUndoTest : public BrowserTest {};

TEST_P(BrowserUndoTest, UndoAfterUnsubscribingResubscribesTheTopic) {
  const Language& lang = GetParam();
  std::string subject = Subject("undo-" + lang.name + "@example.com");
  ASSERT_FALSE(subject.empty());
  auto sent = Send(subject);
  ASSERT_EQ(sent.status(), v1::QUEUED);
  WaitFor(sent.message_id(), v1::SENT);
  std::string local_link = DeliveredLink();
  ASSERT_FALSE(local_link.empty());

  json result = Flow(local_link, lang.name + "-undo", "undo");
  ASSERT_TRUE(result.is_object());
  ASSERT_EQ(result["steps"].size(), 3u) << result.dump(2);
  for (const auto& step : result["steps"]) {
    SCOPED_TRACE(step["step"].get<std::string>());
    EXPECT_EQ(step["lang"], lang.expected);
    EXPECT_EQ(step["status"], 200);
  }
  EXPECT_EQ(result["steps"][2]["step"], "undone");
  EXPECT_TRUE(result["steps"][2]["ids"]["status"]) << result["steps"][2].dump();

  EXPECT_TRUE(Check(subject, kMessageTopic).allowed()) << "the undo did not resubscribe";
  int link_events = 0, naming_message = 0;
  for (const auto& e : Events(subject)) {
    if (e.source() != v1::LINK) continue;
    ++link_events;
    if (e.details_json().find(sent.message_id()) != std::string::npos) ++naming_message;
  }
  EXPECT_GE(link_events, 2) << "the unsubscribe and its undo";
  EXPECT_GE(naming_message, 2);
}

// CAP-1, CAP-3, CAP-4 in the browser: a person fills in the hosted form in each language
// (the path's language, not the browser's), the confirmation arrives at the capturing SMTP
// server, a scanner's GET of its link changes nothing, and pressing Confirm records the
// consents: the topic ticked is allowed, the one left unticked is not. The screenshots
// (<lang>-capture-*.png) are the ones in the README.
class CaptureBrowserTest : public BrowserTest {
 protected:
  std::string ExtraConfig() const override {
    return "capture:\n  forms:\n    - id: newsletter\n      topics: [product_news, events]\n"
           "      processing_document: pd-2025-09\n      marketing_document: mk-2025-09\n";
  }

  json Capture(const std::string& url, const std::string& name, const std::string& steps,
               const std::string& email = "") {
    std::string out_dir = OutputDir();
    std::filesystem::create_directories(out_dir);
    auto run = RunChild({NodePath(),
                         BrowserDir() + "/capture_flow.mjs",
                         "--url",
                         url,
                         "--out",
                         out_dir,
                         "--name",
                         name,
                         "--steps",
                         steps,
                         "--email",
                         email,
                         "--given-name",
                         GetParam().given_name,
                         "--topic",
                         "events",
                         "--accept-language",
                         GetParam().accept_language,
                         "--chromium",
                         ChromiumPath()},
                        out_dir + "/" + name + "-" + steps + "-node.stderr", 120);
    json result;
    try {
      result = json::parse(run.out);
    } catch (const std::exception&) {
      ADD_FAILURE() << "capture_flow.mjs printed no JSON (exit " << run.exit_code << "):\n"
                    << run.out << "\nheraldd log:\n"
                    << server_->Log();
      return json();
    }
    EXPECT_EQ(run.exit_code, 0) << result.dump(2) << "\nheraldd log:\n" << server_->Log();
    return run.exit_code == 0 ? result : json();
  }

  // The confirmation link of the delivered message, its origin moved to the web listener.
  std::string ConfirmationLink() {
    std::string local;
    EXPECT_TRUE(testing::Eventually(
        [&] {
          json mail = Delivered();
          if (!mail.is_object()) return false;
          for (const auto& part : mail["parsed"]["parts"]) {
            if (part["content_type"] != "text/plain") continue;
            std::smatch m;
            std::string text = part["content"].get<std::string>();
            std::regex link_re(std::string(kPublicBase) + R"((/fc/[A-Za-z0-9_\-]+))");
            if (!std::regex_search(text, m, link_re)) continue;
            local = "http://127.0.0.1:" + std::to_string(server_->http_port()) + m[1].str();
            return true;
          }
          return false;
        },
        std::chrono::seconds(30)))
        << server_->Log();
    return local;
  }

  std::vector<v1::Subject> Find(const std::string& address) {
    return testing::SubjectsAt(*subs_, address);
  }
};

TEST_P(CaptureBrowserTest, CAP_1_3_4_FormThenConfirmationInTheBrowser) {
  const Language& lang = GetParam();
  const std::string email = "capture-" + lang.name + "@example.com";
  const std::string form_url =
      "http://127.0.0.1:" + std::to_string(server_->http_port()) + "/f/newsletter/" + lang.expected;
  json form = Capture(form_url, lang.name + "-capture", "form", email);
  ASSERT_TRUE(form.is_object());
  ASSERT_EQ(form["steps"].size(), 3u) << form.dump(2);
  for (const auto& step : form["steps"]) {
    SCOPED_TRACE(step["step"].get<std::string>());
    EXPECT_EQ(step["lang"], lang.expected);
    EXPECT_EQ(step["status"], 200);
    EXPECT_THAT(step["headers"]["content-security-policy"].get<std::string>(),
                HasSubstr("frame-ancestors 'none'"));
  }
  EXPECT_TRUE(form["steps"][0]["ids"]["capture-form"]);
  EXPECT_TRUE(form["steps"][0]["unlabelled"].empty()) << form["steps"][0].dump();
  EXPECT_TRUE(form["steps"][2]["ids"]["sent"]);
  EXPECT_TRUE(Find(email).empty()) << "consent before confirmation";

  std::string link = ConfirmationLink();
  ASSERT_FALSE(link.empty());
  json scan = Capture(link, lang.name + "-capture-scan", "open");
  ASSERT_TRUE(scan.is_object());
  EXPECT_EQ(scan["steps"][0]["lang"], lang.expected);
  EXPECT_TRUE(Find(email).empty()) << "a GET of the link confirmed (CAP-3)";

  json confirm = Capture(link, lang.name + "-capture", "confirm");
  ASSERT_TRUE(confirm.is_object());
  ASSERT_EQ(confirm["steps"].size(), 2u) << confirm.dump(2);
  for (const auto& step : confirm["steps"]) {
    SCOPED_TRACE(step["step"].get<std::string>());
    EXPECT_EQ(step["lang"], lang.expected);
    EXPECT_EQ(step["status"], 200);
  }
  EXPECT_TRUE(confirm["steps"][1]["ids"]["confirmed"]);

  auto subjects = Find(email);
  ASSERT_EQ(subjects.size(), 1u);
  EXPECT_EQ(subjects[0].locale(), lang.expected);
  EXPECT_TRUE(Check(subjects[0].id(), "events").allowed());
  EXPECT_EQ(Check(subjects[0].id(), "product_news").reason(), v1::UNSUBSCRIBED_TOPIC);
  int chain = 0;
  for (const auto& e : Events(subjects[0].id())) {
    chain += e.type() == "capture.submitted" || e.type() == "capture.confirmed";
  }
  EXPECT_EQ(chain, 2);
}

INSTANTIATE_TEST_SUITE_P(Languages, CaptureBrowserTest,
                         ::testing::Values(Language{"az", "", "ru-RU,ru;q=0.9", "az", "Aysel"},
                                           Language{"ru", "", "en-US,en;q=0.9", "ru", "Ольга"},
                                           Language{"en", "", "az-AZ,az;q=0.9", "en", "Olivia"}),
                         Name);

INSTANTIATE_TEST_SUITE_P(Languages, BrowserUndoTest,
                         ::testing::Values(Language{"ru", "ru", "az", "ru", "Ольга"}), Name);

INSTANTIATE_TEST_SUITE_P(
    Languages, BrowserTest,
    ::testing::Values(
        // The subject's locale wins over the browser's language.
        Language{"az", "az", "ru-RU,ru;q=0.9", "az", "Aysel"},
        Language{"ru", "ru", "en-US,en;q=0.9", "ru", "Ольга"},
        Language{"en", "en", "az-AZ,az;q=0.9", "en", "Olivia"},
        // No locale on record: Accept-Language, then Azerbaijani.
        Language{"ru_from_accept_language", "", "ru-RU,ru;q=0.9,en;q=0.5", "ru", "Olga"},
        Language{"az_by_default", "", "fr-FR,fr;q=0.9,de;q=0.5", "az", "Aylin"}),
    Name);

}  // namespace
}  // namespace herald
