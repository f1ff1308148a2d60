// The recipients CSV of `heraldctl campaign add-recipients`: columns from the header,
// quoting, and a bad line named by its number before anything is sent.
#include "services/heraldctl/recipients_csv.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "services/heraldctl/flags.h"

namespace herald::ctl {
namespace {

using ::testing::HasSubstr;

RecipientsCsv Read(const std::string& text) {
  std::istringstream in(text);
  return ReadRecipientsCsv(in, "r.csv");
}

std::string ErrorOf(const std::string& text) {
  try {
    Read(text);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "no error";
}

TEST(RecipientsCsvTest, ColumnsComeFromTheHeaderAndTheRestAreVariables) {
  auto csv = Read(
      "\xEF\xBB\xBF"
      "external_id, address ,code,city\r\n"
      "c-1,,A1,Baku\r\n"
      "\n"
      ",\"a@example.com\",\"x, \"\"y\"\"\",\"two\nlines\"\n"
      "c-3,b@example.com,,Ganja");
  ASSERT_EQ(csv.rows.size(), 3u);
  EXPECT_EQ(csv.variables, (std::vector<std::string>{"code", "city"}));
  EXPECT_EQ(csv.rows[0].external_id(), "c-1");
  EXPECT_EQ(csv.rows[0].address(), "");
  EXPECT_EQ(csv.rows[0].variables().at("code"), "A1");
  EXPECT_EQ(csv.rows[1].address(), "a@example.com");
  EXPECT_EQ(csv.rows[1].variables().at("code"), "x, \"y\"");
  EXPECT_EQ(csv.rows[1].variables().at("city"), "two\nlines");
  EXPECT_EQ(csv.rows[2].variables().at("code"), "");
  // Lines as written: the blank line 3 is skipped, the quoted row starts on line 4.
  EXPECT_EQ(csv.lines, (std::vector<int64_t>{2, 4, 6}));
}

TEST(RecipientsCsvTest, ABadLineIsNamedByItsNumber) {
  EXPECT_EQ(ErrorOf("address,code\na@example.com,1\nb@example.com\n"),
            "r.csv line 3: 1 fields, the header has 2");
  EXPECT_EQ(ErrorOf("address,code\na@example.com,\"1\n"),
            "r.csv line 2: a quoted field is not closed");
  EXPECT_EQ(ErrorOf("address,code\na@example.com,\"1\"x\n"),
            "r.csv line 2: text after a closing quote (quote the whole field)");
  EXPECT_THAT(ErrorOf("address,code\na@exa\"mple.com,1\n"),
              HasSubstr("r.csv line 2: a quote inside an unquoted field"));
  EXPECT_EQ(ErrorOf("subject_id,address,code\n,,1\n"),
            "r.csv line 2: no subject_id, external_id or address");
  EXPECT_EQ(ErrorOf("code,name\n1,2\n"),
            "r.csv line 1: the header names no subject_id, external_id or address column");
  EXPECT_EQ(ErrorOf("address,address\n"), "r.csv line 1: column 'address' appears twice");
  EXPECT_EQ(ErrorOf("address,,code\n"), "r.csv line 1: an empty column name");
  EXPECT_EQ(ErrorOf(""), "r.csv is empty: its first line must name the columns");
  EXPECT_EQ(ErrorOf("address\n\n"), "r.csv has no recipients, only the header");
}

}  // namespace
}  // namespace herald::ctl
