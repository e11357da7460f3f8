// The option machinery every `neft` subcommand shares. A subcommand declares each option
// once (group, name, the struct field it fills, help text, value checks) and gets from that
// declaration: parsing of `--config FILE` plus command-line overrides (Boost.Program_options
// reads the syntax; the command line wins), typed values with range and choice checks, a
// --help page, and the effective configuration written back in the config-file format.
//
// Every user mistake is a neft::Error with one line that names the option (and the config
// file and line when the value came from there) and ends with "try `neft <cmd> --help`".
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <variant>
#include <vector>

#include "runtime/text.h"  // split_list, for the option values that are lists

namespace neft::launch {

// Sections of the --help page, in this order.
enum class OptionGroup {
  model,
  data,
  training,
  parallelism,
  optimizer,
  evaluation,
  generation,
  checkpointing,
  output
};
const char* option_group_title(OptionGroup group);

// Where a value came from, for error messages.
struct ValueSource {
  std::string file;  // empty: the command line (or the default, when !given)
  int line = 0;      // 1-based line in `file`, 0 when unknown
  bool given = false;
};

// One declared option, bound to a field of the caller's options struct. The field's value at
// declaration time is the default. The setters return *this so a declaration reads as one
// statement: `table.add(OptionGroup::training, "steps", &o.steps, "...").at_least(1);`
class Option {
 public:
  using Field = std::variant<std::string*, int64_t*, uint64_t*, double*, bool*>;

  // hint: the "try `neft <cmd> --help`" that ends every error about this option.
  Option(OptionGroup group, std::string name, Field field, std::string help, std::string hint);

  Option& at_least(double bound);  // value >= bound
  Option& above(double bound);     // value > bound
  Option& below(double bound);     // value < bound
  Option& one_of(std::vector<std::string> choices);
  Option& not_empty();
  Option& value_name(std::string name);  // the placeholder in --help: N, DIR, FILE, ...

  const std::string& name() const { return name_; }
  OptionGroup group() const { return group_; }
  bool is_switch() const { return std::holds_alternative<bool*>(field_); }
  const ValueSource& source() const { return source_; }
  // The field's current value as text (what a config file would say).
  std::string value_text() const;
  // The usage text: "--steps N", "--device cpu|cuda", "--resume".
  std::string synopsis() const;
  // The help text with the choices and the default appended.
  std::string full_help() const;

  // Converts `text` into the field and checks it; fails naming `source`.
  void assign(const std::string& text, const ValueSource& source);
  // Fails with "bad value '<current>' for <option>: <reason>", naming where the value came
  // from (for checks that involve several options, made after parsing).
  [[noreturn]] void reject(const std::string& reason) const;

 private:
  void check() const;

  OptionGroup group_;
  std::string name_;
  Field field_;
  std::string help_;
  std::string hint_;
  std::string default_text_;
  std::string value_name_;
  std::optional<double> at_least_, above_, below_;
  std::vector<std::string> choices_;
  bool not_empty_ = false;
  ValueSource source_;
};

// The declared options of one subcommand.
class CommandOptions {
 public:
  // command: "train"; description: the paragraph --help prints under the usage line.
  CommandOptions(std::string command, std::string description);
  CommandOptions(const CommandOptions&) = delete;
  CommandOptions& operator=(const CommandOptions&) = delete;

  Option& add(OptionGroup group, const std::string& name, std::string* field,
              const std::string& help);
  Option& add(OptionGroup group, const std::string& name, int64_t* field, const std::string& help);
  Option& add(OptionGroup group, const std::string& name, uint64_t* field, const std::string& help);
  Option& add(OptionGroup group, const std::string& name, double* field, const std::string& help);
  // An on/off flag: `--resume` on the command line, `resume = true` in a config file.
  Option& add_switch(OptionGroup group, const std::string& name, bool* field,
                     const std::string& help);

  // Parses the arguments after the subcommand name into the bound fields: first the file
  // of `--config FILE` (when given), then the command line over it. Returns false, having
  // printed the help page to `help_out`, when `--help` / `-h` is among the arguments.
  bool parse(const std::vector<std::string>& args, std::ostream& help_out);

  const Option& option(const std::string& name) const;
  const std::string& command() const { return command_; }
  // "try `neft train --help`", the tail of every error message.
  std::string help_hint() const;
  // The --help page.
  std::string help() const;
  // Every option as `name = value` lines grouped under comments: a config file that parses
  // back to the current values.
  std::string config_text() const;

 private:
  Option& add_option(OptionGroup group, const std::string& name, Option::Field field,
                     const std::string& help);
  Option& find(const std::string& name);

  std::string command_;
  std::string description_;
  std::deque<Option> options_;  // a deque: references handed out by add() stay valid
};

// For commands that take plain arguments as well as options (`neft report RUN...`, `neft
// analyze overlap SET...`), which the option table refuses: moves them into `positional` and
// returns the options (every such command's options take a value, so the word after an
// option without '=' is its value).
std::vector<std::string> split_positional(const std::vector<std::string>& args,
                                          std::vector<std::string>& positional);

// A subcommand's options from its arguments: `declare` binds the option table to a fresh
// struct, `check` makes the checks that involve several options (and fills the values that
// depend on whether an option was given). std::nullopt after printing --help.
template <class Options>
std::optional<Options> parse_command(std::unique_ptr<CommandOptions> (*declare)(Options&),
                                     void (*check)(const CommandOptions&, Options&),
                                     const std::vector<std::string>& args, std::ostream& out) {
  Options options;
  const std::unique_ptr<CommandOptions> table = declare(options);
  if (!table->parse(args, out)) return std::nullopt;
  check(*table, options);
  return options;
}

// Parse, then run; 0 when --help printed the page instead.
template <class Options>
int parse_and_run(std::optional<Options> (*parse)(const std::vector<std::string>&, std::ostream&),
                  int (*run)(const Options&), const std::vector<std::string>& args,
                  std::ostream& out) {
  const std::optional<Options> options = parse(args, out);
  return options ? run(*options) : 0;
}

}  // namespace neft::launch
