// Subject normalisation and the seed's markers (STANDARDS §2b): decoding is GMime's, tested
// on the fixtures in mail_parser_test.cc; this is what happens to the decoded text.
#include "services/inbound/mail/subject_markers.h"

#include <glib.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace herald::inbound {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(NormalizeSubjectTest, CollapsesWhiteSpaceOfEveryKind) {
  EXPECT_EQ(NormalizeSubject("  a\r\n\tb \xC2\xA0\xE2\x80\xAF c  "), "a b c");
}

TEST(NormalizeSubjectTest, StripsReplyAndForwardPrefixesRepeatedly) {
  EXPECT_EQ(NormalizeSubject("Re: RE: Fwd: FW: x"), "x");
  EXPECT_EQ(NormalizeSubject("Ответ: Отв: Пересл: x"), "x");
  EXPECT_EQ(NormalizeSubject("Cavab: Yönləndir: YÖNLƏNDİR: x"), "x");
  EXPECT_EQ(NormalizeSubject("AW[2]: Re(3): re : x"), "x");
  EXPECT_EQ(NormalizeSubject("Re：x"), "x");  // full-width colon
}

TEST(NormalizeSubjectTest, KeepsWordsThatOnlyStartLikeAPrefix) {
  EXPECT_EQ(NormalizeSubject("Refusal of x"), "Refusal of x");
  EXPECT_EQ(NormalizeSubject("Отвечаю: x"), "Отвечаю: x");
  EXPECT_EQ(NormalizeSubject("Re"), "Re");
}

TEST(NormalizeSubjectTest, ReplacesInvalidUtf8) {
  std::string out = NormalizeSubject("Re: a\xFF\xFE b");
  EXPECT_TRUE(g_utf8_validate(out.c_str(), -1, nullptr)) << out;
}

TEST(FoldForMatchTest, TurkicDottedAndDotlessIFoldTogether) {
  // İ/i/I/ı all compare equal, however the seed phrase was typed.
  EXPECT_EQ(FoldForMatch("İMTİNA"), FoldForMatch("imtina"));
  EXPECT_EQ(FoldForMatch("IMTINA"), FoldForMatch("imtina"));
  EXPECT_EQ(FoldForMatch("ımtına"), FoldForMatch("imtina"));
  EXPECT_EQ(FoldForMatch("I\xCC\x87MTI\xCC\x87NA"), FoldForMatch("imtina"));  // decomposed İ
  EXPECT_EQ(FoldForMatch("ŞƏXSİ"), FoldForMatch("şəxsi"));
  EXPECT_EQ(FoldForMatch("ОТКАЗ"), FoldForMatch("отказ"));
}

// The nine phrases of STANDARDS §2b, exactly as written there.
struct MarkerCase {
  const char* subject;
  MarkerRequest want;
};
class MarkerTableTest : public ::testing::TestWithParam<MarkerCase> {};

TEST_P(MarkerTableTest, ExactPhraseIsRecognised) {
  EXPECT_THAT(FindMarkers(GetParam().subject), ElementsAre(GetParam().want));
}

INSTANTIATE_TEST_SUITE_P(
    Standards2b, MarkerTableTest,
    ::testing::Values(
        MarkerCase{"yeni məhsul və xidmətlər və xüsusi təkliflər barədə bildirişlərdən imtina",
                   MarkerRequest::kRefuseMarketing},
        MarkerCase{"Отказ от уведомлений о новых продуктах и услугах и специальных предложениях",
                   MarkerRequest::kRefuseMarketing},
        MarkerCase{"Refusal of notifications about new products and services and special offers",
                   MarkerRequest::kRefuseMarketing},
        MarkerCase{"Şəxsi məlumatların yenilənməsi", MarkerRequest::kRectify},
        MarkerCase{"Актуализация персональных данных", MarkerRequest::kRectify},
        MarkerCase{"Updating personal data", MarkerRequest::kRectify},
        MarkerCase{"Şəxsi məlumatların işlənməsinə razılığın ləğvi", MarkerRequest::kRevokeConsent},
        MarkerCase{"Отзыв согласия на обработку персональных данных",
                   MarkerRequest::kRevokeConsent},
        MarkerCase{"Revocation of consent to the processing of personal data",
                   MarkerRequest::kRevokeConsent}));

TEST(FindMarkersTest, CaseSpacingAndPrefixesDoNotMatter) {
  EXPECT_THAT(FindMarkers("RE:  YENİ MƏHSUL VƏ XİDMƏTLƏR VƏ XÜSUSİ TƏKLİFLƏR BARƏDƏ "
                          "BİLDİRİŞLƏRDƏN İMTİNA"),
              ElementsAre(MarkerRequest::kRefuseMarketing));
  EXPECT_THAT(FindMarkers("Ответ:\tотказ  от уведомлений о новых продуктах и\r\n услугах и "
                          "специальных предложениях"),
              ElementsAre(MarkerRequest::kRefuseMarketing));
}

TEST(FindMarkersTest, MarkerInsideALongerSubjectCounts) {
  // Fail safe: a refusal is never missed because something was added around it.
  EXPECT_THAT(FindMarkers("[#123] Updating personal data, new surname"),
              ElementsAre(MarkerRequest::kRectify));
}

TEST(FindMarkersTest, SeveralMarkersStrongestFirst) {
  EXPECT_THAT(FindMarkers("Updating personal data; Revocation of consent to the processing of "
                          "personal data"),
              ElementsAre(MarkerRequest::kRevokeConsent, MarkerRequest::kRectify));
}

TEST(FindMarkersTest, NearMissesAndOrdinarySubjectsAreNotMarkers) {
  EXPECT_THAT(FindMarkers("Re: Приглашение на вебинар"), IsEmpty());
  EXPECT_THAT(FindMarkers("Updating data"), IsEmpty());
  EXPECT_THAT(FindMarkers("Refusal of notifications"), IsEmpty());
  EXPECT_THAT(FindMarkers(""), IsEmpty());
}

TEST(RequestNameTest, NamesOfTheEvent) {
  EXPECT_STREQ(RequestName(MarkerRequest::kRefuseMarketing), "refuse_marketing");
  EXPECT_STREQ(RequestName(MarkerRequest::kRectify), "rectify");
  EXPECT_STREQ(RequestName(MarkerRequest::kRevokeConsent), "revoke_consent");
}

}  // namespace
}  // namespace herald::inbound
