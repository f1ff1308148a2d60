// E-mail and phone normalisation: every address that enters Herald (API calls, CSV uploads,
// webhooks, inbound mail) goes through these before it is stored, sent to or compared with
// a suppression, so any bytes may reach them.
//
// Input: one byte choosing the default region and the function, then the address.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

#include "common/validation/address.h"
#include "fuzz/fuzz_support.h"

namespace {

using namespace herald::validation;

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A normalised value normalises to itself: what is stored compares equal when it comes
// back (a stored address re-read, a suppression checked again).
void CheckStable(const AddressResult& result, std::string_view region) {
  if (const auto* error = std::get_if<AddressError>(&result)) {
    HERALD_FUZZ_CHECK(!error->message.empty());
    return;
  }
  const auto& a = std::get<NormalizedAddress>(result);
  HERALD_FUZZ_CHECK(!a.value.empty());
  AddressResult again;
  if (a.kind == AddressKind::kEmail) {
    HERALD_FUZZ_CHECK(a.match_key == Lower(a.value));
    again = NormalizeEmail(a.value);
  } else {
    HERALD_FUZZ_CHECK(a.value.front() == '+' && a.match_key == a.value);
    again = NormalizePhone(a.value, region);
  }
  const auto* b = std::get_if<NormalizedAddress>(&again);
  HERALD_FUZZ_CHECK(b != nullptr);
  HERALD_FUZZ_CHECK(b->kind == a.kind && b->value == a.value && b->match_key == a.match_key);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Herald's home regions, a few with other numbering plans, and a lower-case spelling.
  static const char* const kRegions[] = {"AZ", "RU", "US", "GB", "DE", "TR", "KZ", "ru"};
  herald::fuzz::Input in(data, size);
  uint8_t mode = in.Byte();
  std::string_view region = kRegions[mode % std::size(kRegions)];
  std::string_view input = in.Rest();
  switch ((mode / std::size(kRegions)) % 3) {
    case 0:
      CheckStable(NormalizeEmail(input), region);
      break;
    case 1:
      CheckStable(NormalizePhone(input, region), region);
      break;
    default:
      CheckStable(NormalizeAddress(input, region), region);
      break;
  }
  return 0;
}
