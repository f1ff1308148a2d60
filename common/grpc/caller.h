#pragma once

#include <string>

namespace herald {

// Who is calling, as the domain sees it: the client id is the actor recorded on events.
struct Caller {
  std::string client_id;
  std::string request_id;
  // The caller holds the privacy (or admin) scope: it may still read a blocked subject
  // (152-FZ art. 21; the subject's own right of access, STANDARDS L2).
  bool privacy_scope = false;
  // The caller holds a scope that may read subjects' personal data (rpc_access.h).
  bool reads_subjects = false;
};

}  // namespace herald
