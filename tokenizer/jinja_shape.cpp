#include "tokenizer/jinja_shape.h"

#include <cctype>
#include <set>

#include "tokenizer/utf8.h"

namespace neft::tokenizer {

bool is_python_space(char32_t c) { return is_white_space(c) || (c >= 0x1C && c <= 0x1F); }

namespace {

// The end of the whitespace run at s[i] (Python's definition), code point by code point.
size_t skip_python_space(std::string_view s, size_t i) {
  while (i < s.size()) {
    const size_t len = utf8_sequence_length(s, i);
    if (len == 0 || !is_python_space(decode_utf8(s, i, len))) break;
    i += len;
  }
  return i;
}

}  // namespace

std::string_view python_rstrip(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t b = end - 1;
    while (b > 0 && (uint8_t(s[b]) & 0xC0) == 0x80) --b;
    const size_t len = utf8_sequence_length(s, b);
    if (len != end - b || !is_python_space(decode_utf8(s, b, len))) break;
    end = b;
  }
  return s.substr(0, end);
}

std::string python_strip(std::string_view s) {
  return std::string(python_rstrip(s.substr(skip_python_space(s, 0))));
}

namespace {

bool is_name_start(char c) { return std::isalpha(uint8_t(c)) || c == '_'; }
bool is_name_char(char c) { return std::isalnum(uint8_t(c)) || c == '_'; }
bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

ShapeToken op(std::string text) { return {false, std::move(text)}; }
ShapeToken lit(std::string text) { return {true, std::move(text)}; }
bool is_op(const ShapeToken& t, std::string_view text) { return !t.literal && t.text == text; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The value of the literal whose text (between the quotes) is `raw`, as Python's
// unicode-escape decodes it; nothing for an escape outside the header's list.
std::optional<std::string> unescape(std::string_view raw) {
  std::string v;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\\') {
      v += raw[i];
      continue;
    }
    if (++i == raw.size()) return std::nullopt;
    const char e = raw[i];
    const char* simple = "\\\\''\"\"n\nt\tr\ra\ab\bf\fv\v";
    bool done = false;
    for (const char* p = simple; *p; p += 2)
      if (e == p[0]) v += p[1], done = true;
    if (done) continue;
    const size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
    if (digits == 0 || i + digits >= raw.size()) return std::nullopt;
    char32_t cp = 0;
    for (size_t k = 1; k <= digits; ++k) {
      const int h = hex_value(raw[i + k]);
      if (h < 0) return std::nullopt;
      cp = cp * 16 + char32_t(h);
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
    append_utf8(v, cp);
    i += digits;
  }
  return v;
}

// Jinja's lexer, with transformers' options, over newline-normalised text.
class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  std::optional<Shape> run() {
    while (true) {
      const size_t k = s_.find('{', pos_);
      size_t tag = std::string_view::npos;
      for (size_t at = k; at != std::string_view::npos; at = s_.find('{', at + 1))
        if (at + 1 < s_.size() && (s_[at + 1] == '{' || s_[at + 1] == '%' || s_[at + 1] == '#')) {
          tag = at;
          break;
        }
      std::string text(s_.substr(pos_, tag == std::string_view::npos ? tag : tag - pos_));
      if (tag == std::string_view::npos) {
        write(text);
        return out_;
      }
      const char kind = s_[tag + 1];
      pos_ = tag + 2;
      const char mod = pos_ < s_.size() ? s_[pos_] : 0;
      if (mod == '+') return std::nullopt;
      if (mod == '-') {
        text = std::string(python_rstrip(text));
        ++pos_;
      } else if (kind != '{') {
        // lstrip_blocks: blanks between the start of a line and a block or comment tag.
        const size_t line = text.rfind('\n') + 1;  // 0 when there is no newline
        if ((line > 0 || line_starting_) &&
            text.find_first_not_of(" \t", line) == std::string::npos)
          text.resize(line);
      }
      write(text);
      if (!(kind == '#' ? comment() : tag_body(kind))) return std::nullopt;
    }
  }

 private:
  void write(const std::string& text) {
    if (text.empty()) return;
    out_.push_back(op("{{"));
    out_.push_back(lit(text));
    out_.push_back(op("}}"));
  }

  // After a closing delimiter: `-` takes the whitespace after it, a block or comment's end the
  // one newline after it (trim_blocks).
  void after_close(bool minus, bool block) {
    const size_t from = pos_;
    if (minus)
      pos_ = skip_python_space(s_, pos_);
    else if (block && pos_ < s_.size() && s_[pos_] == '\n')
      ++pos_;
    line_starting_ = pos_ > from && s_[pos_ - 1] == '\n';
  }

  bool comment() {
    const size_t end = s_.find("#}", pos_);
    if (end == std::string_view::npos) return false;
    const bool minus = end > pos_ && s_[end - 1] == '-';
    if (end > pos_ && s_[end - 1] == '+') return false;
    pos_ = end + 2;
    after_close(minus, true);
    return true;
  }

  bool tag_body(char kind) {
    const std::string_view close = kind == '{' ? "}}" : "%}";
    out_.push_back(op(kind == '{' ? "{{" : "{%"));
    const size_t first = out_.size();
    int depth = 0;
    while (true) {
      while (pos_ < s_.size() && is_blank(s_[pos_])) ++pos_;
      if (pos_ >= s_.size()) return false;
      const std::string_view rest = s_.substr(pos_);
      if (depth == 0) {
        const bool minus = rest.substr(0, 1) == "-" && rest.substr(1, 2) == close;
        if (rest.substr(0, 1) == "+" && rest.substr(1, 2) == close) return false;
        if (minus || rest.substr(0, 2) == close) {
          pos_ += minus ? 3 : 2;
          out_.push_back(op(std::string(close)));
          after_close(minus, kind == '%');
          // {% raw %} would make the text up to {% endraw %} a literal.
          return !(kind == '%' && out_.size() > first && is_op(out_[first], "raw"));
        }
      }
      const char c = rest[0];
      if (c == '\'' || c == '"') {
        size_t i = 1;
        while (i < rest.size() && rest[i] != c) i += rest[i] == '\\' ? 2 : 1;
        if (i >= rest.size()) return false;
        const std::optional<std::string> value = unescape(rest.substr(1, i - 1));
        if (!value) return false;
        out_.push_back(lit(*value));
        pos_ += i + 1;
      } else if (is_name_start(c) || std::isdigit(uint8_t(c))) {
        size_t i = 1;
        while (i < rest.size() &&
               (is_name_char(rest[i]) || (std::isdigit(uint8_t(c)) && rest[i] == '.')))
          ++i;
        out_.push_back(op(std::string(rest.substr(0, i))));
        pos_ += i;
      } else {
        static const char* const kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
        size_t len = 0;
        for (const char* two : kTwo)
          if (rest.substr(0, 2) == two) len = 2;
        if (len == 0 && std::string_view("+-*/%~[](){}<>=.:|,;").find(c) != std::string_view::npos)
          len = 1;
        if (len == 0) return false;
        if (c == '(' || c == '[' || c == '{') ++depth;
        if ((c == ')' || c == ']' || c == '}') && --depth < 0) return false;
        out_.push_back(op(std::string(rest.substr(0, len))));
        pos_ += len;
      }
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
  bool line_starting_ = true;
  Shape out_;
};

// Tokens on the left of a literal, and on the right, that bind more loosely than + (or are
// + itself, which is associative on strings): 'a' + 'b' between them is 'ab'.
const std::set<std::string> kLooserLeft = {"{{", "(",    "[",    ",",   "=",   "+", ":",
                                           "if", "elif", "else", "==",  "!=",  "<", ">",
                                           "<=", ">=",   "in",   "not", "and", "or"};
const std::set<std::string> kLooserRight = {"}}",  "%}",  ")",  "]",  ",",   "+",  ":",
                                            "==",  "!=",  "<",  ">",  "<=",  ">=", "in",
                                            "not", "and", "or", "if", "else"};
// Words that cannot be followed by a subscript, so [ after them opens a list.
const std::set<std::string> kKeywords = {"in", "and",  "or",   "not", "is",
                                         "if", "else", "elif", "for", "set"};
// Operators at the top of an output that make it more than a chain of +.
const std::set<std::string> kNotAChain = {"==",  "!=", "<",  ">",    "<=", ">=", "and", "or",
                                          "not", "in", "if", "else", "-",  "~",  "is"};

void fold_literals(Shape& t) {
  for (size_t i = 1; i + 3 < t.size(); ++i) {
    while (i + 3 < t.size() && t[i].literal && is_op(t[i + 1], "+") && t[i + 2].literal &&
           !t[i - 1].literal && kLooserLeft.count(t[i - 1].text) && !t[i + 3].literal &&
           kLooserRight.count(t[i + 3].text)) {
      t[i].text += t[i + 2].text;
      t.erase(t.begin() + i + 1, t.begin() + i + 3);
    }
  }
}

void subscripts_as_attributes(Shape& t) {
  for (size_t i = 1; i + 2 < t.size(); ++i) {
    const ShapeToken& before = t[i - 1];
    const bool subscriptable =
        !before.literal && (before.text == ")" || before.text == "]" ||
                            (is_name_start(before.text[0]) && !kKeywords.count(before.text)));
    const std::string& key = t[i + 1].text;
    bool name = t[i + 1].literal && !key.empty() && is_name_start(key[0]);
    for (char c : key) name = name && is_name_char(c);
    if (subscriptable && is_op(t[i], "[") && name && is_op(t[i + 2], "]")) {
      t[i] = op(".");
      t[i + 1] = op(key);
      t.erase(t.begin() + i + 2);
    }
  }
}

void split_output_chains(Shape& t) {
  Shape out;
  for (size_t i = 0; i < t.size(); ++i) {
    if (!is_op(t[i], "{{")) {
      out.push_back(t[i]);
      continue;
    }
    size_t end = i + 1;
    while (!is_op(t[end], "}}")) ++end;  // outputs hold no }} (the lexer closed them there)
    std::vector<Shape> parts(1);
    bool chain = true;
    int depth = 0;
    for (size_t k = i + 1; k < end; ++k) {
      const ShapeToken& x = t[k];
      if (!x.literal && (x.text == "(" || x.text == "[" || x.text == "{")) ++depth;
      if (!x.literal && (x.text == ")" || x.text == "]" || x.text == "}")) --depth;
      if (depth == 0 && !x.literal && kNotAChain.count(x.text)) chain = false;
      if (depth == 0 && is_op(x, "+"))
        parts.emplace_back();
      else
        parts.back().push_back(x);
    }
    for (const Shape& p : parts) chain = chain && !p.empty();
    if (!chain) parts.assign(1, Shape(t.begin() + i + 1, t.begin() + end));
    for (const Shape& p : parts) {
      out.push_back(op("{{"));
      out.insert(out.end(), p.begin(), p.end());
      out.push_back(op("}}"));
    }
    i = end;
  }
  t = std::move(out);
}

void merge_literal_outputs(Shape& t) {
  Shape out;
  for (size_t i = 0; i < t.size(); ++i) {
    const bool literal_output =
        is_op(t[i], "{{") && i + 2 < t.size() && t[i + 1].literal && is_op(t[i + 2], "}}");
    if (!literal_output) {
      out.push_back(t[i]);
      continue;
    }
    const size_t n = out.size();
    if (n >= 3 && is_op(out[n - 3], "{{") && out[n - 2].literal && is_op(out[n - 1], "}}"))
      out[n - 2].text += t[i + 1].text;
    else if (!t[i + 1].text.empty())
      out.insert(out.end(), t.begin() + i, t.begin() + i + 3);
    i += 2;
  }
  t = std::move(out);
}

}  // namespace

std::optional<Shape> jinja_shape(std::string_view template_text) {
  if (utf8_valid_prefix(template_text) != template_text.size()) return std::nullopt;
  // Jinja reads every line end as \n, and drops one at the very end (keep_trailing_newline).
  std::string s;
  s.reserve(template_text.size());
  for (size_t i = 0; i < template_text.size(); ++i) {
    const char c = template_text[i];
    if (c == '\r' && i + 1 < template_text.size() && template_text[i + 1] == '\n') continue;
    s += c == '\r' ? '\n' : c;
  }
  if (!s.empty() && s.back() == '\n') s.pop_back();
  std::optional<Shape> t = Lexer(s).run();
  if (!t) return std::nullopt;
  fold_literals(*t);
  subscripts_as_attributes(*t);
  split_output_chains(*t);
  merge_literal_outputs(*t);
  return t;
}

}  // namespace neft::tokenizer
