// Normalization and validation of subscriber addresses (e-mail and phone).
//
// Every address that enters Herald goes through these functions before it is
// stored, sent to or compared against a suppression list, so two spellings of
// the same mailbox or number must collapse to the same match_key, and anything
// we cannot deliver to unambiguously must be rejected.
#pragma once

#include <string>
#include <string_view>
#include <variant>

namespace herald::validation {

enum class AddressKind { kEmail, kPhone };

struct NormalizedAddress {
  AddressKind kind;
  // What we store and send to. E-mail: local part exactly as given + "@" +
  // lower-case IDNA A-label domain. Phone: E.164, e.g. "+994501234567".
  std::string value;
  // What we compare and suppress on. E-mail: `value` fully lower-cased (the
  // local part too: most providers treat it case-insensitively, and for
  // suppression a false match is the safe failure). Phone: same as `value`.
  std::string match_key;
};

// `message` describes the problem without repeating the input, because it
// reaches logs and addresses are personal data.
struct AddressError {
  std::string message;
};

using AddressResult = std::variant<NormalizedAddress, AddressError>;

// Validates and normalizes an e-mail address. Quoted local parts, non-ASCII
// local parts and IP-literal domains are rejected; Unicode domains are
// converted to A-labels.
AddressResult NormalizeEmail(std::string_view input);

// Validates and normalizes a phone number to E.164. `default_region` is an
// ISO 3166-1 alpha-2 code ("RU", "AZ"; case-insensitive) used to interpret
// numbers written in national format; it must always be a known region.
AddressResult NormalizePhone(std::string_view input, std::string_view default_region);

// Guesses the kind: input containing '@' is treated as an e-mail address,
// anything else as a phone number.
AddressResult NormalizeAddress(std::string_view input, std::string_view default_region);

}  // namespace herald::validation
