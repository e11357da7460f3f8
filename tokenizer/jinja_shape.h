// The shape of a Jinja chat template: its tokens once every spelling that cannot change what it
// renders is made one, so that two spellings of the same template compare equal token by token
// (chat_template.cpp compares a model's template with the ones neft renders natively).
//
// What is made one, in transformers' environment (trim_blocks, lstrip_blocks, no trailing
// newline kept), each exactly as Jinja's lexer does it:
// - text between tags: after whitespace control ({%- -%} {{- -}}, the first newline after a
//   block or comment tag, blanks before a block tag that starts a line, one final newline) what
//   is left is written out, so it becomes an output of a literal; comments are dropped;
// - inside tags: whitespace, the quote style and escapes (a literal is its value: '\n' and a
//   real newline are the same), x['name'] and x.name;
// - literals joined with +, where nothing binds tighter on either side ('a' + 'b' = 'ab');
// - {{ a + b + c }} (a chain of + and nothing else) as {{ a }}{{ b }}{{ c }}: the same text when
//   every operand is a string, as messages, literals and special tokens are; adjacent outputs of
//   literals as one, and an output of '' as nothing.
// Anything the lexer here does not know ({% raw %}, {%+ ... +%}, an escape other than
// \\ \' \" \n \t \r \a \b \f \v \xhh \uhhhh \Uhhhhhhhh, text that is not UTF-8) has no shape.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace neft::tokenizer {

struct ShapeToken {
  bool literal = false;  // a string literal: `text` is its value
  std::string text;      // otherwise a name, number, operator or {{ }} {% %}
  bool operator==(const ShapeToken&) const = default;
};
using Shape = std::vector<ShapeToken>;

std::optional<Shape> jinja_shape(std::string_view template_text);

// Python's str.isspace, which Jinja's whitespace control, its trim filter and str.strip() use:
// Unicode White_Space and the separators U+001C..U+001F (bidirectional class B or S).
bool is_python_space(char32_t c);
// `s` (UTF-8) without those around it, as Python's s.strip(); rstrip: at the end only.
std::string python_strip(std::string_view s);
std::string_view python_rstrip(std::string_view s);

}  // namespace neft::tokenizer
