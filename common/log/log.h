#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace herald::log {

// One JSON object per line on stderr: {"ts","level","msg", ...fields}. Fields must never
// carry a name, an address, a phone number, an IP or a user agent: ids and counts only.
void Init(const std::string& level);
void Debug(const std::string& msg, const nlohmann::json& fields = nlohmann::json::object());
void Info(const std::string& msg, const nlohmann::json& fields = nlohmann::json::object());
void Warn(const std::string& msg, const nlohmann::json& fields = nlohmann::json::object());
void Error(const std::string& msg, const nlohmann::json& fields = nlohmann::json::object());

}  // namespace herald::log
