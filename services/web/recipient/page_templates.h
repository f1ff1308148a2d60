#pragma once

#include <kainjow/mustache.hpp>
#include <string>
#include <string_view>

#include "services/web/http_types.h"
#include "services/web/recipient/language.h"

namespace herald::web {

// What a page template reads: a kainjow mustache object. A section shows when its key is set
// (to true, a list with items, or an object): kainjow shows a section for any string, even an
// empty one, so optional text is set only when it is not empty.
using PageData = kainjow::mustache::data;

// A recipient-facing page: templates/<name>.mustache rendered with `data` inside
// templates/layout.mustache, with the security headers every recipient page carries (no
// script, never framed, no-store). Every {{value}} is HTML-escaped with EscapeHtml; only the
// layout inserts the rendered page as it is. Templates may include templates/details.mustache
// with {{> details}}. The templates are compiled into the binary (see CMakeLists.txt).
// Throws std::logic_error for a template that is not embedded or does not render.
HttpResponse RenderPage(Language lang, int status, const std::string& title, std::string_view name,
                        const PageData& data);

// assets/recipient.css, served at /static/recipient.css.
std::string_view RecipientStylesheet();

// HTML-escapes text for element content and attribute values: the templates' escape.
std::string EscapeHtml(std::string_view text);

}  // namespace herald::web
