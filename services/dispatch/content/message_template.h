#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>

namespace herald::dispatch {

// A campaign's message as its author wrote it, in mustache syntax. E-mail uses all three
// parts (html is optional: empty means a text-only message); SMS uses only `text`.
struct TemplateSource {
  std::string subject;
  std::string text;
  std::string html;
};

// The names every template may use in addition to the campaign's declared per-recipient
// variables: the subject's fields and the two links every marketing message must carry.
std::set<std::string> BuiltInTemplateVariables();

// A checked, compiled message template.
//
// All checking happens in Compile(), once per campaign, so that a campaign with a broken
// template is refused when it is created rather than failing recipient by recipient.
//
// Supported: variables ({{x}}), sections ({{#x}}…{{/x}}), inverted sections ({{^x}}…{{/x}}),
// comments, and {{.}} inside a section. A section is shown when its variable has a
// non-empty value; an inverted section when the value is missing or empty.
// Refused: partials, set-delimiter tags, sections nested deeper than kMaxSectionDepth, and
// unescaped output ({{{x}}}, {{& x}}) in the HTML part.
//
// Thread-safety: immutable after Compile(); Render() may be called from any number of
// threads at once. Copies share the compiled parts.
class MessageTemplate {
 public:
  // Bytes per part. A marketing e-mail is well under this; a larger one is a mistake (or an
  // attempt to make every render expensive).
  static constexpr size_t kMaxPartBytes = 256 * 1024;
  // The renderer recurses once per nesting level; real templates nest two or three deep.
  static constexpr int kMaxSectionDepth = 16;

  struct Rendered {
    std::string subject;
    std::string text;
    std::string html;  // empty when the source had no HTML part
  };

  // Compiles and checks every part. Throws herald::Error INVALID_ARGUMENT naming the part
  // ("content.subject", "content.text", "content.html") and, where there is one, the
  // offending variable name, but never the template text.
  static MessageTemplate Compile(const TemplateSource& source,
                                 const std::set<std::string>& allowed);

  // Renders one recipient's message. Any name may be missing from `values` (it renders
  // empty); names the template does not use are ignored. The HTML part is HTML-escaped;
  // the subject and text are not (they are not HTML). CR and LF in the rendered subject
  // become spaces, so a value can never start a new mail header.
  Rendered Render(const std::map<std::string, std::string>& values) const;

  // Every variable name the template refers to, in any part (section names included).
  const std::set<std::string>& used_variables() const;

 private:
  struct Compiled;
  explicit MessageTemplate(std::shared_ptr<const Compiled> compiled);

  std::shared_ptr<const Compiled> compiled_;
};

}  // namespace herald::dispatch
