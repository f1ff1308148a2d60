// The privacy officer's register (`heraldctl privacy due --csv`, L9): RFC 4180 quoting, a
// header row, one row per request with its legal basis and due date.
#include <gmock/gmock.h>
#include <google/protobuf/util/time_util.h>

#include "services/heraldctl/privacy_commands.h"

namespace herald::ctl {
namespace {

using google::protobuf::util::TimeUtil;

TEST(DueRegisterCsvTest, L9_FieldsAreQuotedOnlyWhenTheyMustBe) {
  EXPECT_EQ(CsvField("ACCESS"), "ACCESS");
  EXPECT_EQ(CsvField(""), "");
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"no\""), "\"say \"\"no\"\"\"");
  EXPECT_EQ(CsvField("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(CsvField("cr\rhere"), "\"cr\rhere\"");
  EXPECT_EQ(CsvField(" padded "), "\" padded \"");
}

TEST(DueRegisterCsvTest, L9_RegisterHasAHeaderAndEachRequestsBasisAndDueDate) {
  google::protobuf::RepeatedPtrField<v1::PrivacyRequest> list;
  EXPECT_EQ(PrivacyRequestsCsv(list),
            "id,kind,subject_id,source,received,due,status,overdue,confirmation,legal_basis\r\n");
  auto* stop = list.Add();
  stop->set_id("6f1c2a52-0000-4000-8000-000000000001");
  stop->set_kind(v1::STOP_PROCESSING);
  stop->set_subject_id("6f1c2a52-0000-4000-8000-000000000002");
  stop->set_source(v1::CRM);
  *stop->mutable_received_time() = TimeUtil::SecondsToTimestamp(1795000000);
  *stop->mutable_due_time() = TimeUtil::SecondsToTimestamp(1796000000);
  stop->set_status(v1::OPEN);
  stop->set_overdue(true);
  stop->set_confirmation(v1::CONFIRMATION_NOT_NEEDED);
  stop->set_legal_basis(
      "152-FZ art. 21 p. 5.1, art. 15; 38-FZ art. 18 (demand to stop processing)");
  auto* unknown = list.Add();
  unknown->set_id("6f1c2a52-0000-4000-8000-000000000003");
  unknown->set_kind(v1::ACCESS);
  unknown->set_source(v1::EMAIL_REPLY);
  unknown->set_status(v1::OPEN);
  unknown->set_confirmation(v1::CONFIRMATION_PENDING);
  unknown->set_legal_basis("has \"quotes\"");
  std::string csv = PrivacyRequestsCsv(list);
  EXPECT_EQ(csv,
            "id,kind,subject_id,source,received,due,status,overdue,confirmation,legal_basis\r\n"
            "6f1c2a52-0000-4000-8000-000000000001,STOP_PROCESSING,"
            "6f1c2a52-0000-4000-8000-000000000002,CRM,2026-11-18T11:06:40Z,"
            "2026-11-30T00:53:20Z,OPEN,yes,-,"
            "\"152-FZ art. 21 p. 5.1, art. 15; 38-FZ art. 18 (demand to stop processing)\"\r\n"
            "6f1c2a52-0000-4000-8000-000000000003,ACCESS,,EMAIL_REPLY,,,OPEN,no,PENDING,"
            "\"has \"\"quotes\"\"\"\r\n");
}

}  // namespace
}  // namespace herald::ctl
