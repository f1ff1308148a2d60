#include "services/capture/capture_config.h"

#include <yaml-cpp/yaml.h>

#include <set>

#include "common/strict_int.h"
#include "herald/v1/common.pb.h"

namespace herald::capture {
namespace {

int Bounded(const std::string& key, const YAML::Node& v, int lo, int hi) {
  if (!v.IsScalar()) throw ConfigError(key + ": expected a value");
  auto n = ParseStrictInt<int>(v.as<std::string>());
  if (!n || *n < lo || *n > hi) {
    throw ConfigError(key + ": expected a whole number " + std::to_string(lo) + ".." +
                      std::to_string(hi));
  }
  return *n;
}

std::string Text(const std::string& key, const YAML::Node& v, size_t max) {
  if (!v.IsScalar()) throw ConfigError(key + ": expected a value");
  std::string s = v.as<std::string>();
  if (s.empty() || s.size() > max) {
    throw ConfigError(key + ": expected 1.." + std::to_string(max) + " characters");
  }
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) throw ConfigError(key + ": control characters are not allowed");
  }
  return s;
}

std::vector<std::string> List(const std::string& key, const YAML::Node& v) {
  if (!v.IsSequence()) throw ConfigError(key + ": expected a list");
  std::vector<std::string> out;
  for (size_t i = 0; i < v.size(); ++i) {
    out.push_back(Text(key + "[" + std::to_string(i) + "]", v[i], 256));
  }
  return out;
}

bool IsFormId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (unsigned char c : id) {
    if (!(isalnum(c) || c == '-' || c == '_')) return false;
  }
  return true;
}

CaptureForm ReadForm(const std::string& where, const YAML::Node& node) {
  if (!node.IsMap()) throw ConfigError(where + ": expected a map");
  CaptureForm f;
  for (auto it = node.begin(); it != node.end(); ++it) {
    std::string k = it->first.as<std::string>();
    std::string key = where + "." + k;
    const YAML::Node v = it->second;
    if (k == "id") {
      f.id = Text(key, v, 64);
      if (!IsFormId(f.id)) throw ConfigError(key + ": letters, digits, '-' and '_' only");
    } else if (k == "topics") {
      f.topics = List(key, v);
    } else if (k == "processing_document") {
      f.processing_document = Text(key, v, 128);
    } else if (k == "marketing_document") {
      f.marketing_document = Text(key, v, 128);
    } else if (k == "origins") {
      f.origins = List(key, v);
      for (const auto& o : f.origins) {
        if (o.rfind("https://", 0) != 0 && o.rfind("http://", 0) != 0) {
          throw ConfigError(key + ": expected scheme://host[:port]");
        }
      }
    } else {
      throw ConfigError(key + ": unknown key");
    }
  }
  if (f.id.empty()) throw ConfigError(where + ".id: required");
  if (f.processing_document.empty()) throw ConfigError(where + ".processing_document: required");
  if (f.marketing_document.empty()) throw ConfigError(where + ".marketing_document: required");
  if (f.topics.empty()) throw ConfigError(where + ".topics: offer at least one topic");
  return f;
}

}  // namespace

const CaptureForm* CaptureSettings::Find(const std::string& id) const {
  for (const auto& f : forms) {
    if (f.id == id) return &f;
  }
  return nullptr;
}

void ApplyCaptureConfig(CaptureSettings& c, const YAML::Node& node) {
  if (!node.IsMap()) throw ConfigError("capture: expected a map");
  for (auto it = node.begin(); it != node.end(); ++it) {
    std::string k = it->first.as<std::string>();
    std::string key = "capture." + k;
    const YAML::Node v = it->second;
    if (k == "forms") {
      if (!v.IsSequence()) throw ConfigError(key + ": expected a list of forms");
      c.forms.clear();
      std::set<std::string> ids;
      for (size_t i = 0; i < v.size(); ++i) {
        std::string where = key + "[" + std::to_string(i) + "]";
        CaptureForm f = ReadForm(where, v[i]);
        if (!ids.insert(f.id).second) throw ConfigError(where + ".id: used by another form");
        c.forms.push_back(std::move(f));
      }
    } else if (k == "validity_hours") {
      c.validity_hours = Bounded(key, v, 1, 24 * 30);
    } else if (k == "per_address_per_day") {
      c.per_address_per_day = Bounded(key, v, 1, 100);
    } else if (k == "per_ip_per_minute") {
      c.per_ip_per_minute = Bounded(key, v, 1, 10000);
    } else if (k == "job_interval_s") {
      c.job_interval_s = Bounded(key, v, 1, 86400);
    } else if (k == "require_confirmation") {
      c.require_confirmation.clear();
      for (const auto& name : List(key, v)) {
        v1::Source source;
        // PHONE_CALL is not held: a consent given on a call is proven by its recording.
        if (!v1::Source_Parse(name, &source) || source == v1::SOURCE_UNSPECIFIED ||
            source == v1::PROVIDER || source == v1::PHONE_CALL) {
          throw ConfigError(key + ": '" + name +
                            "' is not a consent source that can be held (WEB_FORM, CRM, "
                            "IMPORT, SMS_REPLY, EMAIL_REPLY, LINK, OPERATOR)");
        }
        c.require_confirmation.insert(source);
      }
    } else {
      throw ConfigError(key + ": unknown key");
    }
  }
}

std::string DescribeCaptureConfig() {
  return "  capture  (file only)\n"
         "      forms: [{id, topics: [...], processing_document, marketing_document,\n"
         "      origins: [scheme://host]}]: the forms that capture consent (POST /f/{id}; the\n"
         "      hosted form at GET /f/{id}); validity_hours (48) of a pending request and its\n"
         "      link; per_address_per_day (3) confirmations; per_ip_per_minute (10)\n"
         "      submissions; job_interval_s (60) of the capture job (expiry);\n"
         "      require_confirmation: [CRM, IMPORT, ...] sources whose RecordConsent grants\n"
         "      wait for the subject's confirmation.\n";
}

const config::Section<CaptureSettings>& CaptureSection() {
  static const config::Section<CaptureSettings> kSection{
      {}, {{"capture", ApplyCaptureConfig, DescribeCaptureConfig}}};
  return kSection;
}

}  // namespace herald::capture
