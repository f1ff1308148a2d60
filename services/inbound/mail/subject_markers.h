#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace herald::inbound {

// The seed's three requests (STANDARDS §2b), recognised in an e-mail's subject.
enum class MarkerRequest { kRefuseMarketing, kRectify, kRevokeConsent };

// "refuse_marketing", "rectify", "revoke_consent": the request names of the
// privacy_request_received event.
const char* RequestName(MarkerRequest r);

// A decoded (UTF-8) subject, unfolded, every run of white space (Unicode included) collapsed
// to one space, trimmed, with reply/forward prefixes ("Re:", "Fwd:", "Ответ:", "Cavab:",
// "AW[2]:" ...) stripped repeatedly from the front. Invalid UTF-8 is replaced, never kept.
std::string NormalizeSubject(std::string_view subject);

// The form subjects are compared in: NFKC, Azerbaijani/Turkish dotted and dotless i (İ ı)
// made plain i, then Unicode case folding, so "İMTİNA", "imtina" and "IMTINA" compare equal.
std::string FoldForMatch(std::string_view normalized);

// The reply/forward prefixes stripped by NormalizeSubject, in folded form (documented in
// docs/inbound.md).
const std::vector<std::string>& ReplyPrefixes();

// Every marker the subject carries, strongest first (revoke, refuse, rectify). A marker may
// be anywhere in the subject, not only the whole of it: a refusal must never be missed
// because a mail client added "[ticket 12]" or a signature (fail safe).
std::vector<MarkerRequest> FindMarkers(std::string_view subject);

}  // namespace herald::inbound
