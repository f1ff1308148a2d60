#pragma once

#include <memory>
#include <string>

#include "common/clock.h"
#include "common/db/pool.h"
#include "common/grpc/caller.h"
#include "herald/v1/crm.pb.h"
#include "services/crm/card_flags.h"
#include "services/crm/creatio_client.h"
#include "services/subscriptions/registry.h"

namespace herald::crm {

// What CrmService does, apart from the import (contact_import.h): Creatio's reports of card
// changes, and the operators' view of the write-back queue. A plain class, like the
// registry: the gRPC transport is grpc_service.h.
class CrmConnector {
 public:
  CrmConnector(db::Pool& pool, const Clock& clock, subscriptions::SubscriptionRegistry& registry,
               const CardDeriver& deriver, CreatioClient* client, bool enabled);

  // A card changed in Creatio. Newly forbidden channels become opt-outs in Herald (source
  // CRM); a card that allows what Herald forbids is not consent (it carries no proof): it is
  // written back and the attempt recorded as an event; a card that agrees with Herald
  // enqueues nothing, so Herald's own write-backs never echo.
  v1::ReportContactChangeResponse ReportContactChange(const Caller& caller,
                                                      const v1::ReportContactChangeRequest& r);
  v1::WriteBackStatus GetWriteBackStatus(const Caller& caller,
                                         const v1::GetWriteBackStatusRequest& r);
  v1::RetryWriteBacksResponse RetryWriteBacks(const Caller& caller,
                                              const v1::RetryWriteBacksRequest& r);
  v1::ResyncContactsResponse ResyncContacts(const Caller& caller,
                                            const v1::ResyncContactsRequest& r);
  v1::CheckCrmResponse CheckCrm(const Caller& caller, const v1::CheckCrmRequest& r);

 private:
  db::Pool& pool_;
  const Clock& clock_;
  subscriptions::SubscriptionRegistry& registry_;
  const CardDeriver& deriver_;
  CreatioClient* client_;  // null when crm.enabled is off
  bool enabled_;
};

}  // namespace herald::crm
