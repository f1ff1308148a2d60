#include "services/heraldctl/flags.h"

namespace herald::ctl {

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

std::string EnumChoices(const google::protobuf::EnumDescriptor* d) {
  std::string out;
  for (int i = 0; i < d->value_count(); ++i) {
    if (d->value(i)->number() == 0) continue;
    if (!out.empty()) out += '|';
    out += d->value(i)->name();
  }
  return out;
}

}  // namespace herald::ctl
