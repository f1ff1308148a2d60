#pragma once

#include <string>

namespace herald {

// Who is calling, as the domain sees it: the client id is the actor recorded on events.
struct Caller {
  std::string client_id;
  std::string request_id;
};

}  // namespace herald
