#include "services/dispatch/content/message_template.h"

#include <algorithm>
#include <cctype>
#include <kainjow/mustache.hpp>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"

namespace herald::dispatch {
namespace {

namespace mst = kainjow::mustache;

constexpr char kSubjectField[] = "content.subject";
constexpr char kTextField[] = "content.text";
constexpr char kHtmlField[] = "content.html";

// The context item inside a section ({{.}}): not a variable of its own.
constexpr char kCurrentItem[] = ".";

bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Error messages may carry a variable name, but a "name" is whatever the author typed
// between the braces; anything that does not look like a name could be a fragment of the
// message text, which must not reach logs.
std::string QuoteName(std::string_view name) {
  const bool looks_like_name =
      !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
      });
  if (!looks_like_name) return "(not a valid variable name)";
  return "\"" + std::string(name) + "\"";
}

std::string QuoteNames(const std::set<std::string>& names) {
  std::string out;
  for (const auto& name : names) {
    if (!out.empty()) out += ", ";
    out += QuoteName(name);
  }
  return out;
}

struct TagScan {
  bool has_set_delimiter = false;
  int max_depth = 0;
};

// kainjow's renderer and its parse tree's destructor recurse once per nesting level, and a
// 256 KiB template can nest tens of thousands of levels: enough to overflow a thread's stack.
// So the nesting depth must be known before the text reaches kainjow. This finds tag
// boundaries exactly as kainjow does for the default delimiters ("{{", "}}", "{{{…}}}"),
// which is why set-delimiter tags are refused: past one, this scan would be blind.
// Everything else (syntax, names, kinds of tag) is left to kainjow itself.
TagScan ScanTags(std::string_view text) {
  TagScan scan;
  int depth = 0;
  size_t pos = 0;
  while ((pos = text.find("{{", pos)) != std::string_view::npos) {
    size_t contents = pos + 2;
    std::string_view end = "}}";
    const bool triple = contents < text.size() && text[contents] == '{';
    if (triple) {
      ++contents;
      end = "}}}";
    }
    const size_t close = text.find(end, contents);
    if (close == std::string_view::npos) break;  // kainjow reports the unclosed tag
    const std::string_view tag = Trim(text.substr(contents, close - contents));
    if (!tag.empty() && tag.front() == '=') {
      scan.has_set_delimiter = true;
      return scan;
    }
    if (!triple && !tag.empty()) {
      if (tag.front() == '#' || tag.front() == '^') {
        scan.max_depth = std::max(scan.max_depth, ++depth);
      } else if (tag.front() == '/' && depth > 0) {
        --depth;
      }
    }
    pos = close + end.size();
  }
  return scan;
}

// kainjow's messages look like `Unclosed section "offer" at 17`: keep the kind and the byte
// offset, and pass the name through QuoteName. (No std::regex: the quoted name can be a
// whole 256 KiB tag, and libstdc++'s regex recurses per character.)
std::string DescribeSyntaxError(std::string_view message) {
  const size_t at = message.rfind(" at ");
  const std::string_view offset = at == std::string_view::npos ? "" : message.substr(at + 4);
  if (offset.empty() || !std::all_of(offset.begin(), offset.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      })) {
    return "syntax error";
  }
  std::string_view kind = message.substr(0, at);
  std::string name;
  const size_t quote = kind.find('"');
  if (quote != std::string_view::npos) {
    if (kind.size() < quote + 2 || kind.back() != '"') return "syntax error";
    name = QuoteName(kind.substr(quote + 1, kind.size() - quote - 2));
    kind = Trim(kind.substr(0, quote));
  }
  if (kind.empty()) return "syntax error";
  std::string out = "syntax error: ";
  out += static_cast<char>(std::tolower(static_cast<unsigned char>(kind.front())));
  out += kind.substr(1);
  if (!name.empty()) out += " " + name;
  return out + " at byte " + std::string(offset);
}

// One tag that looked a name up (variable, section or inverted section), found while
// exploring a template. The sites inside a section's body are its children.
struct Site {
  explicit Site(std::string n) : name(std::move(n)) {}

  std::string name;
  bool answer_falsy = false;   // answer `false` rather than an empty string (see below)
  bool opened_truthy = false;  // a body was entered on a truthy answer: a section
  bool opened_falsy = false;   // a body was entered on a falsy answer: an inverted section
  bool escaped = false;        // the value went through the escape function: {{x}}
  std::vector<std::unique_ptr<Site>> body;
};

// The "recording context" (kainjow has no public parse tree, so a template is explored by
// rendering it). One render cannot enter both a section and an inverted section of the same
// tag, so the exploration renders several times: every tag is first answered with a truthy
// value (an empty string); a tag that did not open a body on that answer is answered with
// `false` in the next pass, which enters its body if it is an inverted section. Renders are
// deterministic, so pass N replays pass N-1 tag by tag; the push/pop that kainjow issues
// around a section's body tell which tags are nested in which.
class ExploringContext final : public mst::basic_context<std::string> {
 public:
  explicit ExploringContext(Site* root) : root_(root) {}

  void BeginPass() {
    frames_.assign(1, Frame{root_, 0});
    last_ = nullptr;
  }
  bool uses_partials() const { return uses_partials_; }
  // Called by the escape function: kainjow escapes a value right after looking it up.
  void NoteEscaped() const {
    if (last_ != nullptr) last_->escaped = true;
  }

  const mst::data* get(const std::string& name) const override {
    Frame& frame = frames_.back();
    auto& body = frame.site->body;
    if (frame.next == body.size()) body.push_back(std::make_unique<Site>(name));
    Site* site = body[frame.next++].get();
    if (site->name != name) throw std::logic_error("template exploration lost its place");
    last_ = site;
    return site->answer_falsy ? &falsy_ : &truthy_;
  }

  const mst::data* get_partial(const std::string& /*name*/) const override {
    uses_partials_ = true;
    return nullptr;
  }

  // kainjow pushes a section's value right after looking it up, before walking its body.
  void push(const mst::data* data) override {
    if (last_ == nullptr || (data != &truthy_ && data != &falsy_)) {
      throw std::logic_error("template exploration: unexpected section push");
    }
    (data == &truthy_ ? last_->opened_truthy : last_->opened_falsy) = true;
    frames_.push_back(Frame{last_, 0});
    last_ = nullptr;
  }

  void pop() override {
    frames_.pop_back();
    last_ = nullptr;
  }

 private:
  struct Frame {
    Site* site;
    size_t next;  // index of the next tag in site->body
  };

  Site* root_;
  const mst::data truthy_{std::string()};
  const mst::data falsy_{false};
  mutable std::vector<Frame> frames_;
  mutable Site* last_ = nullptr;
  mutable bool uses_partials_ = false;
};

// Schedules the next pass; returns whether anything will be answered differently.
bool FlipUnopened(Site& site) {
  bool changed = false;
  for (auto& child : site.body) {
    if (!child->answer_falsy && !child->opened_truthy) {
      child->answer_falsy = true;
      changed = true;
    }
    changed |= FlipUnopened(*child);
  }
  return changed;
}

struct Exploration {
  bool uses_partials = false;
  std::set<std::string> names;
  std::set<std::string> unescaped_variables;
};

void Collect(const Site& site, Exploration& out) {
  for (const auto& child : site.body) {
    if (child->name != kCurrentItem) out.names.insert(child->name);
    const bool is_variable = !child->opened_truthy && !child->opened_falsy;
    if (is_variable && !child->escaped) out.unescaped_variables.insert(child->name);
    Collect(*child, out);
  }
}

Exploration Explore(const mst::mustache& parsed) {
  Site root("");
  ExploringContext context(&root);
  mst::mustache probe = parsed;
  probe.set_custom_escape([&context](const std::string& s) {
    context.NoteEscaped();
    return s;
  });
  // A pass flips every tag that has not opened a body yet, so each pass after the first
  // reaches one level deeper; the depth limit therefore bounds the passes, and the cap only
  // guards against a kainjow change breaking that reasoning.
  constexpr int kMaxPasses = 2 * MessageTemplate::kMaxSectionDepth + 4;
  for (int pass = 0;; ++pass) {
    if (pass == kMaxPasses) throw std::logic_error("template exploration did not converge");
    context.BeginPass();
    probe.render(context);
    if (!probe.is_valid()) throw std::logic_error("template exploration failed to render");
    if (!FlipUnopened(root)) break;
  }
  Exploration out;
  out.uses_partials = context.uses_partials();
  Collect(root, out);
  return out;
}

mst::mustache CompilePart(const std::string& source, const char* field, bool html,
                          const std::set<std::string>& allowed, std::set<std::string>& used) {
  if (source.size() > MessageTemplate::kMaxPartBytes) {
    throw InvalidArgument(
        field, "larger than " + std::to_string(MessageTemplate::kMaxPartBytes) + " bytes");
  }
  const TagScan scan = ScanTags(source);
  if (scan.has_set_delimiter) throw InvalidArgument(field, "set-delimiter tags are not supported");
  if (scan.max_depth > MessageTemplate::kMaxSectionDepth) {
    throw InvalidArgument(field, "sections nested deeper than " +
                                     std::to_string(MessageTemplate::kMaxSectionDepth) + " levels");
  }

  mst::mustache parsed(source);
  if (!parsed.is_valid()) throw InvalidArgument(field, DescribeSyntaxError(parsed.error_message()));
  // The subject and the text are not HTML: escaping would turn "Tom & Jerry" into
  // "Tom &amp; Jerry" in the recipient's inbox. The HTML part keeps kainjow's HTML escaping.
  if (!html) parsed.set_custom_escape([](const std::string& s) { return s; });

  Exploration found;
  try {
    found = Explore(parsed);
  } catch (const std::logic_error& e) {
    throw Error(ErrorCode::kInternal, std::string(field) + ": " + e.what());
  }
  if (found.uses_partials) throw InvalidArgument(field, "partials are not supported");
  std::set<std::string> unknown;
  for (const auto& name : found.names) {
    if (!allowed.contains(name)) unknown.insert(name);
  }
  if (!unknown.empty()) {
    throw InvalidArgument(
        field,
        (unknown.size() == 1 ? "unknown variable " : "unknown variables ") + QuoteNames(unknown));
  }
  if (html && !found.unescaped_variables.empty()) {
    throw InvalidArgument(field, "unescaped output ({{{x}}} or {{& x}}) is not allowed in HTML: " +
                                     QuoteNames(found.unescaped_variables));
  }
  used.insert(found.names.begin(), found.names.end());
  return parsed;
}

std::string RenderPart(const mst::mustache& compiled, const mst::data& data) {
  // kainjow's render() is not const (it may record an error), so each call renders a copy:
  // that keeps the shared template untouched and Render() safe from many threads.
  mst::mustache copy = compiled;
  std::string out = copy.render(data);
  if (!copy.is_valid()) throw Error(ErrorCode::kInternal, "content: rendering failed");
  return out;
}

// A subject is a mail header: a CR or LF from a value would end it and start another.
std::string FlattenLineBreaks(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') continue;  // CRLF: one space
    out += (s[i] == '\r' || s[i] == '\n') ? ' ' : s[i];
  }
  return out;
}

}  // namespace

std::set<std::string> BuiltInTemplateVariables() {
  return {"surname", "given_name", "patronymic", "locale", "unsubscribe_url", "preferences_url"};
}

struct MessageTemplate::Compiled {
  mst::mustache subject;
  mst::mustache text;
  mst::mustache html;
  std::set<std::string> used_variables;
};

MessageTemplate::MessageTemplate(std::shared_ptr<const Compiled> compiled)
    : compiled_(std::move(compiled)) {}

MessageTemplate MessageTemplate::Compile(const TemplateSource& source,
                                         const std::set<std::string>& allowed) {
  std::set<std::string> used;
  mst::mustache subject = CompilePart(source.subject, kSubjectField, false, allowed, used);
  mst::mustache text = CompilePart(source.text, kTextField, false, allowed, used);
  mst::mustache html = CompilePart(source.html, kHtmlField, true, allowed, used);
  return MessageTemplate(std::make_shared<const Compiled>(
      Compiled{std::move(subject), std::move(text), std::move(html), std::move(used)}));
}

MessageTemplate::Rendered MessageTemplate::Render(
    const std::map<std::string, std::string>& values) const {
  // Only the names the template uses, and only non-empty values: a missing or empty value
  // renders as nothing, hides its section and shows its inverted section.
  mst::data data(mst::data::type::object);
  for (const auto& name : compiled_->used_variables) {
    const auto it = values.find(name);
    if (it != values.end() && !it->second.empty()) data.set(name, mst::data(it->second));
  }
  return Rendered{FlattenLineBreaks(RenderPart(compiled_->subject, data)),
                  RenderPart(compiled_->text, data), RenderPart(compiled_->html, data)};
}

const std::set<std::string>& MessageTemplate::used_variables() const {
  return compiled_->used_variables;
}

}  // namespace herald::dispatch
