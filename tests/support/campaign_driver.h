#pragma once

#include <map>
#include <string>
#include <vector>

#include "herald/v1/dispatch.pb.h"
#include "tests/support/heraldd_process.h"
#include "tests/support/smtp_capture.h"
#include "tests/support/test_database.h"

namespace herald::testing {

// `n` consenting subjects with one e-mail each (<prefix><i>@example.com), written set-based
// for speed; returns their ids in id order.
std::vector<std::string> MakeSubjects(TestDatabase& db, int n, const std::string& prefix = "r");

// Creates a campaign on special_offers on `channel` with `content` (paced at `rate_per_second`
// when positive), streams `subjects` in as recipients (1,000 rows a message), starts it, and
// returns its id. Failures are recorded as test failures.
std::string StartCampaign(const HeralddProcess& server, const std::vector<std::string>& subjects,
                          const v1::Content& content, const std::string& key = "campaign",
                          double rate_per_second = 0, v1::Channel channel = v1::EMAIL);

// Message ids (X-Herald-Message-Id) the sink received, with how often each arrived.
// Polls GetRecipientUpload until the upload is resolved (a test failure after 60 s); returns
// it.
v1::RecipientUpload AwaitUpload(const HeralddProcess& server, const std::string& campaign_id,
                                const std::string& upload_id);
std::map<std::string, int> CapturedMessageIds(const SmtpCapture& sink);

// The first column of the first row, as a number.
int64_t Number(TestDatabase& db, const std::string& sql);

}  // namespace herald::testing
