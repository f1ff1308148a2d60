#include "services/heraldctl/print.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>

namespace herald::ctl {
namespace {

std::string YesNo(bool b) { return b ? "yes" : "no"; }

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

// The enum value's name, or its number when this build does not know it.
template <typename E>
std::string EnumName(const std::string& name, E value) {
  return name.empty() ? std::to_string(static_cast<int>(value)) : name;
}
std::string Name(v1::Channel c) { return EnumName(v1::Channel_Name(c), c); }
std::string Name(v1::Source s) { return EnumName(v1::Source_Name(s), s); }
std::string Name(v1::DenyReason r) { return EnumName(v1::DenyReason_Name(r), r); }
std::string Name(v1::SubjectState s) { return EnumName(v1::SubjectState_Name(s), s); }
std::string Name(v1::ConsentKind k) { return EnumName(v1::ConsentKind_Name(k), k); }
std::string Name(v1::MessageStatus s) { return EnumName(v1::MessageStatus_Name(s), s); }

// The deny reason, or "-" when there is none.
std::string ReasonOrDash(v1::DenyReason r) { return r == 0 ? "-" : Name(r); }

// A free-text value (a note, a provider's reply) folded onto one table cell.
std::string OneLine(const std::string& s) {
  std::string out = s;
  for (char& c : out) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return OrDash(out);
}

// "label:" and the body below it, each line indented by two spaces.
void PrintBody(std::ostream& out, const std::string& label, const std::string& body) {
  out << label << ":\n";
  size_t start = 0;
  while (start < body.size()) {
    size_t end = body.find('\n', start);
    if (end == std::string::npos) end = body.size();
    std::string line = body.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out << (line.empty() ? "" : "  " + line) << '\n';
    start = end + 1;
  }
}

std::string JoinList(const google::protobuf::RepeatedPtrField<std::string>& items,
                     const std::string& sep) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

std::string FullName(const v1::Subject& s) {
  std::string out;
  for (const std::string* part : {&s.surname(), &s.given_name(), &s.patronymic()}) {
    if (!part->empty()) out += (out.empty() ? "" : " ") + *part;
  }
  return out;
}

}  // namespace

void Table::Print(std::ostream& out) const {
  std::vector<size_t> width;
  for (const auto& row : rows_) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows_) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out << line << '\n';
  }
}

std::string FormatTime(bool has, const google::protobuf::Timestamp& t) {
  if (!has) return "-";
  return google::protobuf::util::TimeUtil::ToString(t);
}

void PrintKeyValues(std::ostream& out, const std::vector<std::pair<std::string, std::string>>& kv) {
  size_t width = 0;
  for (const auto& [k, v] : kv) width = std::max(width, k.size());
  for (const auto& [k, v] : kv) {
    out << k << ':' << std::string(width - k.size() + 2, ' ') << v << '\n';
  }
}

void PrintSubject(std::ostream& out, const v1::Subject& s, const std::string& outcome) {
  std::vector<std::pair<std::string, std::string>> kv;
  if (!outcome.empty()) kv.emplace_back("outcome", outcome);
  kv.insert(kv.end(), {
                          {"id", s.id()},
                          {"external_id", OrDash(s.external_id())},
                          {"name", OrDash(FullName(s))},
                          {"locale", OrDash(s.locale())},
                          {"emails", OrDash(JoinList(s.emails(), ", "))},
                          {"phones", OrDash(JoinList(s.phones(), ", "))},
                          {"state", Name(s.state())},
                          {"blocked", YesNo(s.blocked())},
                          {"revoked", YesNo(s.revoked())},
                          {"created", FormatTime(s.has_create_time(), s.create_time())},
                          {"updated", FormatTime(s.has_update_time(), s.update_time())},
                      });
  PrintKeyValues(out, kv);
}

void PrintSubjectList(std::ostream& out,
                      const google::protobuf::RepeatedPtrField<v1::Subject>& subjects) {
  Table t;
  for (const auto& s : subjects) {
    std::string state = Name(s.state());
    if (s.blocked()) state += ",blocked";
    if (s.revoked()) state += ",revoked";
    std::string addresses = JoinList(s.emails(), ",");
    if (s.phones_size() > 0)
      addresses += (addresses.empty() ? "" : ",") + JoinList(s.phones(), ",");
    t.AddRow({s.id(), OrDash(s.external_id()), OrDash(FullName(s)), state, OrDash(addresses)});
  }
  t.Print(out);
}

void PrintConsent(std::ostream& out, const v1::Consent& c) {
  const v1::Proof& p = c.proof();
  PrintKeyValues(out, {
                          {"id", c.id()},
                          {"subject_id", c.subject_id()},
                          {"kind", Name(c.kind())},
                          {"channel", c.channel() == 0 ? "-" : Name(c.channel())},
                          {"granted", YesNo(c.granted())},
                          {"source", Name(p.source())},
                          {"form_id", OrDash(p.form_id())},
                          {"document_version", OrDash(p.document_version())},
                          {"occurred", FormatTime(p.has_occurred_at(), p.occurred_at())},
                          {"ip", OrDash(p.ip())},
                          {"user_agent", OrDash(p.user_agent())},
                          {"actor", OrDash(c.actor())},
                          {"recorded", FormatTime(c.has_record_time(), c.record_time())},
                      });
}

void PrintPreferences(std::ostream& out,
                      const google::protobuf::RepeatedPtrField<v1::Preference>& prefs) {
  Table t;
  t.AddRow({"TOPIC", "CHANNEL", "SUBSCRIBED", "CONSENT", "UPDATED"});
  for (const auto& p : prefs) {
    t.AddRow({p.topic(), Name(p.channel()), YesNo(p.subscribed()), YesNo(p.channel_consent()),
              FormatTime(p.has_update_time(), p.update_time())});
  }
  t.Print(out);
}

void PrintOptOut(std::ostream& out, const v1::OptOutResponse& r) {
  PrintKeyValues(out, {
                          {"changed", r.changed() ? "yes" : "no (already opted out)"},
                          {"in_flight_messages", std::to_string(r.in_flight_messages())},
                      });
}

std::string FormatDecision(const v1::Decision& d) {
  std::string out = d.allowed() ? "ALLOW" : "DENY " + Name(d.reason());
  if (!d.address().empty()) out += " (" + d.address() + ")";
  // Quiet hours: allowed, but a message waits until then.
  if (d.has_not_before()) out += " not before " + FormatTime(true, d.not_before());
  if (d.decided_by() == v1::OTHER_SUBJECT) out += " [subject " + d.deciding_subject_id() + "]";
  if (!d.explanation().empty()) out += ": " + d.explanation();
  return out;
}

void PrintEvents(std::ostream& out,
                 const google::protobuf::RepeatedPtrField<v1::SubjectEvent>& events) {
  Table t;
  for (const auto& e : events) {
    t.AddRow({std::to_string(e.id()), FormatTime(e.has_occurred_at(), e.occurred_at()), e.type(),
              OrDash(e.actor()), Name(e.source()), OrDash(e.details_json())});
  }
  t.Print(out);
}

void PrintTopics(std::ostream& out, const google::protobuf::RepeatedPtrField<v1::Topic>& topics) {
  Table t;
  for (const auto& topic : topics) {
    t.AddRow({topic.name(), topic.marketing() ? "marketing" : "service", topic.description()});
  }
  t.Print(out);
}

void PrintNextPage(std::ostream& out, const std::string& token) {
  if (!token.empty()) out << "next page: " << token << '\n';
}

std::string FormatSendResult(const v1::SendResponse& r) {
  std::string out = Name(r.status());
  if (r.deny_reason() != 0) out += " " + Name(r.deny_reason());
  return out + " " + r.message_id();
}

void PrintPreview(std::ostream& out, const v1::PreviewMessageResponse& r) {
  out << FormatDecision(r.decision()) << '\n';
  const v1::Content& c = r.rendered();
  if (!c.subject().empty()) out << "subject: " << c.subject() << '\n';
  PrintBody(out, "text", c.text());
  if (!c.html().empty()) PrintBody(out, "html", c.html());
  if (!r.sms_encoding().empty()) {
    out << "encoding: " << r.sms_encoding() << ", segments: " << r.sms_segments() << '\n';
  }
}

void PrintMessage(std::ostream& out, const v1::Message& m) {
  std::vector<std::pair<std::string, std::string>> kv = {
      {"id", m.id()},
      {"campaign", OrDash(m.campaign_id())},
      {"subject_id", OrDash(m.subject_id())},
      {"address", OrDash(m.address())},
      {"channel", Name(m.channel())},
      {"topic", m.topic()},
      {"status", Name(m.status())},
      {"deny_reason", ReasonOrDash(m.deny_reason())},
      {"provider", OrDash(m.provider())},
      {"attempts", std::to_string(m.attempts())},
      {"created", FormatTime(m.has_create_time(), m.create_time())},
      {"updated", FormatTime(m.has_update_time(), m.update_time())},
  };
  if (!m.sms_encoding().empty()) {
    kv.emplace_back("sms_encoding", m.sms_encoding());
    kv.emplace_back("sms_segments", std::to_string(m.sms_segments()));
  }
  PrintKeyValues(out, kv);

  if (m.history().empty()) {
    out << "history: none\n";
  } else {
    out << "history:\n";
    Table t;
    t.AddRow({"  TIME", "STATUS", "REASON", "NOTE"});
    for (const auto& h : m.history()) {
      t.AddRow({"  " + FormatTime(h.has_time(), h.time()), Name(h.status()),
                ReasonOrDash(h.deny_reason()), OneLine(h.note())});
    }
    t.Print(out);
  }

  if (m.attempt_log().empty()) {
    out << "attempts: none\n";
  } else {
    out << "attempts:\n";
    Table t;
    t.AddRow({"  NUMBER", "PROVIDER", "START", "OUTCOME", "CODE", "ENHANCED_STATUS",
              "PROVIDER_CODE", "PROVIDER_MESSAGE_ID", "DETAIL"});
    for (const auto& a : m.attempt_log()) {
      t.AddRow({"  " + std::to_string(a.number()), OrDash(a.provider()),
                FormatTime(a.has_start_time(), a.start_time()), OrDash(a.outcome()),
                a.code() == 0 ? "-" : std::to_string(a.code()), OrDash(a.enhanced_status()),
                OrDash(a.provider_code()), OrDash(a.provider_message_id()), OneLine(a.detail())});
    }
    t.Print(out);
  }
}

void PrintMessageList(std::ostream& out,
                      const google::protobuf::RepeatedPtrField<v1::Message>& messages) {
  Table t;
  for (const auto& m : messages) {
    t.AddRow({m.id(), Name(m.status()), ReasonOrDash(m.deny_reason()), Name(m.channel()), m.topic(),
              FormatTime(m.has_update_time(), m.update_time())});
  }
  t.Print(out);
}

const char* StatusCodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {
      "OK",
      "CANCELLED",
      "UNKNOWN",
      "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED",
      "NOT_FOUND",
      "ALREADY_EXISTS",
      "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION",
      "ABORTED",
      "OUT_OF_RANGE",
      "UNIMPLEMENTED",
      "INTERNAL",
      "UNAVAILABLE",
      "DATA_LOSS",
      "UNAUTHENTICATED",
  };
  size_t i = static_cast<size_t>(code);
  return i < std::size(kNames) ? kNames[i] : "UNKNOWN";
}

}  // namespace herald::ctl
