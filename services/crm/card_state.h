#pragma once

#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/db/connection.h"

namespace herald::crm {

// What a Creatio contact card shows, as far as Herald writes it: the three "do not use"
// flags and, per mapped BulkEmailType, whether the contact's subscription is Unsubscribed.
struct CardFlags {
  std::optional<bool> do_not_use_email, do_not_use_sms, do_not_use_call;  // nullopt: unknown
  // BulkEmailType id -> unsubscribed. A type absent here: no row known (Creatio's bulk mail
  // treats that like subscribed).
  std::map<std::string, bool> unsubscribed;
};

// A card as Herald believes Creatio holds it (crm_contacts), plus the ids of its
// BulkEmailSubscription rows found so far.
struct KnownCard {
  std::string contact_id;
  CardFlags flags;
  std::map<std::string, std::string> subscription_rows;  // type id -> row id
};

// crm_contacts: the only code that writes it.

// Loads the known cards of these subjects (absent: nothing known).
std::map<std::string, KnownCard> LoadKnownCards(db::Connection& conn, pqxx::transaction_base& txn,
                                                const std::vector<std::string>& subject_ids);

// Records what Creatio holds for the subject's card (read at the import, reported by
// Creatio, or just written): known values replace, nullopt values are kept; subscription
// rows merge in.
void RememberCard(db::Connection& conn, pqxx::transaction_base& txn, const std::string& subject_id,
                  const std::string& contact_id, const CardFlags& flags,
                  const std::map<std::string, std::string>& subscription_rows, Timestamp now);

// The same for many cards, in as many statements as a subject repeats (usually one), each
// applied in the order given.
struct CardUpdate {
  std::string subject_id;
  std::string contact_id;
  CardFlags flags;
  std::map<std::string, std::string> subscription_rows;
};
void RememberCards(db::Connection& conn, pqxx::transaction_base& txn,
                   const std::vector<CardUpdate>& cards, Timestamp now);

// Forgets what is known (a resync writes everything again).
void ForgetCards(db::Connection& conn, pqxx::transaction_base& txn,
                 const std::vector<std::string>& subject_ids);

// The same for the subjects with ids in (after, last]: a page of a resync of everything.
void ForgetCardsAfter(db::Connection& conn, pqxx::transaction_base& txn, const std::string& after,
                      const std::string& last);

// Deletes the subject's row (a destroyed subject, after its final write).
void DeleteCard(db::Connection& conn, pqxx::transaction_base& txn, const std::string& subject_id);

}  // namespace herald::crm
