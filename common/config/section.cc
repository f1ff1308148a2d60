#include "common/config/section.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <optional>
#include <sstream>

#include "common/strict_int.h"

extern char** environ;

namespace herald {
namespace {

constexpr char kEnvPrefix[] = "HERALD_";

}  // namespace

std::map<std::string, std::string> ProcessEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string entry(*e);
    auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    std::string name = entry.substr(0, eq);
    if (name.rfind(kEnvPrefix, 0) == 0) env[name] = entry.substr(eq + 1);
  }
  return env;
}

namespace config {

std::string EnvName(const char* key) {
  std::string env = kEnvPrefix;
  for (const char* p = key; *p; ++p) {
    env.push_back(*p == '.' ? '_' : static_cast<char>(toupper(static_cast<unsigned char>(*p))));
  }
  return env;
}

int ParseInt(const std::string& key, const std::string& text, int min, int max) {
  auto v = ParseStrictInt<int>(text);
  if (!v || *v < min || *v > max) {
    throw ConfigError(key + ": expected a whole number from " + std::to_string(min) + " to " +
                      std::to_string(max));
  }
  return *v;
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

std::string JoinList(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

std::string NotEmpty(const std::string& name, const std::string& v) {
  if (v.empty()) throw ConfigError(name + ": must not be empty");
  return v;
}

std::string ListenAddress(const std::string& name, const std::string& v) {
  auto colon = v.rfind(':');
  auto port = colon == std::string::npos || colon == 0
                  ? std::nullopt
                  : ParseStrictInt<int>(std::string_view(v).substr(colon + 1));
  if (!port || *port < 0 || *port > 65535) {
    throw ConfigError(name + ": expected host:port (port 0-65535)");
  }
  return v;
}

std::string HttpUrlOrEmpty(const std::string& name, const std::string& v) {
  if (!v.empty() && v.rfind("https://", 0) != 0 && v.rfind("http://", 0) != 0) {
    throw ConfigError(name + ": expected an http or https URL");
  }
  return v;
}

std::string UpperRegion(const std::string& name, std::string v) {
  if (v.size() != 2 || !isalpha(static_cast<unsigned char>(v[0])) ||
      !isalpha(static_cast<unsigned char>(v[1]))) {
    throw ConfigError(name + ": expected an ISO 3166-1 alpha-2 country code");
  }
  for (auto& c : v) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  return v;
}

void AddChecked(AnySections& all, std::vector<AnyLine> lines, std::vector<AnyBlock> blocks) {
  auto taken = [&](const std::string& name) {
    for (const auto& l : all.lines) {
      if ((l.key && name == l.key) || name == l.env) return true;
    }
    for (const auto& b : all.blocks) {
      if (name == b.key) return true;
    }
    return false;
  };
  for (auto& l : lines) {
    if ((l.key && taken(l.key)) || taken(l.env)) {
      throw std::logic_error("config option " + (l.key ? std::string(l.key) : l.env) +
                             " is declared by two sections");
    }
    all.lines.push_back(std::move(l));
  }
  for (auto& b : blocks) {
    if (taken(b.key)) {
      throw std::logic_error(std::string("config block ") + b.key + " is declared twice");
    }
    all.blocks.push_back(std::move(b));
  }
}

namespace {

std::string ScalarText(const std::string& key, const YAML::Node& node) {
  if (node.IsScalar()) return node.as<std::string>();
  if (node.IsSequence()) {
    std::string joined;
    for (const auto& item : node) {
      if (!item.IsScalar()) throw ConfigError(key + ": expected a list of plain values");
      if (!joined.empty()) joined += ",";
      joined += item.as<std::string>();
    }
    return joined;
  }
  throw ConfigError(key + ": expected a value");
}

// An environment-only option written in the file under its variable's name (lower case,
// without HERALD_): refused naming the variable, and never echoing the value.
const AnyLine* SecretNamed(const AnySections& all, const std::string& key) {
  for (const auto& o : all.lines) {
    if (o.key != nullptr) continue;
    std::string as_key = o.env.substr(std::size(kEnvPrefix) - 1);
    for (auto& ch : as_key) ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
    if (key == as_key) return &o;
  }
  return nullptr;
}

void ApplyFile(const AnySections& all, void* root, const YAML::Node& node,
               const std::string& prefix) {
  if (!node.IsMap()) {
    throw ConfigError((prefix.empty() ? std::string("config file") : prefix) + ": expected a map");
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    std::string key = prefix + it->first.as<std::string>();
    if (prefix.empty()) {
      auto block = std::find_if(all.blocks.begin(), all.blocks.end(),
                                [&](const AnyBlock& b) { return key == b.key; });
      if (block != all.blocks.end()) {
        block->apply(root, it->second);
        continue;
      }
    }
    if (const AnyLine* secret = SecretNamed(all, key)) {
      throw ConfigError(key + ": a secret; set " + secret->env + " instead");
    }
    // A key's first segments may be shared by options of several sections (sms.footer_* and
    // sms.stop_keywords): every section's lines are searched.
    const AnyLine* match = nullptr;
    bool is_section = false;
    for (const auto& o : all.lines) {
      if (o.key == nullptr) continue;
      if (key == o.key) match = &o;
      if (std::string(o.key).rfind(key + ".", 0) == 0) is_section = true;
    }
    if (match) {
      std::string text = ScalarText(key, it->second);
      if (match->file_only_check) text = match->file_only_check(key, text);
      match->apply(root, key, text);
    } else if (is_section && it->second.IsMap()) {
      ApplyFile(all, root, it->second, key + ".");
    } else {
      throw ConfigError(key + ": unknown key");
    }
  }
}

}  // namespace

void LoadInto(const AnySections& all, void* root, const std::string& path,
              const std::map<std::string, std::string>& env) {
  if (!path.empty()) {
    YAML::Node node;
    try {
      node = YAML::LoadFile(path);
    } catch (const YAML::Exception& e) {
      throw ConfigError("config file " + path + ": " + e.what());
    }
    try {
      if (!node.IsNull()) ApplyFile(all, root, node, "");
    } catch (const YAML::Exception& e) {
      throw ConfigError("config file " + path + ": " + e.what());
    }
  }
  for (const auto& [name, value] : env) {
    if (name.rfind(kEnvPrefix, 0) != 0) continue;
    if (name == "HERALD_CONFIG") continue;
    bool claimed = false;
    for (const auto& b : all.blocks) {
      if (b.claim_env && b.claim_env(root, name, value)) claimed = true;
    }
    if (claimed) continue;
    const AnyLine* match = nullptr;
    for (const auto& o : all.lines) {
      if (name == o.env) match = &o;
    }
    if (!match) throw ConfigError(name + ": unknown environment variable");
    if (!match->key) {
      match->apply(root, name, value);
      continue;
    }
    // Errors start "key: ..." wherever the value came from; the variable is named after.
    try {
      match->apply(root, match->key, value);
    } catch (const std::exception& e) {
      throw ConfigError(std::string(e.what()) + " (set by " + name + ")");
    }
  }
  for (const auto& finish : all.finish) finish(root);
}

std::string Describe(const AnySections& all, const void* defaults) {
  std::ostringstream out;
  out << "Configuration: a YAML file (--config FILE or HERALD_CONFIG) and HERALD_* variables,\n"
         "which override the file. Unknown keys and variables stop start-up; whole numbers\n"
         "are digits only (no units), within the bounds shown.\n\n";
  for (const auto& o : all.lines) {
    std::string shown = o.shown_default.empty() ? o.get(defaults) : o.shown_default;
    out << "  " << (o.key ? o.key : "(environment only)") << "  /  " << o.env << "\n      "
        << o.help << "\n      default: " << (shown.empty() ? "(empty)" : shown) << "\n";
  }
  for (const auto& b : all.blocks) out << b.describe();
  return out.str();
}

std::vector<OptionInfo> Table(const AnySections& all) {
  std::vector<OptionInfo> out;
  for (const auto& o : all.lines) {
    out.push_back({o.key ? o.key : "", o.env, o.kind, o.min, o.max, o.choices, o.help});
  }
  return out;
}

std::string Value(const AnySections& all, const void* root, const std::string& key_or_env) {
  for (const auto& o : all.lines) {
    if ((o.key && key_or_env == o.key) || key_or_env == o.env) return o.get(root);
  }
  throw ConfigError(key_or_env + ": unknown key");
}

}  // namespace config
}  // namespace herald
