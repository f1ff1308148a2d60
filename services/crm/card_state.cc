#include "services/crm/card_state.h"

#include <nlohmann/json.hpp>
#include <set>

#include "common/db/sql_array.h"
#include "common/db/statement.h"

namespace herald::crm {
namespace {

constexpr db::Statement kLoad{"crm_contacts.load", R"sql(
  SELECT subject_id, contact_id, do_not_use_email, do_not_use_sms, do_not_use_call,
         subscriptions::text
  FROM crm_contacts
  WHERE subject_id = ANY($1::uuid[])
)sql"};
// Known values replace, unknown (NULL) ones keep; subscriptions merge per type. One row per
// subject in a statement (ON CONFLICT may touch a row only once).
constexpr db::Statement kRemember{"crm_contacts.remember", R"sql(
  INSERT INTO crm_contacts (subject_id, contact_id, do_not_use_email, do_not_use_sms,
                            do_not_use_call, subscriptions, updated_at)
  SELECT c.subject_id, c.contact_id, c.email, c.sms, c.call, c.subscriptions, $7
  FROM unnest($1::uuid[], $2::uuid[], $3::boolean[], $4::boolean[], $5::boolean[], $6::jsonb[])
    AS c(subject_id, contact_id, email, sms, call, subscriptions)
  ON CONFLICT (subject_id) DO UPDATE SET
    contact_id = EXCLUDED.contact_id,
    do_not_use_email = COALESCE(EXCLUDED.do_not_use_email, crm_contacts.do_not_use_email),
    do_not_use_sms = COALESCE(EXCLUDED.do_not_use_sms, crm_contacts.do_not_use_sms),
    do_not_use_call = COALESCE(EXCLUDED.do_not_use_call, crm_contacts.do_not_use_call),
    subscriptions = (
      SELECT COALESCE(jsonb_object_agg(k, COALESCE(crm_contacts.subscriptions -> k, '{}'::jsonb)
                                          || jsonb_strip_nulls(EXCLUDED.subscriptions -> k)),
                      '{}'::jsonb)
      FROM jsonb_object_keys(EXCLUDED.subscriptions) AS k
    ) || (crm_contacts.subscriptions - ARRAY(SELECT jsonb_object_keys(EXCLUDED.subscriptions))),
    updated_at = EXCLUDED.updated_at
)sql"};
constexpr db::Statement kForget{"crm_contacts.forget", R"sql(
  UPDATE crm_contacts
  SET do_not_use_email = NULL, do_not_use_sms = NULL, do_not_use_call = NULL,
      subscriptions = (SELECT COALESCE(jsonb_object_agg(k, jsonb_build_object('row', v -> 'row')),
                                       '{}'::jsonb)
                       FROM jsonb_each(subscriptions) AS e(k, v))
  WHERE subject_id = ANY($1::uuid[])
)sql"};
constexpr db::Statement kForgetRange{"crm_contacts.forget_range", R"sql(
  UPDATE crm_contacts
  SET do_not_use_email = NULL, do_not_use_sms = NULL, do_not_use_call = NULL,
      subscriptions = (SELECT COALESCE(jsonb_object_agg(k, jsonb_build_object('row', v -> 'row')),
                                       '{}'::jsonb)
                       FROM jsonb_each(subscriptions) AS e(k, v))
  WHERE subject_id > $1::uuid AND subject_id <= $2::uuid
)sql"};
constexpr db::Statement kDelete{"crm_contacts.delete", R"sql(
  DELETE FROM crm_contacts WHERE subject_id = $1::uuid
)sql"};

std::optional<bool> OptionalBool(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<bool>();
}

}  // namespace

std::map<std::string, KnownCard> LoadKnownCards(db::Connection& conn, pqxx::transaction_base& txn,
                                                const std::vector<std::string>& subject_ids) {
  std::map<std::string, KnownCard> cards;
  if (subject_ids.empty()) return cards;
  for (const auto& r : conn.Exec(txn, kLoad, db::ToArrayLiteral(subject_ids))) {
    KnownCard& card = cards[r[0].as<std::string>()];
    card.contact_id = r[1].as<std::string>();
    card.flags.do_not_use_email = OptionalBool(r[2]);
    card.flags.do_not_use_sms = OptionalBool(r[3]);
    card.flags.do_not_use_call = OptionalBool(r[4]);
    // Named: items() only refers to the document, which must outlive the loop.
    const nlohmann::json subscriptions = nlohmann::json::parse(r[5].as<std::string>());
    for (const auto& [type, v] : subscriptions.items()) {
      if (v.contains("unsubscribed") && v["unsubscribed"].is_boolean()) {
        card.flags.unsubscribed[type] = v["unsubscribed"].get<bool>();
      }
      if (v.contains("row") && v["row"].is_string()) {
        card.subscription_rows[type] = v["row"].get<std::string>();
      }
    }
  }
  return cards;
}

void RememberCard(db::Connection& conn, pqxx::transaction_base& txn, const std::string& subject_id,
                  const std::string& contact_id, const CardFlags& flags,
                  const std::map<std::string, std::string>& subscription_rows, Timestamp now) {
  RememberCards(conn, txn, {{subject_id, contact_id, flags, subscription_rows}}, now);
}

void RememberCards(db::Connection& conn, pqxx::transaction_base& txn,
                   const std::vector<CardUpdate>& cards, Timestamp now) {
  auto opt = [](const std::optional<bool>& b) -> std::optional<std::string> {
    if (!b) return std::nullopt;
    return std::string(*b ? "true" : "false");
  };
  size_t at = 0;
  while (at < cards.size()) {
    // A statement ends before a subject it already carries.
    std::set<std::string> seen;
    std::vector<std::string> subjects, contacts, subscriptions;
    std::vector<std::optional<std::string>> email, sms, call;
    for (; at < cards.size() && seen.insert(cards[at].subject_id).second; ++at) {
      const CardUpdate& c = cards[at];
      nlohmann::json subs = nlohmann::json::object();
      for (const auto& [type, unsubscribed] : c.flags.unsubscribed) {
        subs[type]["unsubscribed"] = unsubscribed;
      }
      for (const auto& [type, row] : c.subscription_rows) subs[type]["row"] = row;
      subjects.push_back(c.subject_id);
      contacts.push_back(c.contact_id);
      email.push_back(opt(c.flags.do_not_use_email));
      sms.push_back(opt(c.flags.do_not_use_sms));
      call.push_back(opt(c.flags.do_not_use_call));
      subscriptions.push_back(subs.dump());
    }
    conn.Exec(txn, kRemember, db::ToArrayLiteral(subjects), db::ToArrayLiteral(contacts),
              db::ToArrayLiteral(email), db::ToArrayLiteral(sms), db::ToArrayLiteral(call),
              db::ToArrayLiteral(subscriptions), ToIso8601(now));
  }
}

void ForgetCards(db::Connection& conn, pqxx::transaction_base& txn,
                 const std::vector<std::string>& subject_ids) {
  if (subject_ids.empty()) return;
  conn.Exec(txn, kForget, db::ToArrayLiteral(subject_ids));
}

void ForgetCardsAfter(db::Connection& conn, pqxx::transaction_base& txn, const std::string& after,
                      const std::string& last) {
  conn.Exec(txn, kForgetRange,
            after.empty() ? std::string("00000000-0000-0000-0000-000000000000") : after, last);
}

void DeleteCard(db::Connection& conn, pqxx::transaction_base& txn, const std::string& subject_id) {
  conn.Exec(txn, kDelete, subject_id);
}

}  // namespace herald::crm
