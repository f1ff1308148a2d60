// The gate's decision table (DESIGN: gate, "Reason codes, in order of precedence" and
// "Rules the gate encodes"). Decide() is pure, so every rule is checked here without a
// database.
#include "services/subscriptions/gate/decision.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace herald::subscriptions {
namespace {

// DESIGN: gate — the reason codes, strongest first.
constexpr DenyReason kPrecedence[] = {
    DenyReason::kInvalidAddress,      DenyReason::kSubjectDestroyed,
    DenyReason::kSubjectBlocked,      DenyReason::kConsentRevoked,
    DenyReason::kAddressSuppressed,   DenyReason::kCrossBorderNotAllowed,
    DenyReason::kNoConsent,           DenyReason::kUnsubscribedAll,
    DenyReason::kUnsubscribedChannel, DenyReason::kUnsubscribedTopic,
    DenyReason::kFrequencyCapped,
};

const char* Name(DenyReason r) {
  switch (r) {
    case DenyReason::kNone:
      return "None";
    case DenyReason::kInvalidAddress:
      return "InvalidAddress";
    case DenyReason::kSubjectDestroyed:
      return "SubjectDestroyed";
    case DenyReason::kSubjectBlocked:
      return "SubjectBlocked";
    case DenyReason::kConsentRevoked:
      return "ConsentRevoked";
    case DenyReason::kAddressSuppressed:
      return "AddressSuppressed";
    case DenyReason::kCrossBorderNotAllowed:
      return "CrossBorderNotAllowed";
    case DenyReason::kNoConsent:
      return "NoConsent";
    case DenyReason::kUnsubscribedAll:
      return "UnsubscribedAll";
    case DenyReason::kUnsubscribedChannel:
      return "UnsubscribedChannel";
    case DenyReason::kUnsubscribedTopic:
      return "UnsubscribedTopic";
    case DenyReason::kFrequencyCapped:
      return "FrequencyCapped";
  }
  return "?";
}

}  // namespace

// Readable failure output: "NoConsent" instead of "4-byte object <07-00 00-00>". Static:
// found by argument-dependent lookup, yet private to this file.
static void PrintTo(DenyReason r, std::ostream* os) { *os << Name(r); }

namespace {

// A live subject that allows everything: every consent given, nothing opted out.
SubjectFacts AllowingSubject() {
  SubjectFacts s;
  s.state = SubjectFacts::State::kActive;
  s.blocked = false;
  s.revoked = false;
  s.processing_consent = true;
  s.marketing_consent = true;
  s.cross_border_consent = true;
  s.preference = PreferenceDeny::kNone;
  return s;
}

// A valid, unsuppressed address, home provider, marketing topic, one allowing subject.
GateFacts AllowingFacts(size_t subjects = 1) {
  GateFacts f;
  f.address_valid = true;
  f.address_suppressed = false;
  f.provider_foreign = false;
  f.marketing_topic = true;
  f.subjects.assign(subjects, AllowingSubject());
  return f;
}

// How NO_CONSENT is switched on: either missing consent is enough on its own.
enum class Missing { kMarketingConsent, kProcessingConsent };

// Switches on the condition of one reason. Address-level reasons change the facts;
// subject-level reasons change subject `who` (which must exist).
void SwitchOn(GateFacts& f, DenyReason r, size_t who = 0,
              Missing missing = Missing::kMarketingConsent) {
  switch (r) {
    case DenyReason::kNone:
      break;
    case DenyReason::kInvalidAddress:
      f.address_valid = false;
      break;
    case DenyReason::kSubjectDestroyed:
      f.subjects.at(who).state = SubjectFacts::State::kDestroyed;
      break;
    case DenyReason::kSubjectBlocked:
      f.subjects.at(who).blocked = true;
      break;
    case DenyReason::kConsentRevoked:
      f.subjects.at(who).revoked = true;
      break;
    case DenyReason::kAddressSuppressed:
      f.address_suppressed = true;
      break;
    case DenyReason::kCrossBorderNotAllowed:
      f.provider_foreign = true;
      f.subjects.at(who).cross_border_consent = false;
      break;
    case DenyReason::kNoConsent:
      if (missing == Missing::kMarketingConsent) {
        f.subjects.at(who).marketing_consent = false;
      } else {
        f.subjects.at(who).processing_consent = false;
      }
      break;
    case DenyReason::kUnsubscribedAll:
      f.subjects.at(who).preference = PreferenceDeny::kAll;
      break;
    case DenyReason::kUnsubscribedChannel:
      f.subjects.at(who).preference = PreferenceDeny::kChannel;
      break;
    case DenyReason::kUnsubscribedTopic:
      f.subjects.at(who).preference = PreferenceDeny::kTopic;
      break;
    case DenyReason::kFrequencyCapped:
      f.frequency_capped = true;
      break;
  }
}

bool IsPreference(DenyReason r) {
  return r == DenyReason::kUnsubscribedAll || r == DenyReason::kUnsubscribedChannel ||
         r == DenyReason::kUnsubscribedTopic;
}

// ---------------------------------------------------------------------------------------
// (a) The decision table: one row per situation, each reason code winning at least once.
// ---------------------------------------------------------------------------------------

struct Row {
  std::string name;
  GateFacts facts;
  DenyReason expected;
};

void PrintTo(const Row& row, std::ostream* os) { *os << row.name; }

template <typename Fn>
GateFacts Build(Fn change, size_t subjects = 1) {
  GateFacts f = AllowingFacts(subjects);
  change(f);
  return f;
}

std::vector<Row> DecisionTable() {
  using R = DenyReason;
  using State = SubjectFacts::State;
  return {
      {"AllowWhenEverythingIsGranted", AllowingFacts(), R::kNone},
      {"InvalidAddress", Build([](GateFacts& f) { f.address_valid = false; }), R::kInvalidAddress},
      {"InvalidAddressWithoutSubjects", Build([](GateFacts& f) { f.address_valid = false; }, 0),
       R::kInvalidAddress},
      {"SubjectDestroyed", Build([](GateFacts& f) { f.subjects[0].state = State::kDestroyed; }),
       R::kSubjectDestroyed},
      {"SubjectDepersonalizedAnswersDestroyed",
       Build([](GateFacts& f) { f.subjects[0].state = State::kDepersonalized; }),
       R::kSubjectDestroyed},
      {"SubjectMergedAnswersDestroyed",
       Build([](GateFacts& f) { f.subjects[0].state = State::kMerged; }), R::kSubjectDestroyed},
      {"SubjectBlocked", Build([](GateFacts& f) { f.subjects[0].blocked = true; }),
       R::kSubjectBlocked},
      {"ConsentRevoked", Build([](GateFacts& f) { f.subjects[0].revoked = true; }),
       R::kConsentRevoked},
      {"AddressSuppressed", Build([](GateFacts& f) { f.address_suppressed = true; }),
       R::kAddressSuppressed},
      {"CrossBorderWithoutConsent", Build([](GateFacts& f) {
         f.provider_foreign = true;
         f.subjects[0].cross_border_consent = false;
       }),
       R::kCrossBorderNotAllowed},
      {"ForeignProviderWithCrossBorderConsentAllows",
       Build([](GateFacts& f) { f.provider_foreign = true; }), R::kNone},
      {"HomeProviderNeedsNoCrossBorderConsent",
       Build([](GateFacts& f) { f.subjects[0].cross_border_consent = false; }), R::kNone},
      {"NoProcessingConsent", Build([](GateFacts& f) { f.subjects[0].processing_consent = false; }),
       R::kNoConsent},
      {"CrossBorderBeatsMissingProcessingConsent", Build([](GateFacts& f) {
         f.provider_foreign = true;
         f.subjects[0].cross_border_consent = false;
         f.subjects[0].processing_consent = false;
       }),
       R::kCrossBorderNotAllowed},
      {"NoMarketingConsentOnChannel",
       Build([](GateFacts& f) { f.subjects[0].marketing_consent = false; }), R::kNoConsent},
      {"UnsubscribedAll",
       Build([](GateFacts& f) { f.subjects[0].preference = PreferenceDeny::kAll; }),
       R::kUnsubscribedAll},
      {"UnsubscribedChannel",
       Build([](GateFacts& f) { f.subjects[0].preference = PreferenceDeny::kChannel; }),
       R::kUnsubscribedChannel},
      {"UnsubscribedTopic",
       Build([](GateFacts& f) { f.subjects[0].preference = PreferenceDeny::kTopic; }),
       R::kUnsubscribedTopic},
      // FAIR-1: the cap is the weakest reason and marketing only.
      {"FAIR_1_FrequencyCapped", Build([](GateFacts& f) { f.frequency_capped = true; }),
       R::kFrequencyCapped},
      {"FAIR_1_UnsubscribedTopicBeatsFrequencyCapped", Build([](GateFacts& f) {
         f.frequency_capped = true;
         f.subjects[0].preference = PreferenceDeny::kTopic;
       }),
       R::kUnsubscribedTopic},
      {"FAIR_3_ServiceTopicIsNeverCapped", Build([](GateFacts& f) {
         f.marketing_topic = false;
         f.frequency_capped = true;
       }),
       R::kNone},
      {"EveryConditionAtOnceGivesInvalidAddress", Build([](GateFacts& f) {
         for (DenyReason r : kPrecedence) {
           if (!IsPreference(r)) SwitchOn(f, r);
         }
         f.subjects[0].preference = PreferenceDeny::kAll;
       }),
       R::kInvalidAddress},
      {"EverySubjectConditionGivesDestroyed", Build([](GateFacts& f) {
         for (DenyReason r : kPrecedence) {
           if (r != R::kInvalidAddress && !IsPreference(r)) SwitchOn(f, r);
         }
         f.subjects[0].processing_consent = false;
         f.subjects[0].preference = PreferenceDeny::kTopic;
       }),
       R::kSubjectDestroyed},
      // Service topic (marketing_topic = false).
      {"ServiceTopicIgnoresMarketingConsentAndPreferences", Build([](GateFacts& f) {
         f.marketing_topic = false;
         f.subjects[0].marketing_consent = false;
         f.subjects[0].preference = PreferenceDeny::kAll;
       }),
       R::kNone},
      {"ServiceTopicNeedsProcessingConsent", Build([](GateFacts& f) {
         f.marketing_topic = false;
         f.subjects[0].processing_consent = false;
       }),
       R::kNoConsent},
      // Bare address (no subject on record).
      {"BareAddressHasNoConsent", AllowingFacts(0), R::kNoConsent},
      {"BareAddressForeignProviderIsCrossBorder",
       Build([](GateFacts& f) { f.provider_foreign = true; }, 0), R::kCrossBorderNotAllowed},
      {"BareAddressSuppressed", Build([](GateFacts& f) { f.address_suppressed = true; }, 0),
       R::kAddressSuppressed},
      {"BareAddressSuppressedAndForeignIsSuppressed",
       Build(
           [](GateFacts& f) {
             f.address_suppressed = true;
             f.provider_foreign = true;
           },
           0),
       R::kAddressSuppressed},
      {"BareAddressServiceTopicHasNoConsent",
       Build([](GateFacts& f) { f.marketing_topic = false; }, 0), R::kNoConsent},
      // Several subjects share the address.
      {"SharedAddressAllSubjectsAllow", AllowingFacts(3), R::kNone},
      {"SharedAddressOneSubjectUnsubscribedDenies",
       Build([](GateFacts& f) { f.subjects[2].preference = PreferenceDeny::kTopic; }, 3),
       R::kUnsubscribedTopic},
      {"SharedAddressOneSubjectWithoutConsentDenies",
       Build([](GateFacts& f) { f.subjects[1].marketing_consent = false; }, 3), R::kNoConsent},
      {"SharedAddressStrongestReasonAcrossSubjectsWins",
       Build(
           [](GateFacts& f) {
             f.subjects[0].preference = PreferenceDeny::kTopic;
             f.subjects[1].blocked = true;
             f.subjects[2].marketing_consent = false;
           },
           3),
       R::kSubjectBlocked},
  };
}

class DecisionTableTest : public ::testing::TestWithParam<Row> {};

TEST_P(DecisionTableTest, DecidesTheExpectedReason) {
  EXPECT_EQ(Decide(GetParam().facts), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(DesignGate, DecisionTableTest, ::testing::ValuesIn(DecisionTable()),
                         [](const ::testing::TestParamInfo<Row>& info) { return info.param.name; });

// DESIGN: gate — every reason code must be reachable as the winning answer.
TEST(DecisionTableCoverageTest, EveryReasonCodeWinsInSomeRow) {
  std::vector<Row> rows = DecisionTable();
  for (DenyReason r : kPrecedence) {
    bool wins = false;
    for (const Row& row : rows) wins = wins || (row.expected == r && Decide(row.facts) == r);
    EXPECT_TRUE(wins) << Name(r);
  }
}

// Each reason, switched on alone in an otherwise allowing situation, is the answer.
TEST(DecisionTableCoverageTest, EachConditionAloneGivesItsReason) {
  for (DenyReason r : kPrecedence) {
    GateFacts f = AllowingFacts();
    SwitchOn(f, r);
    EXPECT_EQ(Decide(f), r) << Name(r);
  }
}

// ---------------------------------------------------------------------------------------
// (b) Pairwise precedence: for every (a, b) with a before b, both apply and a wins.
// ---------------------------------------------------------------------------------------

using Pair = std::pair<DenyReason, DenyReason>;

// Every pair (a, b) with a before b in the design's order.
std::vector<Pair> OrderedPairs() {
  std::vector<Pair> pairs;
  for (size_t i = 0; i < std::size(kPrecedence); ++i) {
    for (size_t j = i + 1; j < std::size(kPrecedence); ++j) {
      pairs.emplace_back(kPrecedence[i], kPrecedence[j]);
    }
  }
  return pairs;
}

std::vector<Pair> PairsOnOneSubject() {
  // One subject has a single preference outcome, so two preference reasons cannot both
  // hold on it; those pairs are covered across subjects below.
  std::vector<Pair> pairs;
  for (const Pair& p : OrderedPairs()) {
    if (!(IsPreference(p.first) && IsPreference(p.second))) pairs.push_back(p);
  }
  return pairs;
}

std::string PairName(const ::testing::TestParamInfo<Pair>& info) {
  return std::string(Name(info.param.first)) + "_Over_" + Name(info.param.second);
}

class PrecedenceOnOneSubjectTest : public ::testing::TestWithParam<Pair> {};

// DESIGN: gate — "the first that applies is the answer", with both conditions on the same
// (only) subject.
TEST_P(PrecedenceOnOneSubjectTest, StrongerReasonWins) {
  const auto [a, b] = GetParam();
  for (Missing missing : {Missing::kMarketingConsent, Missing::kProcessingConsent}) {
    const char* how = missing == Missing::kMarketingConsent ? " (no marketing consent)"
                                                            : " (no processing consent)";
    GateFacts f = AllowingFacts();
    SwitchOn(f, b, 0, missing);
    SwitchOn(f, a, 0, missing);
    EXPECT_EQ(Decide(f), a) << Name(a) << " vs " << Name(b) << how;
    // The order of switching does not matter.
    GateFacts g = AllowingFacts();
    SwitchOn(g, a, 0, missing);
    SwitchOn(g, b, 0, missing);
    EXPECT_EQ(Decide(g), a) << Name(a) << " vs " << Name(b) << how;
  }
}

INSTANTIATE_TEST_SUITE_P(DesignGate, PrecedenceOnOneSubjectTest,
                         ::testing::ValuesIn(PairsOnOneSubject()), PairName);

class PrecedenceAcrossSubjectsTest : public ::testing::TestWithParam<Pair> {};

// DESIGN: gate — "every one of them must allow": reasons from different subjects sharing
// the address compete by the same precedence, whichever subject comes first.
TEST_P(PrecedenceAcrossSubjectsTest, StrongerReasonWins) {
  const auto [a, b] = GetParam();
  for (Missing missing : {Missing::kMarketingConsent, Missing::kProcessingConsent}) {
    for (bool a_first : {true, false}) {
      GateFacts f = AllowingFacts(3);  // subject 0 keeps allowing throughout
      SwitchOn(f, a, a_first ? 1 : 2, missing);
      SwitchOn(f, b, a_first ? 2 : 1, missing);
      EXPECT_EQ(Decide(f), a) << Name(a) << " vs " << Name(b) << (a_first ? "" : " (reversed)")
                              << (missing == Missing::kMarketingConsent ? "" : " (processing)");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(DesignGate, PrecedenceAcrossSubjectsTest,
                         ::testing::ValuesIn(OrderedPairs()), PairName);

TEST(PrecedencePairsTest, EveryOrderedPairIsGenerated) {
  EXPECT_EQ(OrderedPairs().size(), 55u);       // 11 choose 2
  EXPECT_EQ(PairsOnOneSubject().size(), 52u);  // less the 3 preference-only pairs
}

// With no subject at all only address-level reasons and the bare-address rules apply.
TEST(PrecedenceBareAddressTest, AddressLevelReasonsKeepTheirOrder) {
  GateFacts f = AllowingFacts(0);
  f.provider_foreign = true;
  EXPECT_EQ(Decide(f), DenyReason::kCrossBorderNotAllowed);
  f.address_suppressed = true;
  EXPECT_EQ(Decide(f), DenyReason::kAddressSuppressed);
  f.address_valid = false;
  EXPECT_EQ(Decide(f), DenyReason::kInvalidAddress);
}

TEST(PrecedenceOrderTest, EnumOrderMatchesDesignOrder) {
  // DESIGN: gate — DenyReason's numbers are the precedence (lower wins), 1..11.
  int expected = 1;
  for (DenyReason r : kPrecedence) EXPECT_EQ(static_cast<int>(r), expected++) << Name(r);
}

// ---------------------------------------------------------------------------------------
// (c) The rules.
// ---------------------------------------------------------------------------------------

// DESIGN: gate — "service topic messages need consent to processing but not marketing
// consent".
TEST(GateRulesTest, ServiceTopicNeedsProcessingButNotMarketingConsent) {
  GateFacts f = AllowingFacts();
  f.marketing_topic = false;
  f.subjects[0].marketing_consent = false;
  EXPECT_EQ(Decide(f), DenyReason::kNone);
  f.subjects[0].processing_consent = false;
  EXPECT_EQ(Decide(f), DenyReason::kNoConsent);
}

// Marketing topics need both.
TEST(GateRulesTest, MarketingTopicNeedsProcessingAndMarketingConsent) {
  GateFacts f = AllowingFacts();
  f.subjects[0].processing_consent = false;
  EXPECT_EQ(Decide(f), DenyReason::kNoConsent);
  f.subjects[0].processing_consent = true;
  f.subjects[0].marketing_consent = false;
  EXPECT_EQ(Decide(f), DenyReason::kNoConsent);
}

// DESIGN: gate — preferences are marketing opt-outs; service notices ignore them.
TEST(GateRulesTest, ServiceTopicIgnoresEveryPreference) {
  for (PreferenceDeny p :
       {PreferenceDeny::kAll, PreferenceDeny::kChannel, PreferenceDeny::kTopic}) {
    GateFacts f = AllowingFacts();
    f.marketing_topic = false;
    f.subjects[0].preference = p;
    EXPECT_EQ(Decide(f), DenyReason::kNone) << static_cast<int>(p);
  }
}

// DESIGN: gate — service notices "never skip destruction, block, revocation or a
// hard-bounce suppression".
TEST(GateRulesTest, ServiceTopicStillDeniedByDestroyedBlockedRevokedSuppressed) {
  for (DenyReason r :
       {DenyReason::kInvalidAddress, DenyReason::kSubjectDestroyed, DenyReason::kSubjectBlocked,
        DenyReason::kConsentRevoked, DenyReason::kAddressSuppressed}) {
    GateFacts f = AllowingFacts();
    f.marketing_topic = false;
    f.subjects[0].marketing_consent = false;  // irrelevant for service notices
    SwitchOn(f, r);
    EXPECT_EQ(Decide(f), r) << Name(r);
  }
  GateFacts depersonalized = AllowingFacts();
  depersonalized.marketing_topic = false;
  depersonalized.subjects[0].state = SubjectFacts::State::kDepersonalized;
  EXPECT_EQ(Decide(depersonalized), DenyReason::kSubjectDestroyed);
}

// Cross-border transfer (152-FZ art. 12) is about the provider, not the topic.
TEST(GateRulesTest, ServiceTopicStillNeedsCrossBorderConsentForForeignProvider) {
  GateFacts f = AllowingFacts();
  f.marketing_topic = false;
  f.provider_foreign = true;
  f.subjects[0].cross_border_consent = false;
  EXPECT_EQ(Decide(f), DenyReason::kCrossBorderNotAllowed);
}

// DESIGN: gate — a recipient may be a bare address: no consent on record.
// M4: a merged subject is refused even for a keyword reply, and the sentence says why.
TEST(GateRulesTest, M4_AMergedSubjectIsRefusedAndTheExplanationSaysMerged) {
  GateFacts f = AllowingFacts();
  f.subjects[0].state = SubjectFacts::State::kMerged;
  Verdict v = Judge(f);
  EXPECT_EQ(v.reason, DenyReason::kSubjectDestroyed);
  EXPECT_NE(std::string(v.explanation).find("merged into another subject"), std::string::npos);
  f.keyword_reply = true;
  EXPECT_EQ(Judge(f).reason, DenyReason::kSubjectDestroyed);
  f.subjects[0].state = SubjectFacts::State::kDestroyed;  // positive control: the old sentence
  EXPECT_EQ(std::string(Judge(f).explanation), "the subject was destroyed or depersonalized");
}

TEST(GateRulesTest, BareAddressWithoutSubjectsHasNoConsent) {
  EXPECT_EQ(Decide(AllowingFacts(0)), DenyReason::kNoConsent);
}

TEST(GateRulesTest, BareAddressWithForeignProviderIsCrossBorderNotAllowed) {
  GateFacts f = AllowingFacts(0);
  f.provider_foreign = true;
  EXPECT_EQ(Decide(f), DenyReason::kCrossBorderNotAllowed);
}

TEST(GateRulesTest, BareAddressSuppressedIsAddressSuppressed) {
  GateFacts f = AllowingFacts(0);
  f.address_suppressed = true;
  EXPECT_EQ(Decide(f), DenyReason::kAddressSuppressed);
  f.provider_foreign = true;
  EXPECT_EQ(Decide(f), DenyReason::kAddressSuppressed);
}

// DESIGN: gate — "When several live subjects share an address, every one of them must
// allow (fail safe)."
TEST(GateRulesTest, SharedAddressAllowsOnlyWhenEverySubjectAllows) {
  EXPECT_EQ(Decide(AllowingFacts(2)), DenyReason::kNone);
  for (size_t who = 0; who < 3; ++who) {
    GateFacts f = AllowingFacts(3);
    f.subjects[who].preference = PreferenceDeny::kChannel;
    EXPECT_EQ(Decide(f), DenyReason::kUnsubscribedChannel) << "denying subject " << who;
  }
}

TEST(GateRulesTest, SharedAddressOneDestroyedSubjectDenies) {
  GateFacts f = AllowingFacts(2);
  f.subjects[1].state = SubjectFacts::State::kDestroyed;
  EXPECT_EQ(Decide(f), DenyReason::kSubjectDestroyed);
}

TEST(GateRulesTest, SharedAddressStrongestReasonAcrossSubjectsWins) {
  GateFacts f = AllowingFacts(3);
  f.subjects[0].preference = PreferenceDeny::kTopic;
  f.subjects[1].revoked = true;
  f.subjects[2].marketing_consent = false;
  EXPECT_EQ(Decide(f), DenyReason::kConsentRevoked);
  std::swap(f.subjects[0], f.subjects[1]);
  EXPECT_EQ(Decide(f), DenyReason::kConsentRevoked);
}

TEST(GateRulesTest, SharedAddressCrossBorderNeedsEverySubjectsConsent) {
  GateFacts f = AllowingFacts(2);
  f.provider_foreign = true;
  EXPECT_EQ(Decide(f), DenyReason::kNone);
  f.subjects[1].cross_border_consent = false;
  EXPECT_EQ(Decide(f), DenyReason::kCrossBorderNotAllowed);
}

TEST(GateRulesTest, AllowIsNone) {
  GateFacts f = AllowingFacts();
  EXPECT_EQ(Decide(f), DenyReason::kNone);
  EXPECT_EQ(static_cast<int>(Decide(f)), 0);
}

}  // namespace
}  // namespace herald::subscriptions

namespace herald::subscriptions {
namespace {

// DESIGN: gate — a subject's consent covers only its own addresses.
TEST(DecisionOwnershipTest, ConsentDoesNotReachAnAddressTheSubjectDoesNotOwn) {
  GateFacts facts;
  SubjectFacts s;
  s.processing_consent = true;
  s.marketing_consent = true;
  s.owns_address = false;
  facts.subjects.push_back(s);
  EXPECT_EQ(Decide(facts), DenyReason::kNoConsent);
  facts.subjects[0].owns_address = true;
  EXPECT_EQ(Decide(facts), DenyReason::kNone);
  facts.subjects[0].owns_address = false;
  facts.subjects[0].blocked = true;
  EXPECT_EQ(Decide(facts), DenyReason::kSubjectBlocked);
}

}  // namespace
}  // namespace herald::subscriptions

namespace herald::subscriptions {
namespace {

// DESIGN "One exception", STANDARDS S1: the reply to an inbound SMS keyword, to the number
// that sent it, within 24 hours, is allowed without consent and despite the SMS stop it
// confirms; invalid addresses, destroyed and blocked subjects still deny it.
TEST(KeywordReplyRuleTest, S1_AllowedWithoutConsentAndDespiteSuppression) {
  GateFacts bare;  // a number nobody owns, just suppressed by its STOP
  bare.address_suppressed = true;
  bare.marketing_topic = false;
  EXPECT_EQ(Decide(bare), DenyReason::kAddressSuppressed);
  bare.keyword_reply = true;
  EXPECT_EQ(Decide(bare), DenyReason::kNone);
}

TEST(KeywordReplyRuleTest, S1_OverridesConsentRevocationCrossBorderAndPreferences) {
  GateFacts f;
  f.keyword_reply = true;
  f.provider_foreign = true;
  SubjectFacts s;
  s.revoked = true;
  s.preference = PreferenceDeny::kAll;
  s.owns_address = true;
  f.subjects.push_back(s);
  f.address_suppressed = true;
  EXPECT_EQ(Decide(f), DenyReason::kNone);
  f.keyword_reply = false;
  EXPECT_EQ(Decide(f), DenyReason::kConsentRevoked);
}

TEST(KeywordReplyRuleTest, S1_InvalidDestroyedAndBlockedStillDeny) {
  GateFacts f;
  f.keyword_reply = true;
  f.address_valid = false;
  EXPECT_EQ(Decide(f), DenyReason::kInvalidAddress);
  f.address_valid = true;
  SubjectFacts blocked;
  blocked.blocked = true;
  SubjectFacts destroyed;
  destroyed.state = SubjectFacts::State::kDestroyed;
  f.subjects = {blocked};
  EXPECT_EQ(Decide(f), DenyReason::kSubjectBlocked);
  f.subjects = {blocked, destroyed};
  EXPECT_EQ(Decide(f), DenyReason::kSubjectDestroyed);
  f.subjects = {SubjectFacts{}};
  f.subjects[0].state = SubjectFacts::State::kDepersonalized;
  EXPECT_EQ(Decide(f), DenyReason::kSubjectDestroyed);
}

TEST(KeywordReplyRuleTest, S1_WithoutTheFactEveryOtherMessageToAStoppedNumberIsDenied) {
  GateFacts f;
  f.address_suppressed = true;
  SubjectFacts s;
  s.processing_consent = true;
  s.marketing_consent = true;
  f.subjects.push_back(s);
  EXPECT_EQ(Decide(f), DenyReason::kAddressSuppressed);
  f.marketing_topic = false;     // a service notice honours only strong suppressions; the
  f.address_suppressed = false;  // gate's SQL leaves SMS stops out for it
  EXPECT_EQ(Decide(f), DenyReason::kNone);
}

// ---------------------------------------------------------------------------------------
// Which fact decided: what a CRM user reads next to the reason (the gate's answer).
// ---------------------------------------------------------------------------------------

TEST(DecidingFactTest, AnAllowedRecipientNamesNoFact) {
  Verdict v = Judge(AllowingFacts());
  EXPECT_EQ(v.reason, DenyReason::kNone);
  EXPECT_EQ(v.fact, DecidingFact::kNone);
  EXPECT_TRUE(v.subject_id.empty());
  EXPECT_STREQ(v.explanation, "");
}

// A CRM duplicate: the contact asked about consented, another subject with the same address
// did not. The answer is NO_CONSENT (fail safe) and names the other subject as the reason.
TEST(DecidingFactTest, ADuplicateWithoutConsentIsNamedAsTheOtherSubject) {
  GateFacts f = AllowingFacts(2);
  f.subjects[0].subject_id = "asked";
  f.subjects[0].explicit_subject = true;
  f.subjects[1].subject_id = "duplicate";
  f.subjects[1].marketing_consent = false;
  Verdict v = Judge(f);
  EXPECT_EQ(v.reason, DenyReason::kNoConsent);
  EXPECT_EQ(v.fact, DecidingFact::kOtherSubject);
  EXPECT_EQ(v.subject_id, "duplicate");
  EXPECT_STREQ(v.explanation, "the subject has no marketing consent on this channel");
}

TEST(DecidingFactTest, OnEqualReasonsTheSubjectAskedAboutIsNamed) {
  for (bool asked_first : {true, false}) {
    GateFacts f = AllowingFacts(2);
    size_t asked = asked_first ? 0 : 1;
    f.subjects[asked].subject_id = "asked";
    f.subjects[asked].explicit_subject = true;
    f.subjects[1 - asked].subject_id = "duplicate";
    f.subjects[0].preference = PreferenceDeny::kAll;
    f.subjects[1].preference = PreferenceDeny::kAll;
    Verdict v = Judge(f);
    EXPECT_EQ(v.reason, DenyReason::kUnsubscribedAll);
    EXPECT_EQ(v.fact, DecidingFact::kSubject) << asked_first;
    EXPECT_EQ(v.subject_id, "asked") << asked_first;
  }
}

TEST(DecidingFactTest, AStrongerReasonOfTheOtherSubjectStillWins) {
  GateFacts f = AllowingFacts(2);
  f.subjects[0].explicit_subject = true;
  f.subjects[0].preference = PreferenceDeny::kTopic;
  f.subjects[1].subject_id = "duplicate";
  f.subjects[1].blocked = true;
  Verdict v = Judge(f);
  EXPECT_EQ(v.reason, DenyReason::kSubjectBlocked);
  EXPECT_EQ(v.fact, DecidingFact::kOtherSubject);
  EXPECT_EQ(v.subject_id, "duplicate");
}

TEST(DecidingFactTest, AddressFactsNameTheAddressAndNoSubject) {
  GateFacts suppressed = AllowingFacts();
  suppressed.subjects[0].subject_id = "asked";
  suppressed.address_suppressed = true;
  Verdict v = Judge(suppressed);
  EXPECT_EQ(v.fact, DecidingFact::kAddress);
  EXPECT_TRUE(v.subject_id.empty());
  GateFacts bare = AllowingFacts(0);
  EXPECT_EQ(Judge(bare).fact, DecidingFact::kAddress);
  EXPECT_STREQ(Judge(bare).explanation, "no subject owns the address, so no consent is on record");
  GateFacts invalid = AllowingFacts();
  invalid.address_valid = false;
  EXPECT_EQ(Judge(invalid).fact, DecidingFact::kAddress);
}

TEST(DecidingFactTest, ASubjectWhoseConsentDoesNotCoverTheAddressIsExplainedSo) {
  GateFacts f = AllowingFacts();
  f.subjects[0].explicit_subject = true;
  f.subjects[0].owns_address = false;
  Verdict v = Judge(f);
  EXPECT_EQ(v.reason, DenyReason::kNoConsent);
  EXPECT_EQ(v.fact, DecidingFact::kSubject);
  EXPECT_STREQ(v.explanation,
               "the address is not one of the subject's, so its consent does not cover it");
}

// Every reason comes with a sentence, and the sentence never differs from the reason's own
// rule (the same switched-on facts the precedence tests use).
TEST(DecidingFactTest, EveryReasonIsExplained) {
  for (DenyReason r : kPrecedence) {
    for (Missing missing : {Missing::kMarketingConsent, Missing::kProcessingConsent}) {
      GateFacts f = AllowingFacts();
      f.subjects[0].explicit_subject = true;
      SwitchOn(f, r, 0, missing);
      Verdict v = Judge(f);
      EXPECT_EQ(v.reason, r) << Name(r);
      EXPECT_GT(std::string(v.explanation).size(), 10u) << Name(r);
      bool address_level = r == DenyReason::kInvalidAddress || r == DenyReason::kAddressSuppressed;
      EXPECT_EQ(v.fact, address_level ? DecidingFact::kAddress : DecidingFact::kSubject) << Name(r);
    }
  }
}

}  // namespace
// DESIGN "Exception two", CAP-2: a capture confirmation overrides NO_CONSENT and nothing
// else. Each stronger reason still refuses it; without the fact, NO_CONSENT refuses.
TEST(CaptureConfirmationRuleTest, CAP_2_OverridesOnlyNoConsent) {
  GateFacts bare;  // an address nobody owns: no consent on record
  bare.marketing_topic = false;
  EXPECT_EQ(Decide(bare), DenyReason::kNoConsent);
  bare.capture_confirmation = true;
  EXPECT_EQ(Decide(bare), DenyReason::kNone);

  GateFacts owned;  // an owner without consent to processing
  owned.marketing_topic = false;
  owned.capture_confirmation = true;
  owned.subjects = {SubjectFacts{}};
  EXPECT_EQ(Decide(owned), DenyReason::kNone);
  owned.capture_confirmation = false;
  EXPECT_EQ(Decide(owned), DenyReason::kNoConsent);
}

TEST(CaptureConfirmationRuleTest, CAP_2_StrongerReasonsStillRefuse) {
  auto with = [](auto change) {
    GateFacts f;
    f.marketing_topic = false;
    f.capture_confirmation = true;
    f.subjects = {SubjectFacts{}};
    change(f);
    return Decide(f);
  };
  EXPECT_EQ(with([](GateFacts& f) { f.address_valid = false; }), DenyReason::kInvalidAddress);
  EXPECT_EQ(with([](GateFacts& f) { f.address_suppressed = true; }),
            DenyReason::kAddressSuppressed);
  EXPECT_EQ(with([](GateFacts& f) { f.subjects[0].blocked = true; }), DenyReason::kSubjectBlocked);
  EXPECT_EQ(with([](GateFacts& f) { f.subjects[0].revoked = true; }), DenyReason::kConsentRevoked);
  EXPECT_EQ(with([](GateFacts& f) { f.subjects[0].state = SubjectFacts::State::kDestroyed; }),
            DenyReason::kSubjectDestroyed);
  EXPECT_EQ(with([](GateFacts& f) { f.provider_foreign = true; }),
            DenyReason::kCrossBorderNotAllowed);
  // A bare address abroad has no cross-border consent either.
  GateFacts bare;
  bare.marketing_topic = false;
  bare.capture_confirmation = true;
  bare.provider_foreign = true;
  EXPECT_EQ(Decide(bare), DenyReason::kCrossBorderNotAllowed);
}

}  // namespace herald::subscriptions
