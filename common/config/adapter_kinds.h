#pragma once

#include <map>
#include <string>
#include <vector>

namespace herald {

struct ProviderConfig;

// Which adapter a provider entry builds; the provider registry switches on it, so a kind
// added here without a factory there is a compile-time warning, not a start-up surprise.
enum class AdapterKindId { kSmtp, kTwilio, kJsonSms };
enum class AdapterChannel { kEmail, kSms };
// How an SMS provider signs the replies and receipts it posts to /hooks/sms/{name}/.
enum class SmsHookDialect { kNone, kTwilio, kJson };

// One setting of an adapter kind, typed and bounded where it lives.
struct AdapterSetting {
  enum class Type { kText, kInt, kBool, kChoice };
  const char* key;
  Type type;
  const char* default_value;  // as written in the file; "" for text settings without one
  int min = 0, max = 0;       // kInt
  std::vector<std::string> choices = {};  // kChoice
};

// The registration of an adapter kind: its `kind:` name, channel, hook dialect, what its
// secret (HERALD_PROVIDER_<NAME>_SECRET) carries, and its settings. Config checks provider
// entries against it, the provider registry builds from it, the SMS hook wiring reads the
// dialect from it, and --help lists it.
struct AdapterKind {
  const char* name;
  AdapterKindId id;
  AdapterChannel channel;
  SmsHookDialect hook_dialect;
  const char* secret;
  std::vector<AdapterSetting> settings;
};

const std::vector<AdapterKind>& AdapterKinds();
// nullptr when no kind has that name.
const AdapterKind* FindAdapterKind(const std::string& name);

// A provider's settings checked against its kind's registration: no unknown key, every
// value of its type and within its bounds, defaults filled in.
class AdapterSettings {
 public:
  // Throws ConfigError naming `where`.settings.<key> (or `where`.kind).
  static AdapterSettings Check(const ProviderConfig& provider, const std::string& where);

  const AdapterKind& kind() const { return *kind_; }
  const std::string& Text(const std::string& key) const;
  int Int(const std::string& key) const;
  bool Bool(const std::string& key) const;

 private:
  const AdapterKind* kind_ = nullptr;
  std::map<std::string, std::string> text_;
  std::map<std::string, int> ints_;
};

// The kinds and their settings, for --help.
std::string DescribeAdapterKinds();

}  // namespace herald
