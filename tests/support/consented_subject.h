#pragma once

#include <string>
#include <vector>

#include "herald/v1/subscriptions.grpc.pb.h"

namespace herald::testing {

// The proof every test consent carries unless a test needs its own (a web form, policy v1).
v1::Proof WebFormProof();

// Grants `subject_id` consent to processing and marketing consent on each of `marketing`,
// as the CRM client over gRPC. A refused call is a test failure (non-fatal), with its message.
void GrantConsent(v1::SubscriptionService::Stub& subs, const std::string& subject_id,
                  const std::vector<v1::Channel>& marketing = {v1::EMAIL},
                  const v1::Proof& proof = WebFormProof());

// "A consented subject": upserts `subject` (its names, locale and addresses) and grants it
// consent as GrantConsent does; returns its id ("" when the upsert failed, after recording
// the failure).
std::string ConsentedSubject(v1::SubscriptionService::Stub& subs,
                             const v1::UpsertSubjectRequest& subject,
                             const std::vector<v1::Channel>& marketing = {v1::EMAIL},
                             const v1::Proof& proof = WebFormProof());

// The subjects FindSubjects finds at `address`, asked with the admin key. A refused call is
// a test failure (non-fatal).
std::vector<v1::Subject> SubjectsAt(v1::SubscriptionService::Stub& subs,
                                    const std::string& address);

// A text part as the SMTP sender wrote it, quoted-printable (RFC 2045 §6.7), decoded: soft
// line breaks dropped, =XX escapes turned into their bytes.
std::string DecodeQuotedPrintable(const std::string& s);

// An upsert request with a given name and e-mail addresses, for the common case.
v1::UpsertSubjectRequest SubjectWith(const std::string& given_name,
                                     const std::vector<std::string>& emails,
                                     const std::string& locale = "");

}  // namespace herald::testing
