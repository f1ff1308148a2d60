// A tiny command-line flag parser for heraldctl: "--name VALUE", "--name=VALUE" and boolean
// "--name" flags, each declared up front by a FlagSpec.
#pragma once

#include <google/protobuf/descriptor.h>

#include <map>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace herald::ctl {

// A mistake in the command line: reported with a hint and exit status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct FlagSpec {
  std::string name;  // without the leading "--"
  // Placeholder shown in help ("ID", "N"); empty for a boolean flag that takes no value.
  std::string value;
  std::string help;
  bool repeated = false;
  // For enum-valued flags: the accepted names are listed in help.
  const google::protobuf::EnumDescriptor* choices = nullptr;
};

class Flags {
 public:
  bool Has(std::string_view name) const { return values_.count(std::string(name)) > 0; }
  // The flag's value, or `fallback` when it was not given.
  std::string Get(std::string_view name, std::string fallback = "") const;
  // Every value of a repeatable flag, in command-line order.
  std::vector<std::string> GetAll(std::string_view name) const;
  // The value of a flag that must be given.
  std::string Require(std::string_view name) const;

  // Parses args[*index...] against `specs`, advancing *index. With stop_at_positional the
  // first argument that is not a flag ends parsing; otherwise it is an error.
  void Parse(const std::vector<FlagSpec>& specs, const std::vector<std::string>& args,
             size_t* index, bool stop_at_positional);

 private:
  std::map<std::string, std::vector<std::string>> values_;
};

// The names of an enum's values, except the zero "..._UNSPECIFIED" one: "EMAIL|SMS|CALL".
std::string EnumChoices(const google::protobuf::EnumDescriptor* d);

// Writes one aligned line per flag.
void PrintFlagHelp(std::ostream& out, const std::vector<FlagSpec>& specs);

}  // namespace herald::ctl
