#pragma once

#include <map>
#include <string>

#include "common/config/section.h"

namespace herald::crm {

// The `crm.*` section: where Creatio is, how Herald logs in, and the names of the entities
// and fields it writes (forks rename them).
struct CreatioSettings {
  bool enabled = false;                 // write-back and import run only when set
  std::string base_url;                 // https://host (no trailing slash)
  std::string odata_path = "/0/odata";  // "/odata" on .NET Core hosts
  std::string auth = "cookie";          // cookie | oauth
  std::string user_name;                // cookie login
  std::string password;                 // secret: environment only (HERALD_CRM_PASSWORD)
  std::string identity_url;             // oauth: base of /connect/token; empty: base_url
  std::string client_id;                // oauth
  std::string client_secret;            // secret: environment only (HERALD_CRM_CLIENT_SECRET)
  int timeout_ms = 10000;               // one HTTP exchange, connecting included
  // After a refused login (bad password, unknown client) no new login is tried for this
  // long: Creatio locks a user out after a few bad passwords.
  int login_refused_hold_ms = 30000;

  // Names.
  std::string contact_entity = "Contact";
  std::string do_not_use_email_field = "DoNotUseEmail";
  std::string do_not_use_sms_field = "DoNotUseSms";
  std::string do_not_use_call_field = "DoNotUseCall";
  std::string email_field = "Email";
  std::string mobile_phone_field = "MobilePhone";
  std::string name_field = "Name";
  // A contact column holding an IANA time zone (a custom one: Creatio's own TimeZone lookup
  // names Windows zones); empty: the import leaves subjects' zones alone.
  std::string time_zone_field;
  std::string subscription_entity = "BulkEmailSubscription";
  std::string subscribed_status_id = "1a5cd9b8-b999-4b65-b8a8-bd3168792128";
  std::string unsubscribed_status_id = "c8947f80-a374-412a-bbc8-ea9068a8b78e";
  // topic id -> BulkEmailType GUID, from "topic=guid, topic=guid".
  std::map<std::string, std::string> topic_types;

  // Delivery.
  int batch_size = 100;           // items per $batch, at most 100
  int workers = 2;                // concurrent $batch senders
  int backoff_initial_ms = 1000;  // first retry delay after 429/5xx/timeout
  int backoff_max_ms = 300000;    // cap of the doubling delay (jittered)
  int purge_after_days = 30;      // parked and dead rows are deleted after this many days
  int import_page_size = 500;     // contacts per page of the first import
};

const config::Section<CreatioSettings>& CreatioSection();

}  // namespace herald::crm
