// `heraldctl privacy ...`: the operator's side of herald.v1.PrivacyService.
#pragma once

#include <google/protobuf/repeated_ptr_field.h>

#include <string>
#include <string_view>

#include "herald/v1/privacy.pb.h"
#include "services/heraldctl/command.h"

namespace herald::ctl {

// One CSV field (RFC 4180): quoted, with quotes doubled, when it holds a comma, a quote, a
// line break or surrounding space; as it is otherwise.
std::string CsvField(std::string_view value);

// The privacy officer's register of requests (`heraldctl privacy due --csv`): a header row,
// then one CRLF-terminated row per request with its kind, subject, source, received and due
// times, status, overdue flag, confirmation and legal basis.
std::string PrivacyRequestsCsv(
    const google::protobuf::RepeatedPtrField<v1::PrivacyRequest>& requests);

// The `privacy` group: tracked requests (privacy_commands.cc) and erasure
// (privacy_erasure_commands.cc). Every call needs an API key with the privacy scope.
Command PrivacyCommand();

}  // namespace herald::ctl
