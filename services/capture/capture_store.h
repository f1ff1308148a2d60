#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/db/connection.h"

// capture_requests (V022): the only code that writes it. A request is pending (it holds the
// address and the person's personal values), confirmed (its link was POSTed; its consents are
// being recorded), recorded (its subject and events exist) or applied (its consents are
// recorded on subject_id; its personal values cleared). An
// expired pending request is deleted.
namespace herald::capture::store {

struct NewRequest {
  std::string id;  // a UUID chosen by the caller
  std::string form_id;
  int channel = 1;
  std::string language;
  std::vector<std::string> topics, offered;
  std::string processing_document;
  std::optional<std::string> marketing_document;
  std::string address, match_key;
  nlohmann::json personal;               // names, submission IP and user agent
  std::optional<std::string> code_hash;  // an SMS request's code (CodeHash)
  // A held API consent: the RecordConsent request (JSON) and its subject.
  std::optional<std::string> replay, subject_id;
  Timestamp submitted_at, expires_at;
};

// Inserts a pending request; returns its id.
std::string Insert(db::Connection& conn, pqxx::transaction_base& txn, const NewRequest& r);

// Pending requests for this address submitted after `since`.
int64_t CountRecent(db::Connection& conn, pqxx::transaction_base& txn, int channel,
                    const std::string& match_key, Timestamp since);

struct Request {
  std::string id, form_id, status, language;
  int channel = 1;
  std::vector<std::string> topics, offered;
  std::string processing_document;
  std::optional<std::string> marketing_document;
  std::string address;      // empty once applied
  nlohmann::json personal;  // null once applied
  std::string message_id;   // the confirmation; may be empty
  std::string subject_id;   // once applied
  std::string code_hash;    // an SMS request's; empty for e-mail
  int code_tries = 0;       // wrong codes so far
  std::string replay;       // a held API consent's RecordConsent request (JSON); empty if none
  Timestamp submitted_at, expires_at;
  std::optional<Timestamp> confirmed_at;
};

// The request, or nullopt. Taken FOR UPDATE: a confirmation and the job's steps each hold it
// while they decide (a reader's lock ends with its short transaction).
std::optional<Request> Load(db::Connection& conn, pqxx::transaction_base& txn,
                            const std::string& id);

void SetMessage(db::Connection& conn, pqxx::transaction_base& txn, const std::string& id,
                const std::string& message_id);

// A wrong code for a pending request: counts it, and at `max_tries` ends the request's
// validity now (the job then deletes it). Returns the wrong tries so far.
int RecordWrongCode(db::Connection& conn, pqxx::transaction_base& txn, const std::string& id,
                    int max_tries, Timestamp now);

// pending -> confirmed, adding the confirming browser's IP and user agent to the personal
// values. False when the request is not pending.
bool MarkConfirmed(db::Connection& conn, pqxx::transaction_base& txn, const std::string& id,
                   const nlohmann::json& confirmer, Timestamp now);

// confirmed -> recorded: the subject is known and the request's events are in the trail.
void MarkRecorded(db::Connection& conn, pqxx::transaction_base& txn, const std::string& id,
                  const std::string& subject_id);
// recorded -> applied: the consents are recorded; clears the address and personal values.
void MarkApplied(db::Connection& conn, pqxx::transaction_base& txn, const std::string& id);

// Up to `limit` pending requests whose validity ended before `now`.
std::vector<std::string> Expired(db::Connection& conn, pqxx::transaction_base& txn, Timestamp now,
                                 int64_t limit);
// Up to `limit` confirmed or recorded requests (a crash between confirming and applying).
std::vector<std::string> Confirmed(db::Connection& conn, pqxx::transaction_base& txn,
                                   int64_t limit);
// Deletes these pending requests (expired), with their personal values.
int64_t DeletePending(db::Connection& conn, pqxx::transaction_base& txn,
                      const std::vector<std::string>& ids);

}  // namespace herald::capture::store
