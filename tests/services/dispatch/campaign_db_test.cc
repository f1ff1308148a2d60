// Campaigns on a real PostgreSQL: creation checks, bulk recipients (COPY, one transaction,
// duplicates collapsed, bad rows counted by reason with row numbers), the state machine,
// and the outbox claiming only running campaigns through the gate.
#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>

#include <atomic>
#include <future>
#include <thread>

#include "services/dispatch/campaign_service.h"
#include "services/dispatch/outbox/outbox.h"
#include "services/dispatch/upload_resolver.h"
#include "tests/services/subscriptions/registry_fixture.h"
#include "tests/support/eventually.h"
#include "tests/support/outbox.h"

namespace herald::dispatch {
namespace {

using ::testing::HasSubstr;

class CampaignTest : public subscriptions::RegistryTest {
 protected:
  void SetUp() override {
    RegistryTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    campaigns_ = std::make_unique<CampaignService>(*pool_, clock_, topics_, *gate_);
    outbox_ = std::make_unique<Outbox>(
        *pool_, clock_, *gate_, topics_,
        [](Channel, bool) {
          return std::optional<ProviderChoice>(ProviderChoice{"relay", "RU"});
        },
        RetryPolicy{});
  }

  v1::Campaign Create(const std::string& key, v1::Channel channel = v1::EMAIL) {
    v1::CreateCampaignRequest r;
    r.set_idempotency_key(key);
    r.set_name("Autumn offers");
    r.set_topic("special_offers");
    r.set_channel(channel);
    if (channel == v1::EMAIL) r.mutable_content()->set_subject("{{given_name}}, {{discount}}%");
    r.mutable_content()->set_text("Hello {{given_name}}: {{discount}}% off");
    r.add_variables("discount");
    return campaigns_->CreateCampaign(crm_, r).campaign();
  }

  // Streams `rows` and resolves every received upload, as the resolver would; returns the
  // upload's report.
  v1::RecipientUpload Add(const std::string& campaign_id, const std::vector<v1::RecipientRow>& rows,
                          int per_message = 3, bool break_stream = false) {
    auto answer = Receive(campaign_id, rows, per_message, break_stream);
    while (campaigns_->ResolveNextUpload()) {
    }
    return Upload(campaign_id, answer.upload_id());
  }

  v1::RecipientUpload Upload(const std::string& campaign_id, const std::string& upload_id) {
    v1::GetRecipientUploadRequest r;
    r.set_campaign_id(campaign_id);
    r.set_upload_id(upload_id);
    return campaigns_->GetUpload(crm_, r);
  }

  // The stream alone: AddRecipients' answer, nothing resolved yet.
  v1::AddRecipientsResponse Receive(const std::string& campaign_id,
                                    const std::vector<v1::RecipientRow>& rows, int per_message = 3,
                                    bool break_stream = false) {
    size_t pos = 0;
    bool first = true;
    return campaigns_->AddRecipients(
        crm_,
        [&](v1::AddRecipientsRequest* m) {
          if (!first && pos >= rows.size()) return false;
          m->Clear();
          if (first) m->set_campaign_id(campaign_id);
          first = false;
          for (int i = 0; i < per_message && pos < rows.size(); ++i) *m->add_rows() = rows[pos++];
          return true;
        },
        [&] { return break_stream; });
  }

  static v1::RecipientRow Row(const std::string& subject_id, const std::string& external_id,
                              const std::string& address, const std::string& discount = "10") {
    v1::RecipientRow r;
    r.set_subject_id(subject_id);
    r.set_external_id(external_id);
    r.set_address(address);
    if (!discount.empty()) (*r.mutable_variables())["discount"] = discount;
    return r;
  }

  std::unique_ptr<CampaignService> campaigns_;
  std::unique_ptr<Outbox> outbox_;
};

TEST_F(CampaignTest, RecipientsAreLoadedDeduplicatedAndBadRowsCounted) {
  std::string a = NewSubject("a@example.com", "", "crm-a");
  std::string b = NewSubject("b@example.com", "", "crm-b");
  std::string phone_only = NewSubject("", "+79160000001", "crm-p");
  auto c = Create("camp-1");
  auto resp = Add(c.id(), {
                              Row(a, "", ""),                  // 1 by subject id
                              Row("", "crm-b", ""),            // 2 by CRM id
                              Row("", "", "new@example.com"),  // 3 bare address
                              Row("", "", "A@EXAMPLE.com"),    // 4 duplicate of row 1
                              Row("", "", "not an address"),   // 5 bad address
                              Row("", "crm-nobody", ""),       // 6 unknown subject
                              Row(b, "", "", ""),              // 7 missing variable
                              Row(phone_only, "", ""),         // 8 no e-mail address
                              Row("", "", ""),                 // 9 no recipient
                          });
  EXPECT_EQ(resp.received(), 9);
  EXPECT_EQ(resp.added(), 3);
  EXPECT_EQ(resp.duplicates(), 1);
  EXPECT_EQ(resp.skipped(), 5);
  EXPECT_EQ(resp.skipped_by_reason().at("bad address"), 1);
  EXPECT_EQ(resp.skipped_by_reason().at("unknown subject"), 1);
  EXPECT_EQ(resp.skipped_by_reason().at("missing variable"), 1);
  EXPECT_EQ(resp.skipped_by_reason().at("no address for the channel"), 1);
  EXPECT_EQ(resp.skipped_by_reason().at("no recipient"), 1);
  std::vector<int64_t> rows;
  for (const auto& e : resp.errors()) rows.push_back(e.row());
  EXPECT_THAT(rows, ::testing::ElementsAre(5, 6, 7, 8, 9));
  EXPECT_EQ(campaigns_->Get(crm_, c.id()).recipients(), 3);
  // Adding the same rows again adds nothing.
  EXPECT_EQ(Add(c.id(), {Row(a, "", "")}).duplicates(), 1);
}

// B4: a stream's message ids are UUIDs of version 7 carrying the clock's
// milliseconds, ascending in insertion order, distinct across streams of the same instant; a
// CRM-id row that names its own address keeps it; a later stream of the campaign (the
// ON CONFLICT path) adds only the recipients not already in it.
TEST_F(CampaignTest, StreamIdsAreTimeOrderedAndLaterStreamsSkipRecipientsAlreadyIn) {
  std::string a = NewSubject("a@example.com", "", "crm-a");
  NewSubject("b@example.com", "", "crm-b");
  std::string c1 = NewSubject("c1@example.com", "", "crm-c1");
  auto c = Create("camp-ids");
  auto first = Add(c.id(), {Row("", "crm-a", ""), Row("", "crm-b", "own@example.com"),
                            Row("", "", "bare@example.com")});
  EXPECT_EQ(first.added(), 3);
  EXPECT_EQ(db_->Scalar("SELECT string_agg(address, ',' ORDER BY address) FROM messages"),
            "a@example.com,bare@example.com,own@example.com");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM messages WHERE substr(id::text, 15, 1) = '7'"
                        " AND substr(replace(id::text, '-', ''), 1, 12) = lpad(to_hex("
                        "(extract(epoch FROM created_at) * 1000)::bigint), 12, '0')"),
            "3");
  EXPECT_EQ(db_->Scalar("SELECT string_agg(match_key, ',' ORDER BY id) FROM messages"),
            "a@example.com,bare@example.com,own@example.com");
  // Same instant (the clock has not moved), overlapping recipients: only the new one is added
  // and its id differs from every id of the first stream.
  auto second = Add(c.id(), {Row(a, "", ""), Row(c1, "", ""), Row("", "", "BARE@example.com")});
  EXPECT_EQ(second.added(), 1);
  EXPECT_EQ(second.duplicates(), 2);
  EXPECT_EQ(Count("messages"), 4);
  EXPECT_EQ(db_->Scalar("SELECT count(DISTINCT id) FROM messages"), "4");
  // A second campaign's first stream at the same instant gets its own ids as well.
  auto other = Create("camp-ids-2");
  EXPECT_EQ(Add(other.id(), {Row(a, "", ""), Row(c1, "", "")}).added(), 2);
  EXPECT_EQ(db_->Scalar("SELECT count(DISTINCT id) FROM messages"), "6");
}

TEST_F(CampaignTest, ABrokenStreamAddsNothing) {
  std::string a = NewSubject("a@example.com");
  auto c = Create("camp-broken");
  try {
    Add(c.id(), {Row(a, "", ""), Row("", "", "x@example.com")}, 1, /*break_stream=*/true);
    ADD_FAILURE() << "a broken stream was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
  }
  EXPECT_EQ(Count("messages"), 0);
}

TEST_F(CampaignTest, OnlyRunningCampaignsAreClaimedAndTheGateDecides) {
  std::vector<std::string> ids;
  std::vector<v1::RecipientRow> rows;
  for (int i = 0; i < 6; ++i) {
    ids.push_back(NewSubject("r" + std::to_string(i) + "@example.com"));
    if (i != 5) ConsentAll(ids.back());  // r5 never consented
    rows.push_back(Row(ids.back(), "", "", std::to_string(10 + i)));
  }
  auto c = Create("camp-run");
  ASSERT_EQ(Add(c.id(), rows).added(), 6);
  EXPECT_TRUE(outbox_->Claim("w", 100, std::chrono::seconds(60)).empty());  // a draft
  OptOutSubject(ids[0], v1::ALL_MARKETING);
  EXPECT_EQ(campaigns_->Start(crm_, c.id()).status(), v1::RUNNING);
  auto claimed = outbox_->Claim("w", 100, std::chrono::seconds(60));
  ASSERT_EQ(claimed.size(), 4u);
  // The claim carries the recipient's values, not the campaign's content: that is compiled
  // once per campaign.
  auto content = campaigns_->CompiledContent(c.id());
  for (const auto& m : claimed) {
    EXPECT_EQ(m.campaign_id, c.id());
    EXPECT_EQ(m.text_template, "");
    EXPECT_FALSE(m.variables.at("discount").empty());
    EXPECT_EQ(content.Render(m.variables).text, "Hello " + m.variables.at("given_name") + ": " +
                                                    m.variables.at("discount") + "% off");
  }
  auto got = campaigns_->Get(crm_, c.id());
  EXPECT_EQ(got.counts_by_status().at("sending"), 4);
  EXPECT_EQ(got.counts_by_status().at("suppressed"), 2);
  EXPECT_EQ(got.counts_by_deny_reason().at("UNSUBSCRIBED_ALL"), 1);
  EXPECT_EQ(got.counts_by_deny_reason().at("NO_CONSENT"), 1);
  EXPECT_DOUBLE_EQ(got.progress(), 2.0 / 6.0);
}

TEST_F(CampaignTest, StateMachineRefusesWhatMakesNoSense) {
  std::string a = NewSubject("sm@example.com");
  ConsentAll(a);
  auto c = Create("camp-sm");
  Add(c.id(), {Row(a, "", "")});
  EXPECT_EQ(CatchError([&] { campaigns_->Resume(crm_, c.id()); }).code(),
            ErrorCode::kFailedPrecondition);
  EXPECT_EQ(campaigns_->Start(crm_, c.id()).status(), v1::RUNNING);
  auto twice = CatchError([&] { campaigns_->Start(crm_, c.id()); });
  EXPECT_EQ(twice.code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(campaigns_->Pause(crm_, c.id()).status(), v1::PAUSED);
  EXPECT_TRUE(outbox_->Claim("w", 100, std::chrono::seconds(60)).empty());
  EXPECT_EQ(campaigns_->Resume(crm_, c.id()).status(), v1::RUNNING);
  EXPECT_EQ(campaigns_->Cancel(crm_, c.id()).status(), v1::CANCELLED_CAMPAIGN);
  EXPECT_EQ(db_->Scalar("SELECT status FROM messages"), "cancelled");
  EXPECT_EQ(CatchError([&] { campaigns_->Start(crm_, c.id()); }).code(),
            ErrorCode::kFailedPrecondition);
  EXPECT_EQ(CatchError([&] { Add(c.id(), {Row(a, "", "")}); }).code(),
            ErrorCode::kFailedPrecondition);
  EXPECT_EQ(
      CatchError([&] { campaigns_->Get(crm_, "00000000-0000-0000-0000-000000000000"); }).code(),
      ErrorCode::kNotFound);
}

TEST_F(CampaignTest, ScheduledCampaignStartsWhenItsTimeComesAndFinishes) {
  std::string a = NewSubject("sched@example.com");
  ConsentAll(a);
  v1::CreateCampaignRequest r;
  r.set_idempotency_key("camp-sched");
  r.set_name("Later");
  r.set_topic("events");
  r.set_channel(v1::EMAIL);
  r.mutable_content()->set_subject("S");
  r.mutable_content()->set_text("T");
  r.mutable_start_time()->set_seconds(ToUnixMicros(clock_.Now()) / 1000000 + 3600);
  auto c = campaigns_->CreateCampaign(crm_, r).campaign();
  Add(c.id(), {Row(a, "", "", "")});
  EXPECT_EQ(campaigns_->Start(crm_, c.id()).status(), v1::SCHEDULED);
  campaigns_->AdvanceCampaigns();
  EXPECT_TRUE(outbox_->Claim("w", 100, std::chrono::seconds(60)).empty());
  clock_.Advance(std::chrono::hours(2));
  campaigns_->AdvanceCampaigns();
  EXPECT_EQ(campaigns_->Get(crm_, c.id()).status(), v1::RUNNING);
  auto claimed = outbox_->Claim("w", 100, std::chrono::seconds(60));
  ASSERT_EQ(claimed.size(), 1u);
  outbox_->Complete({{claimed[0].id,
                      1,
                      "relay",
                      clock_.Now(),
                      clock_.Now(),
                      {DeliveryOutcome::kSent, 250, "", "", "", "", std::nullopt, false},
                      "",
                      0,
                      claimed[0].lease_token,
                      {claimed[0].subject_id, claimed[0].channel, claimed[0].match_key}}});
  campaigns_->AdvanceCampaigns();
  auto done = campaigns_->Get(crm_, c.id());
  EXPECT_EQ(done.status(), v1::FINISHED);
  EXPECT_DOUBLE_EQ(done.progress(), 1.0);
  EXPECT_TRUE(done.has_finished_time());
}

TEST_F(CampaignTest, CreateChecksItsInput) {
  auto code = [&](const std::function<void(v1::CreateCampaignRequest&)>& spoil) {
    v1::CreateCampaignRequest r;
    r.set_idempotency_key("bad");
    r.set_name("N");
    r.set_topic("events");
    r.set_channel(v1::EMAIL);
    r.mutable_content()->set_subject("S");
    r.mutable_content()->set_text("T {{code}}");
    r.add_variables("code");
    spoil(r);
    return CatchError([&] { campaigns_->CreateCampaign(crm_, r); });
  };
  EXPECT_EQ(code([](auto& r) { r.set_topic("nope"); }).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& r) { r.set_channel(v1::CHANNEL_UNSPECIFIED); }).code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& r) { r.mutable_content()->clear_text(); }).code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& r) { r.clear_variables(); }).code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(code([](auto& r) { r.mutable_content()->set_html("{{#x}}"); }).what(),
              HasSubstr("content.html"));
  EXPECT_EQ(code([](auto& r) { r.add_variables("Bad Name"); }).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& r) { r.set_rate_per_second(-1); }).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& r) { r.set_rate_per_second(0.0001); }).code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(Count("campaigns"), 0);
  // Idempotent by key.
  auto c1 = Create("camp-idem");
  auto c2 = Create("camp-idem");
  EXPECT_EQ(c1.id(), c2.id());
  EXPECT_EQ(Count("campaigns"), 1);
}

TEST_F(CampaignTest, CancelledCampaignsMessagesInFlightAreNotReclaimedForSending) {
  std::string a = NewSubject("inflight@example.com");
  ConsentAll(a);
  auto c = Create("camp-cancel-inflight");
  Add(c.id(), {Row(a, "", "")});
  campaigns_->Start(crm_, c.id());
  // The worker dies; its lease (a second, by PostgreSQL's clock) runs out.
  ASSERT_EQ(outbox_->Claim("dead", 10, std::chrono::seconds(1)).size(), 1u);
  campaigns_->Cancel(crm_, c.id());
  int claimed = 0;
  ASSERT_TRUE(::herald::testing::Eventually([&] {
    claimed += static_cast<int>(outbox_->Claim("w", 10, std::chrono::seconds(60)).size());
    return db_->Scalar("SELECT status FROM messages") == "cancelled";
  }));
  EXPECT_EQ(claimed, 0);
}

}  // namespace
}  // namespace herald::dispatch

namespace herald::dispatch {
namespace {

// Listing a page of campaigns is one statement however many campaigns the page holds (it
// was one for the ids and three more per campaign), and each listed campaign reads exactly
// as Get shows it, counts by status and by deny reason included.
TEST_F(CampaignTest, ListingAPageIsOneStatementWhateverItsSize) {
  std::atomic<int> statements{0};
  db::Pool counted(db_->dsn(), 1, std::chrono::seconds(10),
                   [&](const char*, std::chrono::nanoseconds) { ++statements; });
  CampaignService listing(counted, clock_, topics_, *gate_);
  v1::ListCampaignsRequest page;
  page.set_page_size(50);

  std::vector<v1::RecipientRow> rows;
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(NewSubject("l" + std::to_string(i) + "@example.com"));
    if (i != 2) ConsentAll(ids.back());
    rows.push_back(Row(ids.back(), "", ""));
  }
  auto first = Create("camp-list-0");
  ASSERT_EQ(Add(first.id(), rows).added(), 3);
  OptOutSubject(ids[0], v1::ALL_MARKETING);
  campaigns_->Start(crm_, first.id());
  ASSERT_EQ(outbox_->Claim("w", 100, std::chrono::seconds(60)).size(), 1u);
  ASSERT_EQ(listing.List(crm_, page).campaigns_size(), 1);
  const int for_one = statements.exchange(0);
  EXPECT_EQ(for_one, 1);

  for (int i = 1; i < 6; ++i) {
    auto c = Create("camp-list-" + std::to_string(i));
    if (i % 2) Add(c.id(), {rows[static_cast<size_t>(i % 3)]});
  }
  auto listed = listing.List(crm_, page);
  EXPECT_EQ(statements.load(), for_one);
  ASSERT_EQ(listed.campaigns_size(), 6);
  for (const auto& c : listed.campaigns()) {
    auto got = campaigns_->Get(crm_, c.id());
    EXPECT_EQ(got.uploads_size(), c.id() == first.id() || got.recipients() > 0 ? 1 : 0);
    got.clear_uploads();  // a listing leaves them out (Campaign.uploads)
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(c, got))
        << c.DebugString() << "\nGet:\n"
        << got.DebugString();
  }
  auto counted_first = listing.Get(crm_, first.id());
  EXPECT_EQ(counted_first.counts_by_status().at("sending"), 1);
  EXPECT_EQ(counted_first.counts_by_status().at("suppressed"), 2);
  EXPECT_EQ(counted_first.counts_by_deny_reason().at("UNSUBSCRIBED_ALL"), 1);
  EXPECT_EQ(counted_first.counts_by_deny_reason().at("NO_CONSENT"), 1);
  EXPECT_EQ(counted_first.recipients(), 3);

  // Paging still walks every campaign once.
  page.set_page_size(4);
  auto p1 = listing.List(crm_, page);
  ASSERT_EQ(p1.campaigns_size(), 4);
  page.set_page_token(p1.next_page_token());
  auto p2 = listing.List(crm_, page);
  EXPECT_EQ(p2.campaigns_size(), 2);
  EXPECT_TRUE(p2.next_page_token().empty());
}

}  // namespace
}  // namespace herald::dispatch

namespace herald::dispatch {
namespace {

// A client that stalls between the messages of an AddRecipients stream holds no pooled
// connection and no lock on the campaign: with a pool of one, everyone else still gets the
// connection, and the stream still ends with its usual result.
TEST_F(CampaignTest, AStalledStreamHoldsNoConnectionAndNoCampaignLock) {
  db::Pool one(db_->dsn(), 1, std::chrono::milliseconds(500));
  CampaignService small(one, clock_, topics_, *gate_);
  std::string a = NewSubject("stall-a@example.com");
  std::string b = NewSubject("stall-b@example.com");
  auto c = Create("camp-stall");
  std::promise<void> stalled, go;
  auto go_signal = go.get_future();
  int calls = 0;
  v1::AddRecipientsResponse resp;
  std::thread stream([&] {
    resp = small.AddRecipients(
        crm_,
        [&](v1::AddRecipientsRequest* m) {
          m->Clear();
          ++calls;
          if (calls == 1) {
            m->set_campaign_id(c.id());
            *m->add_rows() = Row(a, "", "");
            *m->add_rows() = Row("", "", "not an address");
            return true;
          }
          if (calls == 2) {
            stalled.set_value();
            go_signal.wait();
            *m->add_rows() = Row(b, "", "");
            *m->add_rows() = Row(a, "", "");
            return true;
          }
          return false;
        },
        [] { return false; });
  });
  stalled.get_future().wait();
  EXPECT_NO_THROW({
    db::Lease lease = one.Acquire();
    pqxx::work txn(lease->raw());
    txn.exec_params("SELECT 1 FROM campaigns WHERE id = $1::uuid FOR UPDATE NOWAIT", c.id());
  });
  go.set_value();
  stream.join();
  EXPECT_EQ(resp.received(), 4);
  EXPECT_TRUE(small.ResolveNextUpload());
  auto upload = Upload(c.id(), resp.upload_id());
  EXPECT_EQ(upload.added(), 2);
  EXPECT_EQ(upload.duplicates(), 1);
  EXPECT_EQ(upload.skipped_by_reason().at("bad address"), 1);
  ASSERT_EQ(upload.errors_size(), 1);
  EXPECT_EQ(upload.errors(0).row(), 2);
  EXPECT_EQ(Count("campaign_uploads"), 1);  // the report stays
  EXPECT_EQ(Count("campaign_upload_rows"), 0);
}

// B4: AddRecipients answers once the rows are stored; nothing is queued until the upload is
// resolved, and the campaign shows the rows waiting meanwhile. The report then has every
// received row added, a duplicate or skipped, the skips of receipt and of resolution merged
// in row order.
TEST_F(CampaignTest, TheAnswerComesBeforeResolutionAndTheReportAfter) {
  std::string a = NewSubject("rc-a@example.com", "", "crm-rc-a");
  auto c = Create("camp-receipt");
  auto answer = Receive(c.id(), {Row("", "crm-nobody", ""), Row("", "", "not an address"),
                                 Row("", "crm-rc-a", ""), Row(a, "", ""), Row("", "", "")});
  EXPECT_EQ(answer.received(), 5);
  EXPECT_EQ(answer.skipped(), 2);  // known on receipt: rows 2 and 5
  EXPECT_EQ(answer.skipped_by_reason().at("bad address"), 1);
  EXPECT_EQ(answer.skipped_by_reason().at("no recipient"), 1);
  ASSERT_EQ(answer.errors_size(), 2);
  EXPECT_EQ(answer.errors(0).row(), 2);
  EXPECT_EQ(answer.errors(1).row(), 5);
  EXPECT_EQ(Count("messages"), 0);
  auto waiting = campaigns_->Get(crm_, c.id());
  EXPECT_EQ(waiting.pending_recipients(), 3);
  EXPECT_EQ(waiting.recipients(), 0);
  ASSERT_EQ(waiting.uploads_size(), 1);
  EXPECT_EQ(waiting.uploads(0).id(), answer.upload_id());
  EXPECT_EQ(waiting.uploads(0).state(), v1::UPLOAD_RECEIVED);
  EXPECT_EQ(waiting.uploads(0).errors_size(), 0);  // GetRecipientUpload has them
  EXPECT_EQ(Upload(c.id(), answer.upload_id()).state(), v1::UPLOAD_RECEIVED);

  EXPECT_TRUE(campaigns_->ResolveNextUpload());
  EXPECT_FALSE(campaigns_->ResolveNextUpload());  // resolved once
  auto upload = Upload(c.id(), answer.upload_id());
  EXPECT_EQ(upload.state(), v1::UPLOAD_RESOLVED);
  EXPECT_EQ(upload.received(), 5);
  EXPECT_EQ(upload.added(), 1);
  EXPECT_EQ(upload.duplicates(), 1);  // rows 3 and 4 are the same subject and address
  EXPECT_EQ(upload.skipped(), 3);
  EXPECT_EQ(upload.skipped_by_reason().at("unknown subject"), 1);
  std::vector<int64_t> rows;
  for (const auto& e : upload.errors()) rows.push_back(e.row());
  EXPECT_THAT(rows, ::testing::ElementsAre(1, 2, 5));
  EXPECT_TRUE(upload.has_resolve_time());
  auto resolved = campaigns_->Get(crm_, c.id());
  EXPECT_EQ(resolved.pending_recipients(), 0);
  EXPECT_EQ(resolved.recipients(), 1);
  EXPECT_EQ(resolved.uploads(0).state(), v1::UPLOAD_RESOLVED);
  EXPECT_EQ(Count("campaign_upload_rows"), 0);

  v1::GetRecipientUploadRequest wrong;
  wrong.set_campaign_id(Create("camp-receipt-other").id());
  wrong.set_upload_id(answer.upload_id());
  try {
    campaigns_->GetUpload(crm_, wrong);
    ADD_FAILURE() << "another campaign's upload was shown";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  }
}

// A campaign cancelled while its upload waits gets none of the upload's rows.
TEST_F(CampaignTest, RowsOfACampaignCancelledBeforeResolutionAreNotQueued) {
  std::string a = NewSubject("cx-a@example.com");
  auto c = Create("camp-cancel-upload");
  auto answer = Receive(c.id(), {Row(a, "", ""), Row("", "", "cx-b@example.com")});
  campaigns_->Cancel(crm_, c.id());
  EXPECT_TRUE(campaigns_->ResolveNextUpload());
  auto upload = Upload(c.id(), answer.upload_id());
  EXPECT_EQ(upload.state(), v1::UPLOAD_RESOLVED);
  EXPECT_EQ(upload.added(), 0);
  EXPECT_EQ(upload.skipped_by_reason().at("campaign cancelled"), 2);
  EXPECT_EQ(Count("messages"), 0);
  EXPECT_EQ(Count("campaign_upload_rows"), 0);
}

// An upload received by a process that stopped before resolving it is resolved by the
// resolver of another (it looks for waiting uploads when idle, not only when woken).
TEST_F(CampaignTest, AnotherProcessesResolverPicksUpAWaitingUpload) {
  std::string a = NewSubject("pk-a@example.com");
  auto c = Create("camp-pickup");
  auto answer = Receive(c.id(), {Row(a, "", "")});
  CampaignService other(*pool_, clock_, topics_, *gate_);
  UploadResolver resolver(other);
  resolver.Start(std::chrono::milliseconds(50));
  EXPECT_EVENTUALLY(Upload(c.id(), answer.upload_id()).state() == v1::UPLOAD_RESOLVED, 20000);
  resolver.Stop();
  EXPECT_EQ(Upload(c.id(), answer.upload_id()).added(), 1);
  EXPECT_EQ(Count("messages"), 1);
}

// Uploads go away with their stream however it ends, and one abandoned by a process that
// died is dropped by the housekeeping a day later.
TEST_F(CampaignTest, UploadsEndWithTheirStream) {
  std::string a = NewSubject("up-a@example.com");
  auto c = Create("camp-uploads");
  EXPECT_THROW(Add(c.id(), {Row(a, "", "")}, 1, /*break_stream=*/true), Error);
  EXPECT_THROW(campaigns_->AddRecipients(
                   crm_,
                   [&, n = 0](v1::AddRecipientsRequest* m) mutable {
                     m->Clear();
                     m->set_campaign_id(++n == 1 ? c.id() : "00000000-0000-0000-0000-000000000001");
                     *m->add_rows() = Row(a, "", "");
                     return n <= 2;
                   },
                   [] { return false; }),
               Error);
  EXPECT_EQ(Count("campaign_uploads"), 0);
  EXPECT_EQ(Count("campaign_upload_rows"), 0);
  db_->Exec("INSERT INTO campaign_uploads VALUES (gen_random_uuid(), '" + c.id() + "', '" +
            ToIso8601(clock_.Now()) + "'::timestamptz - interval '2 days')");
  db_->Exec(
      "INSERT INTO campaign_upload_rows SELECT id, 1, '', '', 'x@example.com', 'x@example.com',"
      " '{}' FROM campaign_uploads");
  campaigns_->AdvanceCampaigns();
  EXPECT_EQ(Count("campaign_uploads"), 0);
  EXPECT_EQ(Count("campaign_upload_rows"), 0);
  // A received upload as old is not abandoned: it waits for a resolver.
  auto waiting = Receive(c.id(), {Row(a, "", "")});
  db_->Exec("UPDATE campaign_uploads SET started_at = started_at - interval '2 days'");
  campaigns_->AdvanceCampaigns();
  EXPECT_EQ(Count("campaign_uploads"), 1);
  EXPECT_EQ(Count("campaign_upload_rows"), 1);
  EXPECT_EQ(Upload(c.id(), waiting.upload_id()).state(), v1::UPLOAD_RECEIVED);
}

}  // namespace
}  // namespace herald::dispatch
