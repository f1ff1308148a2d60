#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/crypto/key_ring.h"

namespace herald::crypto {

// Report tokens make bounces and complaints verifiable. Every e-mail Herald sends carries one
// in its Message-ID (<token@message_id_domain>) and in its VERP return path
// (local+token@domain); a delivery status notification or a complaint report suppresses an
// address only when it quotes a token whose tag verifies, and then only the address of the
// message the token names. Message ids themselves are not secret (campaign ids are
// time-ordered and guessable), the tag is what a forger cannot make.
//
// A token is 49 characters:
//
//   <message id: 32 lower-case hex digits, the UUID without dashes> "." <tag: 16 characters>
//
// tag = the first 10 bytes (80 bits) of HMAC-SHA256(key secret, "herald-report-tag" 0x00 ||
// the UUID's 16 raw bytes), in lower-case RFC 4648 base32 without padding. The context
// label keeps these MACs apart from every other use of the same secrets (link tokens,
// suppression hashes). Only digits, lower-case letters and one dot: it survives mail systems
// that fold the case of local parts (Verify folds it back), it is dot-atom text for
// Message-ID and it fits a 64-octet local part behind a return-path local part of up to 14
// characters.
//
// The token names no key: Verify tries every key of the ring (a ring holds a few), so a
// report about a message tagged before a rotation still verifies until its key is retired.
inline constexpr size_t kReportTokenChars = 49;

// Thread-safety: immutable after construction.
class ReportTagger {
 public:
  explicit ReportTagger(KeyRing ring) : ring_(std::move(ring)) {}

  // The token for a message id (a UUID, either case), tagged with the ring's newest key.
  // Throws std::invalid_argument when message_id is not a UUID.
  std::string Token(std::string_view message_id) const;

  // The message id (lower-case UUID text with dashes) named by a token whose tag verifies
  // under any key of the ring; nullopt for anything else. Case-insensitive; never throws.
  std::optional<std::string> Verify(std::string_view token) const;

 private:
  KeyRing ring_;
};

// Every substring of `text` shaped like a token (not verified), in order of appearance;
// a token must not be glued to further letters or digits on either side. For reading
// tokens out of a return path ("bounces+TOKEN@domain") or a Message-ID ("<TOKEN@domain>").
std::vector<std::string> FindReportTokens(std::string_view text);

}  // namespace herald::crypto
