#include "services/privacy/crm_card_destruction.h"

#include "common/db/statement.h"
#include "services/privacy/deadlines.h"
#include "services/privacy/request_store.h"

namespace herald::privacy {
namespace {

// The contact, when the subject is linked and no such request is open yet.
constexpr db::Statement kContactToDestroy{"crm_card_destruction.contact", R"sql(
  SELECT lower(s.external_id)
  FROM subjects s
  WHERE s.id = $1::uuid
    AND s.external_id ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
    AND NOT EXISTS (SELECT 1 FROM privacy_requests p
                    WHERE p.subject_id = s.id AND p.kind = $2 AND p.status = 'open')
)sql"};

}  // namespace

void OpenCrmCardDestruction(db::Connection& conn, pqxx::transaction_base& txn,
                            const std::string& subject_id, int source, Timestamp due_at,
                            Timestamp now) {
  auto rows = conn.Exec(txn, kContactToDestroy, subject_id, KindName(RequestKind::kCrmDestroy));
  if (rows.empty()) return;
  NewRequest req{RequestKind::kCrmDestroy,
                 subject_id,
                 std::nullopt,
                 source,
                 now,
                 due_at,
                 false,
                 // The contact's id is what the officer needs to find the card; after a
                 // destruction nothing else in Herald names it.
                 {{"crm_contact_id", rows[0][0].as<std::string>()},
                  {"task", "destroy the contact in the CRM, then complete this request"}},
                 "none",
                 std::nullopt};
  InsertRequest(conn, txn, req);
}

}  // namespace herald::privacy
