// Human-readable output of SubscriptionService and DispatchService responses.
#pragma once

#include <google/protobuf/timestamp.pb.h>
#include <grpcpp/support/status.h>

#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "herald/v1/dispatch.pb.h"
#include "herald/v1/subscriptions.pb.h"

namespace herald::ctl {

// "NOT_FOUND", "PERMISSION_DENIED", ...: the name of a gRPC status code.
const char* StatusCodeName(grpc::StatusCode code);

// Columns separated by two spaces, each padded to its widest cell (the last one is not).
class Table {
 public:
  void AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  void Print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// RFC 3339, or "-" when unset.
std::string FormatTime(bool has, const google::protobuf::Timestamp& t);

void PrintKeyValues(std::ostream& out, const std::vector<std::pair<std::string, std::string>>& kv);

void PrintSubject(std::ostream& out, const v1::Subject& s, const std::string& outcome = "");
void PrintSubjectList(std::ostream& out, const google::protobuf::RepeatedPtrField<v1::Subject>& s);
void PrintConsent(std::ostream& out, const v1::Consent& c);
void PrintPreferences(std::ostream& out,
                      const google::protobuf::RepeatedPtrField<v1::Preference>& prefs);
void PrintOptOut(std::ostream& out, const v1::OptOutResponse& r);
// "ALLOW (address)" or "DENY REASON (address)".
std::string FormatDecision(const v1::Decision& d);
void PrintEvents(std::ostream& out,
                 const google::protobuf::RepeatedPtrField<v1::SubjectEvent>& events);
void PrintTopics(std::ostream& out, const google::protobuf::RepeatedPtrField<v1::Topic>& topics);
void PrintNextPage(std::ostream& out, const std::string& token);

// "QUEUED <id>" or "SUPPRESSED REASON <id>".
std::string FormatSendResult(const v1::SendResponse& r);
// The decision line, then the rendered content and, for SMS, its encoding and segments.
void PrintPreview(std::ostream& out, const v1::PreviewMessageResponse& r);
// The message's fields, then its status history and its delivery attempts.
void PrintMessage(std::ostream& out, const v1::Message& m);
void PrintMessageList(std::ostream& out,
                      const google::protobuf::RepeatedPtrField<v1::Message>& messages);

}  // namespace herald::ctl
