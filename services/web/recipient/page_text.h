#pragma once

#include <string>

#include "common/domain/topics.h"
#include "services/web/recipient/language.h"

namespace herald::web {

// Every string of the recipient pages, in one language. All three translations are
// complete: a unit test checks that no field is empty in any of them.
struct PageText {
  const char* confirm_title;
  const char* confirm_question;
  const char* label_topic;
  const char* label_channel;
  const char* all_marketing;
  const char* confirm_button;
  const char* unsubscribed_title;
  const char* unsubscribed_text;
  const char* address_unsubscribed_text;
  const char* undo_button;
  const char* undone;
  const char* preferences_link;
  const char* preferences_title;
  const char* preferences_intro;
  const char* no_consent;
  const char* save_button;
  const char* unsubscribe_all_button;
  const char* saved;
  const char* all_unsubscribed;
  const char* policy_link;
  const char* expired_note;
  const char* address_only_note;
  const char* invalid_title;
  const char* invalid_text;
  const char* forbidden_title;
  const char* forbidden_text;
  const char* bad_request_title;
  const char* bad_request_text;
  const char* no_consent_undo;
  const char* unavailable_title;
  const char* unavailable_text;
  const char* channel_email;
  const char* channel_sms;
  const char* channel_call;
  const char* topic_product_news;
  const char* topic_special_offers;
  const char* topic_events;
  const char* topic_service;
  const char* undo_unavailable;
};

const PageText& TextFor(Language l);
// Channel 1..3 by name in that language; "" otherwise.
const char* ChannelLabel(const PageText& t, int channel);
// A built-in topic's name in that language; nullptr for configured topics.
const char* BuiltInTopicLabel(const PageText& t, const std::string& topic);

// A topic's name in the page's language: a built-in topic's from the page texts, a
// configured topic's from its config (E9: every language is there, checked at start-up);
// the bare name only for a topic the catalog does not know.
std::string TopicLabel(Language lang, const TopicCatalog& topics, const std::string& topic);
// A configured topic's description in the page's language; "" for a built-in or unknown one.
std::string TopicDescription(Language lang, const TopicCatalog& topics, const std::string& topic);

}  // namespace herald::web
