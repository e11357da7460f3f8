#include "launch/command_options.h"

#include <boost/program_options.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "runtime/error.h"
#include "runtime/text.h"

namespace po = boost::program_options;

namespace neft::launch {

namespace {

constexpr size_t kHelpWidth = 80;
constexpr size_t kSynopsisColumn = 26;  // where help text starts after "  --option VALUE"
const char* const kPositionalKey = "positional-arguments";

// The shortest "%g" text that reads back to the same double: 0.0003 rather than 3e-04.
std::string format_number(double v) {
  char buf[64];
  // Whole numbers as such: %.1g would write 300 as "3e+02".
  if (v == std::floor(v) && std::abs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

// Joins words that wrap() must keep on one line ("[default: tiny]").
constexpr char kGlue = '\x01';

// Greedy word wrap of `text` into lines of at most `width` characters.
std::vector<std::string> wrap(const std::string& text, size_t width) {
  std::vector<std::string> lines;
  std::istringstream words(text);
  std::string word, line;
  while (words >> word) {
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      lines.push_back(line);
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  if (!line.empty()) lines.push_back(line);
  for (std::string& l : lines) std::replace(l.begin(), l.end(), kGlue, ' ');
  return lines;
}

// One "  --name VALUE   help..." entry of the help page, the help wrapped in its column.
std::string help_entry(const std::string& synopsis, const std::string& help) {
  std::string out = "  " + synopsis;
  const std::vector<std::string> lines = wrap(help, kHelpWidth - kSynopsisColumn);
  const bool fits = out.size() + 2 <= kSynopsisColumn;
  if (!fits) out += "\n";
  for (size_t i = 0; i < lines.size(); ++i) {
    const size_t indent = (i == 0 && fits) ? kSynopsisColumn - out.size() : kSynopsisColumn;
    out += std::string(indent, ' ') + lines[i] + "\n";
  }
  if (lines.empty()) out += "\n";
  return out;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitution = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      diagonal = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitution});
    }
  }
  return row[b.size()];
}

// "file:line: " or "file: " for messages about a config file; "" for the command line.
std::string location_prefix(const ValueSource& source) {
  if (source.file.empty()) return "";
  return source.file + (source.line > 0 ? ":" + std::to_string(source.line) : "") + ": ";
}

// How a message names an option: "--steps" on the command line (or as a default), "key
// 'steps'" in a config file.
std::string option_reference(const std::string& name, const ValueSource& source) {
  return source.file.empty() ? "--" + name : "key '" + name + "'";
}

// The keys of a config file, line by line, read the way po::parse_config_file reads them
// ('#' starts a comment, "[section]" prefixes the keys below it with "section."), so that a
// key po reports can be traced back to its line.
struct ConfigLine {
  std::string key;  // empty for a line that is neither blank, a section nor `key = value`
  std::string text;
  int number = 0;
};

std::vector<ConfigLine> scan_config_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<ConfigLine> lines;
  std::string line, prefix;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.find('\0') != std::string::npos)
      fail(path, ":", number, ": NUL byte (an options file is text)");
    std::string s = trim(line.substr(0, line.find('#')));
    if (s.empty()) continue;
    if (s.front() == '[' && s.back() == ']') {
      prefix = s.substr(1, s.size() - 2);
      if (!prefix.empty() && prefix.back() != '.') prefix += '.';
      continue;
    }
    const auto eq = s.find('=');
    lines.push_back({eq == std::string::npos ? "" : prefix + trim(s.substr(0, eq)), s, number});
  }
  return lines;
}

// The line of the `occurrence`-th (0-based) appearance of `key`, 0 when not found.
int config_line_of(const std::vector<ConfigLine>& lines, const std::string& key,
                   size_t occurrence = 0) {
  for (const ConfigLine& line : lines)
    if (line.key == key && occurrence-- == 0) return line.number;
  return 0;
}

}  // namespace

// --- Option ------------------------------------------------------------------------------

const char* option_group_title(OptionGroup group) {
  switch (group) {
    case OptionGroup::model:
      return "Model";
    case OptionGroup::data:
      return "Data";
    case OptionGroup::training:
      return "Training";
    case OptionGroup::parallelism:
      return "Parallelism";
    case OptionGroup::optimizer:
      return "Optimizer";
    case OptionGroup::evaluation:
      return "Evaluation";
    case OptionGroup::generation:
      return "Generation";
    case OptionGroup::checkpointing:
      return "Checkpointing";
    case OptionGroup::output:
      return "Output";
  }
  return "Options";
}

Option::Option(OptionGroup group, std::string name, Field field, std::string help, std::string hint)
    : group_(group),
      name_(std::move(name)),
      field_(field),
      help_(std::move(help)),
      hint_(std::move(hint)) {
  default_text_ = value_text();
  value_name_ = std::visit(
      [](auto* f) -> std::string {
        using T = std::remove_pointer_t<decltype(f)>;
        if constexpr (std::is_same_v<T, std::string>) return "STR";
        if constexpr (std::is_same_v<T, double>) return "NUM";
        return "N";
      },
      field_);
}

Option& Option::at_least(double bound) {
  at_least_ = bound;
  return *this;
}
Option& Option::above(double bound) {
  above_ = bound;
  return *this;
}
Option& Option::below(double bound) {
  below_ = bound;
  return *this;
}
Option& Option::one_of(std::vector<std::string> choices) {
  choices_ = std::move(choices);
  value_name_.clear();
  for (const std::string& c : choices_) value_name_ += (value_name_.empty() ? "" : "|") + c;
  return *this;
}
Option& Option::not_empty() {
  not_empty_ = true;
  return *this;
}
Option& Option::value_name(std::string name) {
  value_name_ = std::move(name);
  return *this;
}

std::string Option::value_text() const {
  return std::visit(
      [](auto* f) -> std::string {
        using T = std::remove_pointer_t<decltype(f)>;
        if constexpr (std::is_same_v<T, std::string>)
          return *f;
        else if constexpr (std::is_same_v<T, bool>)
          return *f ? "true" : "false";
        else if constexpr (std::is_same_v<T, double>)
          return format_number(*f);
        else
          return std::to_string(*f);
      },
      field_);
}

std::string Option::synopsis() const {
  return "--" + name_ + (is_switch() ? "" : " " + value_name_);
}

std::string Option::full_help() const {
  if (is_switch() || default_text_.empty()) return help_;
  return help_ + " [default:" + kGlue + default_text_ + "]";
}

void Option::assign(const std::string& text, const ValueSource& source) {
  source_ = source;
  const auto bad = [&](const std::string& reason) {
    fail(location_prefix(source), "bad value '", text, "' for ", option_reference(name_, source),
         ": ", reason, "; ", hint_);
  };
  // Whole-text numeric parse: "12abc", "" and "1e3" for an integer are all mistakes.
  const auto parse_number = [&](auto* out, const char* expected) {
    const char* end = text.data() + text.size();
    const auto [stop, ec] = std::from_chars(text.data(), end, *out);
    if (ec == std::errc::result_out_of_range) bad("out of range");
    if (ec != std::errc() || stop != end) bad(expected);
  };
  std::visit(
      [&](auto* f) {
        using T = std::remove_pointer_t<decltype(f)>;
        if constexpr (std::is_same_v<T, std::string>) {
          *f = text;
        } else if constexpr (std::is_same_v<T, bool>) {
          static const std::map<std::string, bool> words = {
              {"true", true},   {"yes", true}, {"on", true},   {"1", true},
              {"false", false}, {"no", false}, {"off", false}, {"0", false}};
          const auto it = words.find(text);
          if (it == words.end()) bad("expected true or false");
          *f = it->second;
        } else if constexpr (std::is_same_v<T, double>) {
          parse_number(f, "expected a number");
          if (!std::isfinite(*f)) bad("expected a finite number");
        } else if constexpr (std::is_same_v<T, uint64_t>) {
          parse_number(f, "expected a non-negative integer");
        } else {
          parse_number(f, "expected an integer");
        }
      },
      field_);
  check();
}

void Option::check() const {
  if (not_empty_ && value_text().empty()) reject("must not be empty");
  if (!choices_.empty() &&
      std::find(choices_.begin(), choices_.end(), value_text()) == choices_.end()) {
    std::string list;
    for (const std::string& c : choices_) list += (list.empty() ? "" : ", ") + c;
    reject("expected one of " + list);
  }
  const double v = std::visit(
      [](auto* f) -> double {
        using T = std::remove_pointer_t<decltype(f)>;
        if constexpr (std::is_arithmetic_v<T>) return double(*f);
        return 0.0;
      },
      field_);
  if (at_least_ && !(v >= *at_least_)) reject("must be at least " + format_number(*at_least_));
  if (above_ && !(v > *above_)) reject("must be greater than " + format_number(*above_));
  if (below_ && !(v < *below_)) reject("must be less than " + format_number(*below_));
}

void Option::reject(const std::string& reason) const {
  fail(location_prefix(source_), "bad value '", value_text(), "'",
       source_.given ? "" : " (the default)", " for ", option_reference(name_, source_), ": ",
       reason, "; ", hint_);
}

// --- CommandOptions ----------------------------------------------------------------------

CommandOptions::CommandOptions(std::string command, std::string description)
    : command_(std::move(command)), description_(std::move(description)) {}

Option& CommandOptions::add_option(OptionGroup group, const std::string& name, Option::Field field,
                                   const std::string& help) {
  NEFT_CHECK(std::none_of(options_.begin(), options_.end(),
                          [&](const Option& o) { return o.name() == name; }),
             "option --", name, " declared twice for neft ", command_);
  return options_.emplace_back(group, name, field, help, help_hint());
}

Option& CommandOptions::add(OptionGroup group, const std::string& name, std::string* field,
                            const std::string& help) {
  return add_option(group, name, field, help);
}
Option& CommandOptions::add(OptionGroup group, const std::string& name, int64_t* field,
                            const std::string& help) {
  return add_option(group, name, field, help);
}
Option& CommandOptions::add(OptionGroup group, const std::string& name, uint64_t* field,
                            const std::string& help) {
  return add_option(group, name, field, help);
}
Option& CommandOptions::add(OptionGroup group, const std::string& name, double* field,
                            const std::string& help) {
  return add_option(group, name, field, help);
}
Option& CommandOptions::add_switch(OptionGroup group, const std::string& name, bool* field,
                                   const std::string& help) {
  return add_option(group, name, field, help);
}

Option& CommandOptions::find(const std::string& name) {
  for (Option& o : options_)
    if (o.name() == name) return o;
  fail("neft ", command_, " has no option --", name);
}

const Option& CommandOptions::option(const std::string& name) const {
  return const_cast<CommandOptions*>(this)->find(name);
}

std::string CommandOptions::help_hint() const { return "try `neft " + command_ + " --help`"; }

std::string CommandOptions::help() const {
  std::string out = "usage: neft " + command_ + " [--config FILE] [options]\n\n";
  for (const std::string& line : wrap(description_, kHelpWidth)) out += line + "\n";
  out += "\n";
  for (const std::string& line :
       wrap("Options on the command line override those in the config file, which has one "
            "`name = value` line per option (names as below, without the dashes; # starts a "
            "comment).",
            kHelpWidth))
    out += line + "\n";
  out += "\nGeneral:\n";
  out += help_entry("--config FILE", "read options from FILE");
  out += help_entry("-h, --help", "print this help and exit");
  for (int g = 0; g <= int(OptionGroup::output); ++g) {
    const auto group = OptionGroup(g);
    std::string entries;
    for (const Option& o : options_)
      if (o.group() == group) entries += help_entry(o.synopsis(), o.full_help());
    if (!entries.empty()) out += "\n" + std::string(option_group_title(group)) + ":\n" + entries;
  }
  return out;
}

std::string CommandOptions::config_text() const {
  std::string out = "# neft " + command_ + " options\n";
  for (int g = 0; g <= int(OptionGroup::output); ++g) {
    const auto group = OptionGroup(g);
    std::string lines;
    for (const Option& o : options_)
      if (o.group() == group) lines += o.name() + " = " + o.value_text() + "\n";
    if (!lines.empty()) out += "\n# " + std::string(option_group_title(group)) + "\n" + lines;
  }
  return out;
}

bool CommandOptions::parse(const std::vector<std::string>& args, std::ostream& help_out) {
  if (std::any_of(args.begin(), args.end(),
                  [](const std::string& a) { return a == "--help" || a == "-h"; })) {
    help_out << help();
    return false;
  }
  const std::string hint = help_hint();

  // Every option takes its value as text; Option::assign types and checks it, so the
  // messages name the option and the file line the value came from.
  po::options_description file_options;
  for (const Option& o : options_) {
    auto* value = po::value<std::string>();
    if (o.is_switch()) value->implicit_value("true");
    file_options.add_options()(o.name().c_str(), value);
  }
  po::options_description command_line_options;
  command_line_options.add(file_options);
  command_line_options.add_options()("config", po::value<std::string>())(
      kPositionalKey, po::value<std::vector<std::string>>());
  po::positional_options_description positional;
  positional.add(kPositionalKey, -1);

  // No abbreviations (`--step` must not silently mean `--steps`), no short options.
  const int style = po::command_line_style::allow_long |
                    po::command_line_style::long_allow_adjacent |
                    po::command_line_style::long_allow_next;
  po::parsed_options command_line(&command_line_options);
  try {
    command_line = po::command_line_parser(args)
                       .options(command_line_options)
                       .positional(positional)
                       .style(style)
                       .run();
  } catch (const po::unknown_option& e) {
    const std::string given = e.get_option_name();
    std::string suggestion;
    // Suggest only names within two edits that keep part of the name (--lr is not --tp).
    size_t best = 3;
    for (const Option& o : options_) {
      const size_t d = edit_distance(given, "--" + o.name());
      if (d < best && d < o.name().size()) best = d, suggestion = "--" + o.name();
    }
    fail("unknown option '", given, "'",
         suggestion.empty() ? "" : " (did you mean " + suggestion + "?)", "; ", hint);
  } catch (const po::error& e) {
    fail(e.what(), "; ", hint);
  }

  std::vector<const po::option*> from_command_line;
  std::string config_path;
  for (const po::option& o : command_line.options) {
    if (o.string_key == kPositionalKey)
      fail("unexpected argument '", o.value.front(), "' (options are --name value); ", hint);
    if (o.string_key == "config") {
      if (!config_path.empty()) fail("--config given twice; ", hint);
      config_path = o.value.front();
      if (config_path.empty()) fail("--config needs a file name; ", hint);
    } else {
      from_command_line.push_back(&o);
    }
  }

  // Values are assigned file first, then command line, so the command line wins.
  if (!config_path.empty()) {
    // A directory opens as a stream that reads nothing, /dev/zero as one that never ends.
    std::error_code ec;
    const auto status = std::filesystem::status(config_path, ec);
    if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status))
      fail("config file '", config_path, "' is ",
           std::filesystem::is_directory(status) ? "a directory" : "not a regular file", "; ",
           hint);
    constexpr uintmax_t kMaxConfigBytes = 1 << 20;
    if (const uintmax_t bytes = std::filesystem::file_size(config_path, ec);
        !ec && bytes > kMaxConfigBytes)
      fail("config file '", config_path, "' is ", bytes, " bytes, more than the ", kMaxConfigBytes,
           " an options file can need; ", hint);
    std::ifstream in(config_path);
    if (!in) fail("cannot read config file '", config_path, "'; ", hint);
    const std::vector<ConfigLine> lines = scan_config_lines(config_path);
    po::parsed_options from_file(&file_options);
    try {
      from_file = po::parse_config_file(in, file_options, false);
    } catch (const po::unknown_option& e) {
      const std::string key = e.get_option_name();
      fail(location_prefix({config_path, config_line_of(lines, key)}), "unknown key '", key, "'; ",
           hint);
    } catch (const po::invalid_config_file_syntax& e) {
      int line = 0;
      for (const ConfigLine& l : lines)
        if (l.key.empty() && l.text == e.tokens()) line = l.number;
      fail(location_prefix({config_path, line}), "expected `name = value`, got '", e.tokens(),
           "'; ", hint);
    } catch (const po::error& e) {
      fail(config_path, ": ", e.what(), "; ", hint);
    }
    std::map<std::string, size_t> seen;
    for (const po::option& o : from_file.options) {
      const size_t occurrence = seen[o.string_key]++;
      const ValueSource source{config_path, config_line_of(lines, o.string_key, occurrence), true};
      if (occurrence > 0)
        fail(location_prefix(source), "key '", o.string_key, "' given twice (first on line ",
             config_line_of(lines, o.string_key), "); ", hint);
      find(o.string_key).assign(o.value.empty() ? "" : o.value.front(), source);
    }
  }

  std::map<std::string, int> seen;
  for (const po::option* o : from_command_line) {
    if (seen[o->string_key]++ > 0) fail("--", o->string_key, " given twice; ", hint);
    Option& option = find(o->string_key);
    const std::string text = o->value.empty() ? "" : o->value.front();
    // A bare `--resume` arrives without a value (po applies implicit values only when
    // storing, which this parser does not use).
    option.assign(option.is_switch() && text.empty() ? "true" : text, {"", 0, true});
  }
  return true;
}

std::vector<std::string> split_positional(const std::vector<std::string>& args,
                                          std::vector<std::string>& positional) {
  std::vector<std::string> options;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      options.push_back(a);
    } else if (a.rfind("--", 0) == 0) {
      options.push_back(a);
      if (a.find('=') == std::string::npos && i + 1 < args.size()) options.push_back(args[++i]);
    } else {
      positional.push_back(a);
    }
  }
  return options;
}

}  // namespace neft::launch
