#pragma once

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace herald::log {

// One field value: a number, a flag or a text. Kept this small so that every file that logs
// does not compile the JSON library; log.cc turns fields into JSON.
class Value {
 public:
  using Variant = std::variant<bool, std::int64_t, std::uint64_t, double, std::string>;

  Value(bool v) : v_(v) {}
  template <std::signed_integral T>
  Value(T v) : v_(static_cast<std::int64_t>(v)) {}
  template <std::unsigned_integral T>
  requires(!std::same_as<T, bool>) Value(T v) : v_(static_cast<std::uint64_t>(v)) {}
  template <std::floating_point T>
  Value(T v) : v_(static_cast<double>(v)) {}
  // Enums log as their number, as they always have; name them where a reader needs the name.
  template <typename E>
  requires std::is_enum_v<E> Value(E v) : Value(static_cast<std::underlying_type_t<E>>(v)) {}
  Value(const char* v) : v_(std::string(v)) {}
  Value(std::string_view v) : v_(std::string(v)) {}
  Value(const std::string& v) : v_(v) {}
  Value(std::string&& v) : v_(std::move(v)) {}

  const Variant& get() const { return v_; }

 private:
  Variant v_;
};

// The fields of one line, in order: `{{"request_id", id}, {"count", n}}` at a call site, or
// built up with Add when some fields are optional.
class Fields {
 public:
  Fields() = default;
  Fields(std::initializer_list<std::pair<std::string_view, Value>> fields) {
    items_.reserve(fields.size());
    for (const auto& [key, value] : fields) items_.emplace_back(std::string(key), value);
  }

  Fields& Add(std::string_view key, Value value) {
    items_.emplace_back(std::string(key), std::move(value));
    return *this;
  }
  const std::vector<std::pair<std::string, Value>>& items() const { return items_; }

 private:
  std::vector<std::pair<std::string, Value>> items_;
};

// One JSON object per line on stderr: {"ts","level","msg", ...fields}. Fields must never
// carry a name, an address, a phone number, an IP or a user agent: ids and counts only.
void Init(const std::string& level);
void Debug(const std::string& msg, const Fields& fields = {});
void Info(const std::string& msg, const Fields& fields = {});
void Warn(const std::string& msg, const Fields& fields = {});
void Error(const std::string& msg, const Fields& fields = {});

}  // namespace herald::log
