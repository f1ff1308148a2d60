#pragma once

// The configuration machinery every section uses. A section is a plain struct owned by the
// service that reads it, plus one line per option bound to a member of that struct: the
// file key, the variable (derived from the key), the bounds and the help all come from the
// line. The composition root lists the sections once in a Schema; loading (YAML, then
// HERALD_* variables), the unknown-key and unknown-variable errors, --help and OptionValue
// all read the lines of every section.

#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace YAML {
class Node;
}

namespace herald {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One scalar option as --help and tests see it.
struct OptionInfo {
  enum class Kind { kInt, kText, kBool, kChoice, kList, kSecret };
  std::string key;  // dotted file key; empty for a secret (environment only)
  std::string env;  // the HERALD_* variable that overrides it
  Kind kind;
  int min, max;                      // kInt: the bounds, inclusive
  std::vector<std::string> choices;  // kChoice
  std::string help;
};

// The HERALD_* variables of this process.
std::map<std::string, std::string> ProcessEnvironment();

namespace config {

// A value check: returns the value to store (normalised) or throws ConfigError naming `name`.
using Check = std::function<std::string(const std::string& name, const std::string& value)>;

// The variable a key derives: HERALD_ and the key upper-cased, dots as '_'.
std::string EnvName(const char* key);
// A whole number within [min, max], digits only; otherwise ConfigError naming `key`.
int ParseInt(const std::string& key, const std::string& text, int min, int max);
// "a, b,c" -> {a, b, c}; empty items dropped.
std::vector<std::string> SplitList(const std::string& text);
std::string JoinList(const std::vector<std::string>& items);

// Checks options share.
std::string NotEmpty(const std::string& name, const std::string& value);
// host:port (IPv6 hosts in brackets); port 0 picks a free port.
std::string ListenAddress(const std::string& name, const std::string& value);
std::string HttpUrlOrEmpty(const std::string& name, const std::string& value);
// An ISO 3166-1 alpha-2 code, returned upper case.
std::string UpperRegion(const std::string& name, std::string value);

// One scalar option of section S.
template <typename S>
struct Line {
  const char* key = nullptr;  // dotted path in YAML; nullptr: environment only (a secret)
  std::string env;
  std::string help;
  OptionInfo::Kind kind = OptionInfo::Kind::kText;
  int min = 0, max = 0;              // kInt
  std::vector<std::string> choices;  // kChoice
  // Stores `text`; `name` is what an error names (the key, or the variable of a secret).
  std::function<void(S&, const std::string& name, const std::string& text)> apply;
  std::function<std::string(const S&)> get;  // the value as text
  std::string shown_default;                 // --help's default when get's is not apt
  Check file_only_check;                     // applied to file values only

  // The variable when it cannot derive from the key.
  Line& Env(const char* name) {
    env = name;
    return *this;
  }
  Line& Shown(std::string text) {
    shown_default = std::move(text);
    return *this;
  }
  Line& FileCheck(Check check) {
    file_only_check = std::move(check);
    return *this;
  }
};

// A top-level key whose value is a structure (a list of maps, a nested map) that its own
// code parses and describes. `claim_env` takes variables of its own making (a provider's
// secret) and says whether it did.
template <typename S>
struct Block {
  using Apply = std::function<void(S&, const YAML::Node&)>;
  using ClaimEnv = std::function<bool(S&, const std::string& name, const std::string& value)>;
  Block(const char* key, Apply apply, std::function<std::string()> describe,
        ClaimEnv claim_env = nullptr)
      : key(key),
        apply(std::move(apply)),
        describe(std::move(describe)),
        claim_env(std::move(claim_env)) {}

  const char* key;
  Apply apply;
  std::function<std::string()> describe;
  ClaimEnv claim_env;
};

// A section: its lines, its blocks, and what runs once file and environment are applied
// (required values, defaults taken from other options of the section).
template <typename S>
struct Section {
  Section(std::vector<Line<S>> lines, std::vector<Block<S>> blocks = {},
          std::function<void(S&)> finish = nullptr)
      : lines(std::move(lines)), blocks(std::move(blocks)), finish(std::move(finish)) {}

  std::vector<Line<S>> lines;
  std::vector<Block<S>> blocks;
  std::function<void(S&)> finish;
};

template <typename S>
Line<S> MakeLine(const char* key, OptionInfo::Kind kind, const std::string& help,
                 std::function<void(S&, const std::string&, const std::string&)> apply,
                 std::function<std::string(const S&)> get) {
  Line<S> o;
  o.key = key;
  o.env = EnvName(key);
  o.kind = kind;
  o.help = help;
  o.apply = std::move(apply);
  o.get = std::move(get);
  return o;
}

template <typename S>
Line<S> Int(const char* key, int S::*member, int min, int max, const std::string& help) {
  Line<S> o = MakeLine<S>(
      key, OptionInfo::Kind::kInt,
      help + " (" + std::to_string(min) + "-" + std::to_string(max) + ")",
      [member, min, max](S& s, const std::string& name, const std::string& v) {
        s.*member = ParseInt(name, v, min, max);
      },
      [member](const S& s) { return std::to_string(s.*member); });
  o.min = min;
  o.max = max;
  return o;
}

template <typename S>
Line<S> Text(const char* key, std::string S::*member, const std::string& help,
             const Check& check = {}) {
  return MakeLine<S>(
      key, OptionInfo::Kind::kText, help,
      [member, check](S& s, const std::string& name, const std::string& v) {
        s.*member = check ? check(name, v) : v;
      },
      [member](const S& s) { return s.*member; });
}

template <typename S>
Line<S> Bool(const char* key, bool S::*member, const std::string& help) {
  return MakeLine<S>(
      key, OptionInfo::Kind::kBool, help + " (true or false)",
      [member](S& s, const std::string& name, const std::string& v) {
        if (v != "true" && v != "false") throw ConfigError(name + ": true or false");
        s.*member = v == "true";
      },
      [member](const S& s) { return std::string(s.*member ? "true" : "false"); });
}

template <typename S>
Line<S> Choice(const char* key, std::string S::*member, const std::vector<std::string>& choices,
               const std::string& help) {
  std::string expected = JoinList(choices);
  Line<S> o = Text<S>(key, member, help + " (" + expected + ")",
                      [choices, expected](const std::string& name, const std::string& v) {
                        for (const auto& c : choices) {
                          if (c == v) return v;
                        }
                        throw ConfigError(name + ": expected one of " + expected);
                      });
  o.kind = OptionInfo::Kind::kChoice;
  o.choices = choices;
  return o;
}

// A comma-separated list in the environment, a YAML list or one value in the file.
template <typename S>
Line<S> List(const char* key, std::vector<std::string> S::*member, std::string help,
             const Check& item_check = {}) {
  return MakeLine<S>(
      key, OptionInfo::Kind::kList, help,
      [member, item_check](S& s, const std::string& name, const std::string& v) {
        std::vector<std::string> items;
        for (auto& item : SplitList(v)) items.push_back(item_check ? item_check(name, item) : item);
        s.*member = std::move(items);
      },
      [member](const S& s) { return JoinList(s.*member); });
}

// One entry of a map-valued member (an SMS footer or reply per language).
template <typename S>
Line<S> Slot(const char* key, std::map<std::string, std::string> S::*member, std::string slot,
             const std::string& help, const Check& check = {}) {
  return MakeLine<S>(
      key, OptionInfo::Kind::kText, help,
      [member, slot, check](S& s, const std::string& name, const std::string& v) {
        (s.*member)[slot] = check ? check(name, v) : v;
      },
      [member, slot](const S& s) {
        auto it = (s.*member).find(slot);
        return it == (s.*member).end() ? std::string() : it->second;
      });
}

// Environment only: never in the file, never printed.
template <typename S>
Line<S> Secret(const char* env, std::string S::*member, size_t min_size, std::string shown,
               const std::string& help) {
  Line<S> o;
  o.env = env;
  o.kind = OptionInfo::Kind::kSecret;
  o.help = "Secret. " + help;
  o.get = [member](const S& s) { return s.*member; };
  o.apply = [member, min_size](S& s, const std::string& name, const std::string& v) {
    if (!v.empty() && v.size() < min_size) {
      throw ConfigError(name + ": at least " + std::to_string(min_size) + " characters");
    }
    s.*member = v;
  };
  o.Shown(std::move(shown));
  return o;
}

// The sections with their types erased, for the one loader. `root` is the composed struct.
struct AnyLine {
  const char* key;
  std::string env, help;
  OptionInfo::Kind kind;
  int min, max;
  std::vector<std::string> choices;
  std::function<void(void* root, const std::string& name, const std::string& text)> apply;
  std::function<std::string(const void* root)> get;
  std::string shown_default;
  Check file_only_check;
};
struct AnyBlock {
  const char* key;
  std::function<void(void* root, const YAML::Node&)> apply;
  std::function<std::string()> describe;
  std::function<bool(void* root, const std::string& name, const std::string& value)> claim_env;
};
struct AnySections {
  std::vector<AnyLine> lines;
  std::vector<AnyBlock> blocks;
  std::vector<std::function<void(void* root)>> finish;
};

// Throws std::logic_error when a key, a variable or a block key is taken twice.
void AddChecked(AnySections& all, std::vector<AnyLine> lines, std::vector<AnyBlock> blocks);
// Reads the YAML file (empty path: defaults only), then applies HERALD_* variables from
// `env`. Unknown keys and unknown HERALD_* variables are errors naming the key; secrets
// are accepted from the environment only. Throws ConfigError.
void LoadInto(const AnySections& all, void* root, const std::string& path,
              const std::map<std::string, std::string>& env);
std::string Describe(const AnySections& all, const void* defaults);
std::vector<OptionInfo> Table(const AnySections& all);
std::string Value(const AnySections& all, const void* root, const std::string& key_or_env);

// The sections of the composed struct Root, each a member of it.
template <typename Root>
class Schema {
 public:
  template <typename S>
  Schema& Add(S Root::*member, const Section<S>& section) {
    std::vector<AnyLine> lines;
    for (const auto& l : section.lines) {
      lines.push_back(
          {l.key, l.env, l.help, l.kind, l.min, l.max, l.choices,
           [member, apply = l.apply](void* root, const std::string& name, const std::string& v) {
             apply(static_cast<Root*>(root)->*member, name, v);
           },
           [member, get = l.get](const void* root) {
             return get(static_cast<const Root*>(root)->*member);
           },
           l.shown_default, l.file_only_check});
    }
    std::vector<AnyBlock> blocks;
    for (const auto& b : section.blocks) {
      AnyBlock any{b.key,
                   [member, apply = b.apply](void* root, const YAML::Node& node) {
                     apply(static_cast<Root*>(root)->*member, node);
                   },
                   b.describe,
                   {}};
      if (b.claim_env) {
        any.claim_env = [member, claim = b.claim_env](void* root, const std::string& name,
                                                      const std::string& value) {
          return claim(static_cast<Root*>(root)->*member, name, value);
        };
      }
      blocks.push_back(std::move(any));
    }
    AddChecked(all_, std::move(lines), std::move(blocks));
    if (section.finish) {
      all_.finish.push_back([member, finish = section.finish](void* root) {
        finish(static_cast<Root*>(root)->*member);
      });
    }
    return *this;
  }

  Root Load(const std::string& path, const std::map<std::string, std::string>& env) const {
    Root root;
    LoadInto(all_, &root, path, env);
    return root;
  }
  // Every option with its file key, variable, default and meaning, for --help.
  std::string Describe() const {
    const Root defaults;
    return config::Describe(all_, &defaults);
  }
  std::vector<OptionInfo> Table() const { return config::Table(all_); }
  // The value of the option named by its file key or variable, as text (lists
  // comma-separated). Throws ConfigError for a name no option has.
  std::string Value(const Root& root, const std::string& key_or_env) const {
    return config::Value(all_, &root, key_or_env);
  }

 private:
  AnySections all_;
};

}  // namespace config
}  // namespace herald
