// The Creatio write-back end to end (docs/creatio.md; C1-C9 in docs/requirements.md): a real
// heraldd writes to the Creatio stand-in (tests/support/creatio_stand_in.h) over HTTP, and
// every check is made where Creatio's user would see it: on the stand-in's cards.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "herald/v1/crm.grpc.pb.h"
#include "herald/v1/subscriptions.grpc.pb.h"
#include "tests/support/consented_subject.h"
#include "tests/support/creatio_stand_in.h"
#include "tests/support/crm_fixture.h"
#include "tests/support/eventually.h"
#include "tests/support/heraldd_process.h"

namespace herald {
namespace {

using testing::CallAs;
using testing::CreatioContact;
using testing::CreatioRequest;
using testing::CreatioStandIn;
using testing::CreatioSubscription;
using testing::HeralddProcess;
using testing::kSubscribed;
using testing::kUnsubscribed;
using Json = nlohmann::json;

constexpr char kContact[] = "0f3c6a1e-5b7d-4c2a-9e8f-1a2b3c4d5e6f";
// The BulkEmailType mapped to the special_offers topic.
constexpr char kOffersType[] = "5b7e2c1a-9d3f-4e6b-8a2c-1d4e6f8a0b2c";

using std::chrono::milliseconds;
using std::chrono::seconds;

// The i-th test contact's id (a lower-case GUID) and e-mail address.
std::string ContactId(int i) { return testing::CreatioGuid(0, i); }
std::string ContactEmail(int i) { return "contact" + std::to_string(i) + "@example.org"; }

class CrmWriteBackTest : public testing::CrmConnectorTest {
 protected:
  // heraldd with the connector on, pointed at the stand-in.
  void StartHeraldd(const std::string& extra = "", const std::string& roles = "") {
    std::vector<std::string> env;
    if (!roles.empty()) env.push_back("HERALD_ROLES=" + roles);
    CrmConnectorTest::StartHeraldd(CrmSection(100, 1000) + extra, env);
  }

  // Grants (or withdraws) marketing consent on `channel`.
  void Consent(const std::string& subject_id, v1::Channel channel, bool granted) {
    v1::RecordConsentRequest req;
    req.set_subject_id(subject_id);
    req.set_kind(v1::MARKETING);
    req.set_channel(channel);
    req.set_granted(granted);
    if (granted) {
      *req.mutable_proof() = testing::WebFormProof();
    } else {
      req.mutable_proof()->set_source(v1::CRM);
    }
    CallAs(*subs_, &v1::SubscriptionService::Stub::RecordConsent, HeralddProcess::kCrmKey, req);
  }

  // Opts the subject out of one topic on e-mail.
  void OptOutTopic(const std::string& subject_id, const std::string& topic) {
    v1::OptOutRequest req;
    req.set_subject_id(subject_id);
    req.set_scope(v1::TOPIC);
    req.set_topic(topic);
    req.set_channel(v1::EMAIL);
    req.mutable_proof()->set_source(v1::CRM);
    CallAs(*subs_, &v1::SubscriptionService::Stub::OptOut, HeralddProcess::kCrmKey, req);
  }

  // The person's own preference for one topic on e-mail.
  void SetTopic(const std::string& subject_id, const std::string& topic, bool subscribed) {
    v1::SetPreferencesRequest req;
    req.set_subject_id(subject_id);
    auto* change = req.add_changes();
    change->set_topic(topic);
    change->set_channel(v1::EMAIL);
    change->set_subscribed(subscribed);
    *req.mutable_proof() = testing::WebFormProof();
    CallAs(*subs_, &v1::SubscriptionService::Stub::SetPreferences, HeralddProcess::kCrmKey, req);
  }

  // Linked subjects for contacts [first, first + n), made by `threads` clients at once;
  // with `consent` each gets marketing consent on e-mail and SMS, without it the subject is
  // only upserted and then opted out of e-mail (a change the outbox records either way).
  std::vector<std::string> LinkedSubjects(int first, int n, bool consent, int threads = 1) {
    std::vector<std::string> ids(n);
    for (int i = 0; i < n; ++i) {
      creatio_.PutContact(CreatioContact{ContactId(first + i), "Test Person " + std::to_string(i),
                                         ContactEmail(first + i), ""});
    }
    std::atomic<int> next{0};
    auto work = [&] {
      for (int i = next++; i < n; i = next++) {
        v1::UpsertSubjectRequest req = testing::SubjectWith("Test", {ContactEmail(first + i)});
        req.set_external_id(ContactId(first + i));
        if (consent) {
          char phone[16];
          std::snprintf(phone, sizeof phone, "+99450000%04d", (first + i) % 10000);
          req.add_phones(phone);
          ids[i] = testing::ConsentedSubject(*subs_, req, {v1::EMAIL, v1::SMS});
        } else {
          ids[i] = CallAs(*subs_, &v1::SubscriptionService::Stub::UpsertSubject,
                          HeralddProcess::kCrmKey, req)
                       .subject()
                       .id();
          if (!ids[i].empty()) OptOutChannel(ids[i], v1::EMAIL);
        }
      }
    };
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(work);
    for (auto& t : pool) t.join();
    return ids;
  }

  int64_t Retry(bool include_dead = false) {
    v1::RetryWriteBacksRequest req;
    req.set_include_dead(include_dead);
    return CallAs(*crm_, &v1::CrmService::Stub::RetryWriteBacks, HeralddProcess::kAdminKey, req)
        .retried();
  }

  // The value of one sample on the ops listener's /metrics; -1 when it is not there.
  double Metric(const std::string& sample) {
    std::string body;
    if (testing::HttpGet(server_->ops_port(), "/metrics", &body) != 200) return -1;
    std::istringstream lines(body);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.rfind(sample + " ", 0) == 0) return std::stod(line.substr(sample.size() + 1));
    }
    return -1;
  }

  // The $batch requests the stand-in received (not their items), with what it answered.
  std::vector<CreatioRequest> Batches() {
    std::vector<CreatioRequest> out;
    for (const auto& r : creatio_.requests()) {
      if (!r.in_batch && r.path == "/0/odata/$batch") out.push_back(r);
    }
    return out;
  }
  int BatchesAnswered(int status) {
    int n = 0;
    for (const auto& r : Batches()) n += r.status == status ? 1 : 0;
    return n;
  }

  // The flags a Contact PATCH body sets.
  static Json Flags(bool email, bool sms, bool call) {
    return Json{{"DoNotUseEmail", email}, {"DoNotUseSms", sms}, {"DoNotUseCall", call}};
  }

  // Whether `pred` stays true for the whole of `window`, polled: for the checks that
  // something does NOT happen, made only after a positive condition showed that the
  // worker is running and had the change in front of it.
  template <typename Pred>
  static bool HoldsFor(Pred pred, milliseconds window) {
    auto end = std::chrono::steady_clock::now() + window;
    while (std::chrono::steady_clock::now() < end) {
      if (!pred()) return false;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return pred();
  }
};

// C1: an opt-out made in Herald reaches the card: DoNotUseEmail true, the other flags as
// Herald decides them (SMS still allowed), in one $batch, after one login.
TEST_F(CrmWriteBackTest, AnOptOutInHeraldTicksTheCardsFlag) {
  StartHeraldd();
  std::string id = LinkedSubject(kContact, "card.owner@example.com", "+994500000001");
  ASSERT_FALSE(id.empty());
  // The consent itself is a change: the card gets Herald's state (nothing forbidden).
  ASSERT_EVENTUALLY(QueueEmpty(), std::chrono::seconds(15));
  creatio_.ClearRecord();
  OptOutChannel(id, v1::EMAIL);
  ASSERT_EVENTUALLY(creatio_.contact(kContact)->do_not_use_email, std::chrono::seconds(15));
  auto card = *creatio_.contact(kContact);
  EXPECT_FALSE(card.do_not_use_sms);
  EXPECT_TRUE(card.do_not_use_call);  // no consent to calls was ever given
  ASSERT_EVENTUALLY(QueueEmpty(), std::chrono::seconds(15));
  EXPECT_EQ(creatio_.single_writes(), 0);
  EXPECT_EQ(creatio_.logins(), 0);  // the session from the first write is still good
}

// C2: a change committed is delivered after a crash. The opt-outs are made by a heraldd
// without the worker role (nothing can deliver them), which is then killed with SIGKILL:
// no shutdown hook runs. A heraldd with the worker role, started later, finds every change
// in the outbox and writes every card.
TEST_F(CrmWriteBackTest, AChangeCommittedBeforeAKillIsDeliveredAfterIt) {
  constexpr int kContacts = 20;
  StartHeraldd("", "api");
  auto ids = LinkedSubjects(0, kContacts, /*consent=*/true);
  for (const auto& id : ids) OptOutChannel(id, v1::EMAIL);
  ASSERT_EQ(Status().pending(), kContacts);  // committed, not delivered
  EXPECT_EQ(server_->Stop(SIGKILL), 128 + SIGKILL);
  EXPECT_TRUE(creatio_.writes().empty());

  StartHeraldd("", "api,worker");
  ASSERT_EVENTUALLY(QueueEmpty(), seconds(20));
  for (int i = 0; i < kContacts; ++i) {
    auto writes = ContactWrites(ContactId(i));
    ASSERT_EQ(writes.size(), 1u) << "contact " << i;  // the final state, once
    EXPECT_EQ(writes[0], Flags(true, false, true)) << "contact " << i;
    EXPECT_TRUE(creatio_.contact(ContactId(i))->do_not_use_email);
  }
}

// C3: a session that expires while the queue is being delivered costs exactly one login,
// however many workers find it expired at once (the re-login is single-flight), and
// nothing is lost: every card gets its change.
class CrmSessionExpiryTest : public CrmWriteBackTest {
 protected:
  void Run(CreatioStandIn::Expiry how) {
    constexpr int kContacts = 40;
    // Four workers sending $batch requests of five rows: several are in flight together.
    StartHeraldd("  workers: 4\n  batch_size: 5\n");
    auto ids = LinkedSubjects(100, kContacts, /*consent=*/true);
    ASSERT_EVENTUALLY(QueueEmpty(), seconds(20));
    // The cards show the consents (how many writes that took depends on whether a worker
    // met a contact between its upsert and its consents).
    ASSERT_FALSE(ContactWrites(ContactId(100)).empty());
    ASSERT_FALSE(creatio_.contact(ContactId(100))->do_not_use_email);
    creatio_.ClearRecord();
    // Each request takes a while, so the workers' requests overlap on the dead session.
    creatio_.SetDelay(milliseconds(150));
    creatio_.ExpireSessions(how);
    for (const auto& id : ids) OptOutChannel(id, v1::EMAIL);
    ASSERT_EVENTUALLY(QueueEmpty(), seconds(30));
    for (int i = 0; i < kContacts; ++i) {
      EXPECT_TRUE(creatio_.contact(ContactId(100 + i))->do_not_use_email) << "contact " << i;
    }
    EXPECT_EQ(creatio_.logins(), 1);
    EXPECT_EQ(creatio_.failed_logins(), 0);
    // The expiry was met (how many workers meet it at once depends on timing here; eight
    // threads on one expired session costing one login is proven in crm_client_tests).
    int refused = 0;
    for (const auto& r : Batches()) {
      refused += (r.status == 401 || r.status == 302) ? 1 : 0;
    }
    EXPECT_GE(refused, 1);
    EXPECT_EQ(creatio_.single_writes(), 0);
  }
};

TEST_F(CrmSessionExpiryTest, An401MidQueueCostsOneLogin) {
  Run(CreatioStandIn::Expiry::kUnauthorized);
}

TEST_F(CrmSessionExpiryTest, ARedirectToTheLoginPageMidQueueCostsOneLogin) {
  Run(CreatioStandIn::Expiry::kRedirectToLogin);
}

// C4: Creatio's 429 storm is waited out (Retry-After honoured), then 500s, 503s and a
// timeout are backed off; nothing is given up and every card ends up right.
TEST_F(CrmWriteBackTest, ThrottlingServerErrorsAndTimeoutsBackOffAndDeliverEverything) {
  constexpr int kContacts = 6;
  StartHeraldd("  workers: 2\n  batch_size: 2\n  timeout_ms: 700\n");
  auto ids = LinkedSubjects(200, kContacts, /*consent=*/true);
  ASSERT_EVENTUALLY(QueueEmpty(), seconds(20));
  auto all = [&](bool email, bool sms) {
    for (int i = 0; i < kContacts; ++i) {
      auto c = creatio_.contact(ContactId(200 + i));
      if (c->do_not_use_email != email || c->do_not_use_sms != sms) return false;
    }
    return true;
  };

  // 429 with Retry-After: 1, many times over.
  creatio_.ClearRecord();
  creatio_.FailNext(6, 429, 1);
  auto started = std::chrono::steady_clock::now();
  for (const auto& id : ids) OptOutChannel(id, v1::EMAIL);
  ASSERT_EVENTUALLY(all(true, false), seconds(20));
  // A row that met a 429 waited the second Creatio asked for; the first request met one.
  EXPECT_GE(std::chrono::steady_clock::now() - started, milliseconds(900));
  EXPECT_EQ(BatchesAnswered(429), 6);
  ASSERT_EVENTUALLY(QueueEmpty(), seconds(10));

  // 500s, then 503s without Retry-After: the worker's own doubling backoff. SMS consent
  // withdrawn, then given again.
  for (int status : {500, 503}) {
    creatio_.ClearRecord();
    creatio_.FailNext(5, status);
    const bool sms_forbidden = status == 500;
    for (const auto& id : ids) Consent(id, v1::SMS, !sms_forbidden);
    ASSERT_EVENTUALLY(all(true, sms_forbidden), seconds(20)) << "HTTP " << status;
    EXPECT_EQ(BatchesAnswered(status), 5);
    ASSERT_EVENTUALLY(QueueEmpty(), seconds(10));
  }

  // No answer at all: the request times out (crm.timeout_ms), is tried again later, and
  // goes through once Creatio answers again.
  creatio_.ClearRecord();
  creatio_.Stall();
  OptOutChannel(ids[0], v1::SMS);
  // Two held requests: the first timed out and the row was tried again.
  ASSERT_EVENTUALLY(creatio_.stalled_requests() >= 2, seconds(10));
  EXPECT_GE(Status().pending(), 1);
  creatio_.Unstall();
  ASSERT_EVENTUALLY(creatio_.contact(ContactId(200))->do_not_use_sms, seconds(10));
  ASSERT_EVENTUALLY(QueueEmpty(), seconds(10));
}

// C5: while Creatio does not answer, 500 changes to one contact pile up; once it answers
// again the card gets exactly one write, of the final state. The in-flight request (made
// for the first change) is cut off when Creatio comes back and must not be applied late.
TEST_F(CrmWriteBackTest, FiveHundredChangesWhileCreatioStallsArriveAsOneWrite) {
  // A timeout longer than the whole stall: the first change's request stays in flight.
  StartHeraldd("  timeout_ms: 60000\n");
  std::string id = LinkedSubject(kContact, "churn@example.com", "+994500000002");
  ASSERT_FALSE(id.empty());
  ASSERT_EVENTUALLY(QueueEmpty(), seconds(15));
  ASSERT_EQ(ContactWrites(kContact).size(), 1u);
  const size_t before = creatio_.writes_for(kContact).size();

  creatio_.Stall();
  Consent(id, v1::EMAIL, false);  // change 1: e-mail withdrawn
  ASSERT_EVENTUALLY(creatio_.stalled_requests() == 1, seconds(10));
  // Changes 2..499: e-mail granted again and withdrawn again, ending withdrawn.
  for (int i = 2; i <= 499; ++i) Consent(id, v1::EMAIL, i % 2 == 1 ? false : true);
  Consent(id, v1::SMS, false);  // change 500: SMS withdrawn too
  EXPECT_EQ(creatio_.stalled_requests(), 1);
  creatio_.Unstall();

  ASSERT_EVENTUALLY(QueueEmpty(), seconds(15));
  auto writes = creatio_.writes_for(kContact);
  ASSERT_EQ(writes.size(), before + 1);
  EXPECT_EQ(writes.back().entity, "Contact");
  EXPECT_EQ(Json::parse(writes.back().body), Flags(true, true, true));
  auto card = *creatio_.contact(kContact);
  EXPECT_TRUE(card.do_not_use_email);
  EXPECT_TRUE(card.do_not_use_sms);
}

// C6: 1,000 linked contacts' changes go out as exactly ten $batch requests of 100, and
// not one single PATCH or POST.
TEST_F(CrmWriteBackTest, AThousandContactsGoOutAsTenBatches) {
  constexpr int kContacts = 1000;
  StartHeraldd("", "api");
  auto ids = LinkedSubjects(1000, kContacts, /*consent=*/false, /*threads=*/4);
  ASSERT_EQ(Status().pending(), kContacts);
  server_->Stop(SIGTERM);
  creatio_.ClearRecord();

  StartHeraldd("  batch_size: 100\n", "api,worker");
  ASSERT_EVENTUALLY(QueueEmpty(), seconds(30));
  auto batches = Batches();
  EXPECT_EQ(batches.size(), 10u);
  EXPECT_EQ(creatio_.batches(), 10);
  for (const auto& b : batches) {
    EXPECT_EQ(b.status, 200);
    EXPECT_EQ(Json::parse(b.body)["requests"].size(), 100u);
  }
  EXPECT_EQ(creatio_.single_writes(), 0);
  for (int i = 0; i < kContacts; ++i) {
    auto writes = ContactWrites(ContactId(1000 + i));
    ASSERT_EQ(writes.size(), 1u) << "contact " << i;
    EXPECT_EQ(writes[0], Flags(true, true, true)) << "contact " << i;
  }
}

// C7: a login Creatio refuses parks the rows as an auth failure, which an operator sees on
// /metrics; once the password is right again, `crm retry` delivers them.
TEST_F(CrmWriteBackTest, ARefusedLoginParksTheQueueUntilRetried) {
  creatio_.SetUser("Supervisor", "Rotated!2");  // Herald still has the old password
  StartHeraldd("  login_refused_hold_ms: 0\n");
  auto ids = LinkedSubjects(300, 3, /*consent=*/true);
  ASSERT_EVENTUALLY(Status().parked_auth() >= 1, seconds(15));
  auto status = Status();
  EXPECT_TRUE(status.queue_parked());
  EXPECT_NE(status.last_error().find("login refused"), std::string::npos) << status.last_error();
  ASSERT_EVENTUALLY(Metric("herald_crm_writeback_queue{state=\"parked_auth\"}") >= 1, seconds(10));
  EXPECT_GE(creatio_.failed_logins(), 1);
  EXPECT_EQ(creatio_.logins(), 0);
  EXPECT_TRUE(creatio_.writes().empty());

  creatio_.SetUser("Supervisor", "Supervisor!1");
  EXPECT_GE(Retry(), 1);
  ASSERT_EVENTUALLY(QueueEmpty(), seconds(15));
  for (int i = 0; i < 3; ++i) {
    auto writes = ContactWrites(ContactId(300 + i));
    ASSERT_FALSE(writes.empty()) << "contact " << i;
    EXPECT_EQ(writes.back(), Flags(false, false, true)) << "contact " << i;
  }
  EXPECT_EQ(creatio_.logins(), 1);
  EXPECT_EVENTUALLY(Metric("herald_crm_writeback_queue{state=\"parked_auth\"}") == 0, seconds(5));
}

// C7: a contact gone from Creatio (404) is dead-lettered alone, and the others are written;
// a 400 (a field the fork renamed) parks the row and holds the whole queue, so a later
// change to another contact waits too, until `crm retry` after the field is back.
TEST_F(CrmWriteBackTest, A404DeadLettersTheContactAndA400HoldsTheQueue) {
  StartHeraldd();
  auto ids = LinkedSubjects(400, 3, /*consent=*/true);
  ASSERT_EVENTUALLY(QueueEmpty(), seconds(15));
  const std::string gone = ContactId(400), held = ContactId(401), later = ContactId(402);

  creatio_.FailContact(gone, 404);
  OptOutChannel(ids[0], v1::EMAIL);
  OptOutChannel(ids[1], v1::EMAIL);
  ASSERT_EVENTUALLY(Status().dead() == 1, seconds(15));
  ASSERT_EVENTUALLY(creatio_.contact(held)->do_not_use_email, seconds(15));
  ASSERT_EVENTUALLY(Status().pending() == 0, seconds(10));
  EXPECT_FALSE(creatio_.contact(gone)->do_not_use_email);
  EXPECT_FALSE(Status().queue_parked());  // a dead row holds nothing

  creatio_.RemoveContactField("DoNotUseSms");
  OptOutChannel(ids[1], v1::SMS);
  ASSERT_EVENTUALLY(Status().parked() == 1, seconds(15));
  auto status = Status();
  EXPECT_TRUE(status.queue_parked());
  EXPECT_NE(status.last_error().find("400"), std::string::npos) << status.last_error();
  // A change to another contact now waits behind the parked row.
  creatio_.ClearRecord();
  OptOutChannel(ids[2], v1::EMAIL);
  ASSERT_EQ(Status().pending(), 1);
  // The workers keep looking (their claim statement runs again and again) and hold: nothing
  // goes to Creatio and the row stays pending.
  const std::string claims =
      R"(herald_db_statement_duration_seconds_count{statement="crm_outbox.claim"})";
  const double claims_before = Metric(claims);
  ASSERT_GE(claims_before, 0);
  ASSERT_EVENTUALLY(Metric(claims) >= claims_before + 4, seconds(10));
  EXPECT_TRUE(creatio_.requests().empty());
  EXPECT_EQ(Status().pending(), 1);
  EXPECT_FALSE(creatio_.contact(later)->do_not_use_email);

  creatio_.RestoreContactField("DoNotUseSms");
  EXPECT_EQ(Retry(), 1);  // the parked row; the dead one stays dead
  ASSERT_EVENTUALLY(creatio_.contact(later)->do_not_use_email, seconds(15));
  ASSERT_EVENTUALLY(creatio_.contact(held)->do_not_use_sms, seconds(15));
  ASSERT_EVENTUALLY(Status().pending() == 0 && Status().parked() == 0, seconds(10));
  EXPECT_EQ(Status().dead(), 1);
  EXPECT_FALSE(creatio_.contact(gone)->do_not_use_email);
}

// C8: an opt-out of one topic unsubscribes the contact from that topic's BulkEmailType
// (a new row the first time, the same row after that) and leaves DoNotUseEmail false, since
// the other topics are still allowed; opting back in makes it Subscribed again.
TEST_F(CrmWriteBackTest, ATopicOptOutUnsubscribesItsBulkEmailType) {
  StartHeraldd(std::string("  topic_types: \"special_offers=") + kOffersType + "\"\n");
  std::string id = LinkedSubject(kContact, "offers@example.com");
  ASSERT_FALSE(id.empty());
  ASSERT_EVENTUALLY(QueueEmpty(), seconds(15));
  ASSERT_TRUE(creatio_.subscriptions().empty());  // none exists, none is needed
  auto row = [&]() -> std::optional<CreatioSubscription> {
    for (const auto& s : creatio_.subscriptions()) {
      if (s.contact_id == kContact && s.type_id == kOffersType) return s;
    }
    return std::nullopt;
  };
  auto sub_writes = [&](const std::string& method) {
    int n = 0;
    for (const auto& r : creatio_.requests()) {
      if (r.in_batch && r.method == method &&
          r.path.find("/BulkEmailSubscription") != std::string::npos && r.status / 100 == 2) {
        ++n;
      }
    }
    return n;
  };

  creatio_.ClearRecord();
  OptOutTopic(id, "special_offers");
  ASSERT_EVENTUALLY(row() && row()->status_id == kUnsubscribed, seconds(15));
  ASSERT_EVENTUALLY(QueueEmpty(), seconds(10));
  EXPECT_EQ(sub_writes("POST"), 1);
  EXPECT_FALSE(creatio_.contact(kContact)->do_not_use_email);
  const std::string row_id = row()->id;

  creatio_.ClearRecord();
  SetTopic(id, "special_offers", true);
  ASSERT_EVENTUALLY(row()->status_id == kSubscribed, seconds(15));
  ASSERT_EVENTUALLY(QueueEmpty(), seconds(10));
  EXPECT_EQ(sub_writes("PATCH"), 1);
  EXPECT_EQ(sub_writes("POST"), 0);

  creatio_.ClearRecord();
  OptOutTopic(id, "special_offers");
  ASSERT_EVENTUALLY(row()->status_id == kUnsubscribed, seconds(15));
  ASSERT_EVENTUALLY(QueueEmpty(), seconds(10));
  EXPECT_EQ(sub_writes("PATCH"), 1);
  EXPECT_EQ(sub_writes("POST"), 0);
  EXPECT_EQ(row()->id, row_id);
  EXPECT_EQ(creatio_.subscriptions().size(), 1u);
  EXPECT_FALSE(creatio_.contact(kContact)->do_not_use_email);

  // Consent to e-mail withdrawn and given again does not undo the topic opt-out: the card
  // follows the consent and the type ends Unsubscribed still.
  creatio_.ClearRecord();
  Consent(id, v1::EMAIL, false);
  ASSERT_EVENTUALLY(creatio_.contact(kContact)->do_not_use_email, seconds(15));
  Consent(id, v1::EMAIL, true);
  ASSERT_EVENTUALLY(!creatio_.contact(kContact)->do_not_use_email, seconds(15));
  ASSERT_EVENTUALLY(QueueEmpty(), seconds(10));
  EXPECT_EQ(row()->status_id, kUnsubscribed);
}

// C8: a contact that already has a row for the type in Creatio: Herald finds it and
// changes it, never adding a second row.
TEST_F(CrmWriteBackTest, ATopicOptOutChangesTheRowCreatioAlreadyHas) {
  StartHeraldd(std::string("  topic_types: \"special_offers=") + kOffersType + "\"\n");
  creatio_.PutSubscription(CreatioSubscription{"7c1e3a5b-2d4f-4a6c-8e0b-9f1a3c5e7d9b", kContact,
                                               kOffersType, kSubscribed});
  std::string id = LinkedSubject(kContact, "has.row@example.com");
  ASSERT_FALSE(id.empty());
  ASSERT_EVENTUALLY(QueueEmpty(), seconds(15));
  OptOutTopic(id, "special_offers");
  ASSERT_EVENTUALLY(creatio_.subscriptions()[0].status_id == kUnsubscribed, seconds(15));
  ASSERT_EVENTUALLY(QueueEmpty(), seconds(10));
  EXPECT_EQ(creatio_.subscriptions().size(), 1u);
  EXPECT_FALSE(creatio_.contact(kContact)->do_not_use_email);
  SetTopic(id, "special_offers", true);
  ASSERT_EVENTUALLY(creatio_.subscriptions()[0].status_id == kSubscribed, seconds(15));
  EXPECT_EQ(creatio_.subscriptions().size(), 1u);
}

}  // namespace
}  // namespace herald
