// The recipients file of `heraldctl campaign add-recipients`: CSV (RFC 4180) whose first
// line names the columns. subject_id, external_id and address identify the recipient (at
// least one of them per row); every other column is a per-recipient variable of that name.
#pragma once

#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include "herald/v1/dispatch.pb.h"

namespace herald::ctl {

struct RecipientsCsv {
  std::vector<std::string> variables;  // the variable columns, in file order
  std::vector<v1::RecipientRow> rows;
  // The line each row starts on (1-based, the header is line 1), to name it in messages.
  std::vector<int64_t> lines;
};

// Reads the whole input and checks every line before anything is sent, so that a bad file
// adds nothing. Throws UsageError("<source> line N: ...") for the first bad line.
RecipientsCsv ReadRecipientsCsv(std::istream& in, const std::string& source);

// The help text describing the format.
extern const char kRecipientsCsvHelp[];

}  // namespace herald::ctl
