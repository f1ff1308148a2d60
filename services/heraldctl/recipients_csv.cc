#include "services/heraldctl/recipients_csv.h"

#include <set>

#include "services/heraldctl/flags.h"

namespace herald::ctl {

const char kRecipientsCsvHelp[] =
    "The input is CSV (RFC 4180, UTF-8). Its first line names the columns:\n"
    "  subject_id   the subject's id (UUID)\n"
    "  external_id  the CRM's id of the subject (Creatio Contact Id)\n"
    "  address      the e-mail address or phone number to send to (default: the subject's)\n"
    "  any other    a per-recipient variable the campaign declares (create --var NAME)\n"
    "Every other line is one recipient and names it by at least one of the first three.\n"
    "Fields may be quoted (\"a, b\"; a quote inside is written \"\"); blank lines are skipped.\n"
    "Every line is checked before anything is sent: a bad line stops the command with its\n"
    "number (exit 2) and nothing is added. Rows the server skips (unknown subject, no\n"
    "address for the channel) are listed by line after the call.\n";

namespace {

class CsvReader {
 public:
  CsvReader(std::istream& in, std::string source) : in_(in), source_(std::move(source)) {}

  // The next record's fields; false at the end of input. Blank lines are skipped.
  bool Next(std::vector<std::string>* fields, int64_t* start_line) {
    std::string line;
    do {
      if (!ReadLine(&line)) return false;
    } while (line.find_first_not_of(" \t") == std::string::npos);
    *start_line = line_no_;
    fields->clear();
    std::string field;
    size_t i = 0;
    while (true) {
      // Leading blanks of a field are ignored, quoted or not.
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
      if (i < line.size() && line[i] == '"') {
        ++i;
        field.clear();
        while (true) {
          if (i == line.size()) {
            std::string more;
            if (!ReadLine(&more)) Bad(*start_line, "a quoted field is not closed");
            field += '\n';
            line = std::move(more);
            i = 0;
            continue;
          }
          if (line[i] == '"') {
            if (i + 1 < line.size() && line[i + 1] == '"') {
              field += '"';
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          field += line[i++];
        }
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        if (i < line.size() && line[i] != ',') {
          Bad(line_no_, "text after a closing quote (quote the whole field)");
        }
      } else {
        size_t end = line.find(',', i);
        if (end == std::string::npos) end = line.size();
        field = line.substr(i, end - i);
        if (field.find('"') != std::string::npos) {
          Bad(line_no_, "a quote inside an unquoted field (quote the whole field, write \"\")");
        }
        while (!field.empty() && (field.back() == ' ' || field.back() == '\t')) field.pop_back();
        i = end;
      }
      fields->push_back(std::move(field));
      field.clear();
      if (i >= line.size()) return true;
      ++i;  // the comma
    }
  }

  [[noreturn]] void Bad(int64_t line, const std::string& why) const {
    throw UsageError(source_ + " line " + std::to_string(line) + ": " + why);
  }

 private:
  bool ReadLine(std::string* line) {
    if (!std::getline(in_, *line)) {
      if (in_.bad()) throw UsageError("cannot read " + source_);
      return false;
    }
    ++line_no_;
    if (!line->empty() && line->back() == '\r') line->pop_back();
    if (line_no_ == 1 && line->rfind("\xEF\xBB\xBF", 0) == 0) line->erase(0, 3);  // BOM
    return true;
  }

  std::istream& in_;
  std::string source_;
  int64_t line_no_ = 0;
};

enum class Column { kSubjectId, kExternalId, kAddress, kVariable };

}  // namespace

RecipientsCsv ReadRecipientsCsv(std::istream& in, const std::string& source) {
  CsvReader reader(in, source);
  std::vector<std::string> header;
  int64_t line = 0;
  if (!reader.Next(&header, &line)) {
    throw UsageError(source + " is empty: its first line must name the columns");
  }
  RecipientsCsv out;
  std::vector<Column> columns;
  std::set<std::string> seen;
  bool identifies = false;
  for (const auto& name : header) {
    if (name.empty()) reader.Bad(line, "an empty column name");
    if (!seen.insert(name).second) reader.Bad(line, "column '" + name + "' appears twice");
    if (name == "subject_id") {
      columns.push_back(Column::kSubjectId);
    } else if (name == "external_id") {
      columns.push_back(Column::kExternalId);
    } else if (name == "address") {
      columns.push_back(Column::kAddress);
    } else {
      columns.push_back(Column::kVariable);
      out.variables.push_back(name);
      continue;
    }
    identifies = true;
  }
  if (!identifies) {
    reader.Bad(line, "the header names no subject_id, external_id or address column");
  }
  std::vector<std::string> fields;
  while (reader.Next(&fields, &line)) {
    if (fields.size() != header.size()) {
      reader.Bad(line, std::to_string(fields.size()) + " fields, the header has " +
                           std::to_string(header.size()));
    }
    v1::RecipientRow row;
    for (size_t i = 0; i < fields.size(); ++i) {
      switch (columns[i]) {
        case Column::kSubjectId:
          row.set_subject_id(fields[i]);
          break;
        case Column::kExternalId:
          row.set_external_id(fields[i]);
          break;
        case Column::kAddress:
          row.set_address(fields[i]);
          break;
        case Column::kVariable:
          (*row.mutable_variables())[header[i]] = fields[i];
          break;
      }
    }
    if (row.subject_id().empty() && row.external_id().empty() && row.address().empty()) {
      reader.Bad(line, "no subject_id, external_id or address");
    }
    out.rows.push_back(std::move(row));
    out.lines.push_back(line);
  }
  if (out.rows.empty()) throw UsageError(source + " has no recipients, only the header");
  return out;
}

}  // namespace herald::ctl
