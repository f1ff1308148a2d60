#pragma once

#include <string>

namespace herald::privacy {

// Carries out the destruction a revocation scheduled (implemented by SubjectErasure). The
// privacy job calls it when the revocation falls due, holding no lock of its own: the
// destruction is one transaction that takes the subject's gate row first and then the request,
// the order every privacy operation takes them in. A job that held the request while the
// destruction waited for the gate row on another connection would deadlock with an operator's
// erasure of the same subject, and PostgreSQL would not see the cycle.
class SubjectDestroyer {
 public:
  virtual ~SubjectDestroyer() = default;
  // The request must still be open, a REVOKE and about `subject_id`; the subject must still be
  // active with its consent revoked. Else FAILED_PRECONDITION (NOT_FOUND for an unknown
  // subject or request) and nothing changes. Destroys the subject, writes the destruction
  // record and closes the request as done (CloseAsDestroyed) in that transaction; returns the
  // record's id.
  virtual std::string DestroyScheduled(const std::string& request_id, const std::string& subject_id,
                                       const std::string& reason,
                                       const std::string& performed_by) = 0;
};

}  // namespace herald::privacy
