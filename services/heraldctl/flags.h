// The values of one command's flags, and how each flag is declared. The command line is
// parsed by CLI11 (command.cc); a handler only sees the values through Flags.
#pragma once

#include <google/protobuf/descriptor.h>

#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace herald::ctl {

// A mistake in the command line or in the input it names (a file, a CSV line): reported
// with a hint and exit status 2, before anything is sent.
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
  // Also accepted as the command's first positional argument (`privacy act RECORD-ID`).
  bool positional = false;
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
  // Records one occurrence; a boolean flag is recorded with an empty value.
  void Add(const std::string& name, std::string value) {
    values_[name].push_back(std::move(value));
  }

 private:
  std::map<std::string, std::vector<std::string>> values_;
};

// The names of an enum's values, except the zero "..._UNSPECIFIED" one: "EMAIL|SMS|CALL".
std::string EnumChoices(const google::protobuf::EnumDescriptor* d);

}  // namespace herald::ctl
