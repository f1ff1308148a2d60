#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tests/support/loopback_server.h"

namespace herald::testing {

// One request the Creatio stand-in received. The items of a $batch are recorded too, each
// after the $batch that carried it, with `in_batch` set.
struct CreatioRequest {
  std::string method;  // GET, POST, PATCH, ...
  std::string path;    // without the query, e.g. /0/odata/Contact(<id>), /0/odata/$batch
  std::string query;   // the raw query string, percent-decoded
  std::string body;
  std::map<std::string, std::string> headers;  // names lower-cased
  int status = 0;                              // what the stand-in answered (0: stalled)
  bool in_batch = false;
};

// A contact as the stand-in holds it.
struct CreatioContact {
  std::string id;  // GUID, lower case
  std::string name;
  std::string email;
  std::string mobile_phone;
  // A custom column an operator may add (crm.fields.time_zone): an IANA zone name.
  std::string time_zone;
  bool do_not_use_email = false;
  bool do_not_use_sms = false;
  bool do_not_use_call = false;
};

// A BulkEmailSubscription row.
struct CreatioSubscription {
  std::string id;  // GUID, lower case
  std::string contact_id;
  std::string type_id;
  std::string status_id;
};

// One change the stand-in applied to a contact or a subscription row (a PATCH or POST that
// answered 2xx, alone or as a $batch item), in the order applied.
struct CreatioWrite {
  std::string entity;  // "Contact" or "BulkEmailSubscription"
  std::string id;      // the row written (for a POST: the new row's id)
  std::string body;    // the JSON body as received
};

// An in-process HTTP server on 127.0.0.1 that behaves like Creatio 8 (.NET Framework
// layout, OData base /0/odata) as far as Herald's connector uses it; every fact it imitates
// is in ../shared/CREATIO.md:
//   POST /ServiceModel/AuthService.svc/Login   cookie login; HTTP 200 with Code 0 and the
//        cookies .ASPXAUTH, BPMCSRF, BPMLOADER, UserName; HTTP 200 with Code 1 on bad
//        credentials (no cookies).
//   POST /connect/token                        OAuth 2.0 client credentials (form body).
//   GET  /0/odata/$metadata                    CSDL XML naming the entities and fields.
//   GET  /0/odata/Contact?$select&$filter&$orderby&$top&$skip&$count   paged reads
//        ({"value":[...]}, and an absolute "@odata.nextLink" carrying the next $skip when
//        more rows follow and $top was given). $filter: comparisons (eq ne gt ge lt le) of a
//        property with an unquoted GUID, a 'string' or true/false, joined by and / or, in
//        parentheses; anything else (functions, not, unknown properties, other $ options)
//        answers 400, so a client's mistake does not pass unnoticed.
//   GET  /0/odata/Contact(<id>)                one contact, 404 when unknown.
//   PATCH /0/odata/Contact(<id>)               204; 404 unknown contact; 400 unknown field.
//   GET  /0/odata/BulkEmailSubscription?$filter=Contact/Id eq <id> and BulkEmailType/Id eq <id>
//        (also: BulkEmailSubsStatus/Id eq <id>, alone or and-ed; $top/$skip paging).
//   POST /0/odata/BulkEmailSubscription        201 with the new row (ContactId,
//        BulkEmailTypeId, BulkEmailSubsStatusId in the body; 400 for an unknown contact).
//   PATCH /0/odata/BulkEmailSubscription(<id>) 204.
//   POST /0/odata/$batch                       {"requests":[...]} -> {"responses":[...]};
//        400 above 100 requests; without `Prefer: continue-on-error` the items after the
//        first failing one are not executed (and get no response). An item's url is
//        relative to the OData base, or absolute, or starts with /0/odata/.
// Errors carry OData's body {"error":{"code":"","message":"..."}}.
// Every OData request needs a session: the .ASPXAUTH cookie of a live session (401
// otherwise) and a BPMCSRF header equal to the session's BPMCSRF cookie (403 otherwise), or
// an `Authorization: Bearer` token from /connect/token that has not expired (401 otherwise).
class CreatioStandIn {
 public:
  // Accepts user "Supervisor" with password "Supervisor!1" and OAuth client "herald" with
  // secret "herald-secret" until told otherwise.
  CreatioStandIn();
  ~CreatioStandIn();
  CreatioStandIn(const CreatioStandIn&) = delete;
  CreatioStandIn& operator=(const CreatioStandIn&) = delete;

  std::string base_url() const;   // http://127.0.0.1:<port>
  std::string odata_url() const;  // base_url() + "/0/odata"

  // The data.
  void PutContact(const CreatioContact& contact);
  std::optional<CreatioContact> contact(const std::string& id) const;
  std::vector<CreatioContact> contacts() const;
  void PutSubscription(const CreatioSubscription& row);
  std::vector<CreatioSubscription> subscriptions() const;
  // Every applied write, and those of one contact (its Contact PATCHes and the writes to
  // its BulkEmailSubscription rows).
  std::vector<CreatioWrite> writes() const;
  std::vector<CreatioWrite> writes_for(const std::string& contact_id) const;

  // Credentials.
  void SetUser(const std::string& user, const std::string& password);
  void SetClient(const std::string& client_id, const std::string& secret);
  // Lifetime of tokens from /connect/token (expires_in), 3600 s by default.
  void SetTokenLifetime(std::chrono::seconds lifetime);

  // Knobs.
  enum class Expiry { kUnauthorized, kRedirectToLogin };
  // Every session and token issued so far stops working: the next OData request using one
  // gets 401, or a 302 to /Login/NuiLogin.aspx?ReturnUrl=... . A cookie or token never
  // issued always gets 401.
  void ExpireSessions(Expiry how = Expiry::kUnauthorized);
  // The next `count` OData requests (not login or token) are answered `status` without
  // being executed; a 429 or 503 carries `Retry-After: <retry_after_s>` when it is >= 0.
  // The knobs act in this order, before the session check: Stall, SetDelay, FailNext. A
  // $batch is one request to them; FailContact acts on each of its items.
  void FailNext(int count, int status, int retry_after_s = -1);
  // Every OData answer is delayed this long.
  void SetDelay(std::chrono::milliseconds delay);
  // While stalled, OData requests are held without an answer and not executed; Unstall()
  // (or the destructor) releases them by closing their connections: the client sees the
  // connection end before any byte of an answer, and the record keeps status 0.
  void Stall();
  void Unstall();
  // OData requests held by Stall() right now (a test waits for its request to arrive).
  int stalled_requests() const;
  // Writes to this contact (PATCH Contact(<id>), alone or in a $batch) answer `status`
  // (e.g. 404 or 400) without being applied.
  void FailContact(const std::string& contact_id, int status);
  // The field disappears from $metadata and a PATCH naming it answers 400 (a fork that
  // renamed it).
  void RemoveContactField(const std::string& field);
  // The field is back (the fork's change was undone).
  void RestoreContactField(const std::string& field);

  // The record.
  std::vector<CreatioRequest> requests() const;
  int logins() const;         // successful cookie logins
  int failed_logins() const;  // Code 1 answers
  int token_grants() const;   // successful /connect/token answers
  int batches() const;        // $batch requests whose items ran (not failed by a knob or a 400)
  int single_writes() const;  // PATCH or POST outside a $batch that were executed
  void ClearRecord();         // forgets requests and counters, keeps data (writes too) and knobs

 private:
  struct State;
  std::unique_ptr<State> state_;
  LoopbackServer server_;
};

}  // namespace herald::testing
