#include "services/heraldctl/flags.h"

#include <algorithm>

namespace herald::ctl {
namespace {

const FlagSpec* FindSpec(const std::vector<FlagSpec>& specs, std::string_view name) {
  for (const auto& s : specs) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

bool LooksLikeFlag(const std::string& arg) { return arg.size() > 1 && arg[0] == '-'; }

}  // namespace

std::string Flags::Get(std::string_view name, std::string fallback) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end() || it->second.empty()) return fallback;
  return it->second.back();
}

std::vector<std::string> Flags::GetAll(std::string_view name) const {
  auto it = values_.find(std::string(name));
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

std::string Flags::Require(std::string_view name) const {
  std::string v = Get(name);
  if (v.empty()) throw UsageError("--" + std::string(name) + " is required");
  return v;
}

void Flags::Parse(const std::vector<FlagSpec>& specs, const std::vector<std::string>& args,
                  size_t* index, bool stop_at_positional) {
  while (*index < args.size()) {
    const std::string& arg = args[*index];
    if (!LooksLikeFlag(arg)) {
      if (stop_at_positional) return;
      throw UsageError("unexpected argument '" + arg + "'");
    }
    ++*index;
    if (arg == "-h") {
      values_["help"].push_back("");
      continue;
    }
    if (arg.rfind("--", 0) != 0) throw UsageError("unknown flag '" + arg + "'");
    std::string name = arg.substr(2);
    std::string value;
    bool inline_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      inline_value = true;
    }
    const FlagSpec* spec = FindSpec(specs, name);
    if (!spec) throw UsageError("unknown flag '--" + name + "'");
    if (spec->value.empty()) {
      if (inline_value) throw UsageError("--" + name + " takes no value");
      values_[name].push_back("");
      continue;
    }
    if (!inline_value) {
      // "--topic --channel SMS" is a forgotten value, not a topic called "--channel".
      if (*index >= args.size() || args[*index].rfind("--", 0) == 0) {
        throw UsageError("--" + name + " needs a value (" + spec->value + ")");
      }
      value = args[(*index)++];
    }
    auto& slot = values_[name];
    if (!spec->repeated && !slot.empty()) throw UsageError("--" + name + " given more than once");
    slot.push_back(value);
  }
}

std::string EnumChoices(const google::protobuf::EnumDescriptor* d) {
  std::string out;
  for (int i = 0; i < d->value_count(); ++i) {
    if (d->value(i)->number() == 0) continue;
    if (!out.empty()) out += '|';
    out += d->value(i)->name();
  }
  return out;
}

void PrintFlagHelp(std::ostream& out, const std::vector<FlagSpec>& specs) {
  auto label = [](const FlagSpec& s) {
    return "--" + s.name + (s.value.empty() ? "" : " " + s.value);
  };
  size_t width = 0;
  for (const auto& s : specs) width = std::max(width, label(s).size());
  for (const auto& s : specs) {
    std::string l = label(s);
    out << "  " << l << std::string(width - l.size() + 2, ' ');
    if (s.choices) out << EnumChoices(s.choices) << (s.help.empty() ? "" : "; ");
    out << s.help;
    if (s.repeated) out << " (repeatable)";
    out << '\n';
  }
}

}  // namespace herald::ctl
