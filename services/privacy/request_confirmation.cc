#include "services/privacy/request_confirmation.h"

#include "common/db/statement.h"
#include "common/error.h"
#include "common/log/log.h"
#include "herald/v1/common.pb.h"

namespace herald::privacy {
namespace {

// Only e-mail requests about a subject ever get a link.
constexpr db::Statement kView{"privacy_confirmation.view", R"sql(
  SELECT p.kind, p.status, p.confirmation, coalesce(s.locale, '')
  FROM privacy_requests p
  JOIN subjects s ON s.id = p.subject_id
  WHERE p.id = $1::uuid AND s.state = 'active'
)sql"};
// The address the marker came from (personal side table of the event that opened it).
constexpr db::Statement kMarkerAddress{"privacy_confirmation.marker_address", R"sql(
  SELECT coalesce(e.data->>'address', '')
  FROM privacy_requests p
  JOIN event_personal e ON e.event_id = p.origin_event_id
  WHERE p.id = $1::uuid
)sql"};

}  // namespace

std::optional<std::string> RequestConfirmation::RequestOf(std::string_view token) const {
  auto claims = tokens_.Verify(token);
  if (!claims) return std::nullopt;
  Timestamp now = clock_.Now();
  // A token dated in the future (clock skew between replicas) is not expired.
  if (now - claims->issued_at > lifetime_) return std::nullopt;
  return claims->request_id;
}

std::optional<RequestConfirmation::View> RequestConfirmation::Look(std::string_view token) const {
  auto id = RequestOf(token);
  if (!id) return std::nullopt;
  auto conn = pool_.Acquire();
  pqxx::read_transaction txn(conn->raw());
  auto rows = conn->Exec(txn, kView, *id);
  if (rows.empty()) return std::nullopt;
  auto kind = KindFromName(rows[0][0].as<std::string>());
  if (!kind) return std::nullopt;
  View v;
  v.request_id = *id;
  v.kind = *kind;
  v.open = rows[0][1].as<std::string>() == "open";
  v.pending = v.open && rows[0][2].as<std::string>() == "pending";
  v.locale = rows[0][3].as<std::string>();
  return v;
}

RequestConfirmation::Result RequestConfirmation::Confirm(std::string_view token) {
  auto view = Look(token);
  if (!view) throw NotFound("token: confirmation link");
  Timestamp now = clock_.Now();
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  auto confirmed =
      operations_.ConfirmInTxn(*conn, txn, view->request_id, "link", kActor, v1::LINK, now);
  if (confirmed.changed && view->kind == RequestKind::kRevoke && registry_) {
    auto rows = conn->Exec(txn, kMarkerAddress, view->request_id);
    if (!rows.empty() && !rows[0][0].as<std::string>().empty()) {
      v1::OptOutRequest by_address;
      by_address.set_address(rows[0][0].as<std::string>());
      by_address.set_scope(v1::ALL_MARKETING);
      by_address.set_reason(v1::REVOKED);
      by_address.mutable_proof()->set_source(v1::LINK);
      registry_->OptOutWithin(*conn, txn, Caller{kActor, "confirm-" + view->request_id}, by_address,
                              now);
    }
  }
  txn.commit();
  Result r;
  r.changed = confirmed.changed;
  r.view = *view;
  r.view.pending = false;
  log::Info("privacy request confirmed", {{"request_id", view->request_id},
                                          {"kind", KindName(view->kind)},
                                          {"method", "link"},
                                          {"changed", confirmed.changed}});
  return r;
}

}  // namespace herald::privacy
