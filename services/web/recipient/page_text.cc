#include "services/web/recipient/page_text.h"

namespace herald::web {
namespace {

const PageText kAz = {
    "Abunəlikdən çıxmaq",
    "Bu mesajları almağı dayandırmaq istəyirsiniz?",
    "Mövzu",
    "Kanal",
    "Bütün reklam mesajları",
    "Abunəlikdən çıx",
    "Abunəliyiniz dayandırıldı",
    "Bu mesajları artıq almayacaqsınız.",
    "Bu ünvana artıq belə mesajlar göndərilməyəcək.",
    "Geri qaytar: yenidən abunə ol",
    "Abunəliyiniz bərpa olundu.",
    "Bütün abunəliklərinizi idarə edin",
    "Abunəlikləriniz",
    "Hansı mövzular üzrə və hansı kanalla mesaj almaq istədiyinizi seçin.",
    "Bu kanal üzrə reklam mesajlarına razılıq verməmisiniz, ona görə onu burada aktivləşdirmək "
    "mümkün deyil.",
    "Seçimləri yadda saxla",
    "Hamısından abunəlikdən çıx",
    "Seçimləriniz yadda saxlanıldı.",
    "Bütün reklam mesajlarından abunəliyiniz dayandırıldı.",
    "Şəxsi məlumatlarınızı necə emal edirik",
    "Bu keçid köhnədir: abunəlikdən çıxmaq üçün hələ də işləyir, lakin seçimləri dəyişmək üçün "
    "son mesajdakı keçiddən istifadə edin.",
    "Bu keçid yalnız ünvana aiddir: onunla abunəlikdən çıxmaq mümkündür, seçimləri dəyişmək "
    "mümkün deyil.",
    "Bu keçid etibarsızdır",
    "Keçidi mesajdan tam köçürdüyünüzü yoxlayın. Heç nə dəyişdirilmədi.",
    "Forma rədd edildi",
    "Forma yoxlanıla bilmədi və ya başqa saytdan göndərildi. Səhifəni yenidən açın. Heç nə "
    "dəyişdirilmədi.",
    "Sorğu anlaşılmadı",
    "Səhifəni yenidən açıb formadan istifadə edin. Heç nə dəyişdirilmədi.",
    "Abunəlik burada bərpa edilə bilməz: bu kanal üzrə razılığınız qeydə alınmayıb.",
    "Bu səhifə artıq mövcud deyil",
    "Bu keçidə aid məlumat artıq yoxdur.",
    "E-poçt",
    "SMS",
    "Zənglər",
    "Məhsul xəbərləri",
    "Xüsusi təkliflər",
    "Tədbirlər, vebinarlar və konfranslar",
    "Xidməti bildirişlər",
    "Geri qaytarma yalnız abunəlikdən indicə çıxdığınız səhifədə, 15 dəqiqə ərzində mümkündür. "
    "Heç nə dəyişdirilmədi; seçimlərinizi son mesajdakı keçidlə dəyişə bilərsiniz.",
};

const PageText kRu = {
    "Отписка",
    "Прекратить получать эти сообщения?",
    "Тема",
    "Канал",
    "Все рекламные сообщения",
    "Отписаться",
    "Вы отписаны",
    "Вы больше не будете получать эти сообщения.",
    "На этот адрес такие сообщения больше не будут приходить.",
    "Отменить: подписаться снова",
    "Подписка восстановлена.",
    "Управлять всеми подписками",
    "Ваши подписки",
    "Выберите, на какие темы и по каким каналам вы хотите получать сообщения.",
    "Вы не давали согласия на рекламные сообщения по этому каналу, поэтому здесь его нельзя "
    "включить.",
    "Сохранить настройки",
    "Отписаться от всего",
    "Настройки сохранены.",
    "Вы отписаны от всех рекламных сообщений.",
    "Как мы обрабатываем персональные данные",
    "Эта ссылка устарела: она по-прежнему отписывает, но чтобы изменить настройки, "
    "воспользуйтесь ссылкой из недавнего сообщения.",
    "Эта ссылка относится только к адресу: по ней можно отписаться, но нельзя изменить "
    "настройки.",
    "Ссылка недействительна",
    "Проверьте, что ссылка скопирована из сообщения полностью. Ничего не изменено.",
    "Форма отклонена",
    "Форму не удалось проверить, или она отправлена с другого сайта. Откройте страницу заново. "
    "Ничего не изменено.",
    "Запрос не распознан",
    "Откройте страницу заново и воспользуйтесь формой. Ничего не изменено.",
    "Подписку нельзя восстановить здесь: ваше согласие на этот канал не записано.",
    "Страница больше недоступна",
    "Данных по этой ссылке больше нет.",
    "Электронная почта",
    "SMS",
    "Звонки",
    "Новости продуктов",
    "Специальные предложения",
    "Мероприятия, вебинары и конференции",
    "Служебные уведомления",
    "Отменить отписку можно только на странице, где вы только что отписались, в течение 15 "
    "минут. Ничего не изменено; изменить подписки можно по ссылке из последнего сообщения.",
};

const PageText kEn = {
    "Unsubscribe",
    "Stop receiving these messages?",
    "Topic",
    "Channel",
    "All marketing messages",
    "Unsubscribe",
    "You are unsubscribed",
    "You will no longer receive these messages.",
    "Such messages will no longer be sent to this address.",
    "Undo: subscribe again",
    "Your subscription is restored.",
    "Manage all your subscriptions",
    "Your subscriptions",
    "Choose which topics you want to hear about, and on which channels.",
    "You have not agreed to marketing messages on this channel, so it cannot be switched on "
    "here.",
    "Save preferences",
    "Unsubscribe from everything",
    "Your preferences are saved.",
    "You are unsubscribed from all marketing messages.",
    "How we process your personal data",
    "This link is old: it still unsubscribes, but to change your preferences use the link in a "
    "recent message.",
    "This link belongs to an address only: it unsubscribes, but cannot change preferences.",
    "This link is not valid",
    "Check that you copied the whole link from the message. Nothing was changed.",
    "The form was refused",
    "The form could not be verified, or it was sent from another site. Open the page again. "
    "Nothing was changed.",
    "The request was not understood",
    "Open the page again and use the form. Nothing was changed.",
    "Your subscription cannot be restored here: there is no consent on record for this "
    "channel.",
    "This page is no longer available",
    "There is no longer any data behind this link.",
    "E-mail",
    "SMS",
    "Phone calls",
    "Product news",
    "Special offers",
    "Events, webinars and conferences",
    "Service notices",
    "An unsubscribe can be undone only on the page where you just unsubscribed, within 15 "
    "minutes. Nothing was changed; you can change your subscriptions from the link in the "
    "latest message.",
};

}  // namespace

const PageText& TextFor(Language l) {
  switch (l) {
    case Language::kRu:
      return kRu;
    case Language::kEn:
      return kEn;
    case Language::kAz:
      break;
  }
  return kAz;
}

const char* ChannelLabel(const PageText& t, int channel) {
  switch (channel) {
    case 1:
      return t.channel_email;
    case 2:
      return t.channel_sms;
    case 3:
      return t.channel_call;
    default:
      return "";
  }
}

const char* BuiltInTopicLabel(const PageText& t, const std::string& topic) {
  if (topic == "product_news") return t.topic_product_news;
  if (topic == "special_offers") return t.topic_special_offers;
  if (topic == "events") return t.topic_events;
  if (topic == "service") return t.topic_service;
  return nullptr;
}

std::string TopicLabel(Language lang, const TopicCatalog& topics, const std::string& topic) {
  if (const char* built_in = BuiltInTopicLabel(TextFor(lang), topic)) return built_in;
  const TopicInfo* info = topics.Find(topic);
  if (!info) return topic;
  auto it = info->labels.find(LanguageCode(lang));
  return it == info->labels.end() ? topic : it->second;
}

std::string TopicDescription(Language lang, const TopicCatalog& topics, const std::string& topic) {
  const TopicInfo* info = topics.Find(topic);
  if (!info) return "";
  auto it = info->descriptions.find(LanguageCode(lang));
  return it == info->descriptions.end() ? std::string() : it->second;
}

}  // namespace herald::web
