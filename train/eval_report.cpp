#include "train/eval_report.h"

#include <cstdio>

namespace neft::train {

namespace {

bool any_choices(const std::vector<TaskScore>& scores) {
  for (const TaskScore& s : scores)
    if (s.choice_items) return true;
  return false;
}

bool any_examples(const std::vector<TaskScore>& scores) {
  for (const TaskScore& s : scores)
    if (s.examples) return true;
  return false;
}

std::string format(const char* fmt, auto... args) {
  char buf[256];
  std::snprintf(buf, sizeof buf, fmt, args...);
  return buf;
}

std::string percent(double x) { return format("%.1f%%", 100.0 * x); }

// The mean over the tasks that have that kind of item.
TaskScore mean_of(const std::vector<TaskScore>& scores) {
  TaskScore m{"mean"};
  int64_t with_examples = 0, with_choices = 0;
  for (const TaskScore& s : scores) {
    if (s.examples) {
      ++with_examples;
      m.examples += s.examples;
      m.loss += s.loss;
      m.accuracy += s.accuracy;
    }
    if (s.choice_items) {
      ++with_choices;
      m.choice_items += s.choice_items;
      m.choice_accuracy += s.choice_accuracy;
      m.choice_accuracy_norm += s.choice_accuracy_norm;
    }
  }
  if (with_examples) m.loss /= double(with_examples), m.accuracy /= double(with_examples);
  if (with_choices)
    m.choice_accuracy /= double(with_choices), m.choice_accuracy_norm /= double(with_choices);
  return m;
}

}  // namespace

nlohmann::json score_json(const TaskScore& s) {
  nlohmann::json j = {{"examples", s.examples}, {"loss", s.loss}, {"accuracy", s.accuracy}};
  if (s.choice_items) {
    j["choice_items"] = s.choice_items;
    j["choice_accuracy"] = s.choice_accuracy;
    j["choice_accuracy_norm"] = s.choice_accuracy_norm;
  }
  return j;
}

std::string score_table(const std::vector<TaskScore>& scores) {
  const bool examples = any_examples(scores), choices = any_choices(scores);
  std::string out = format("%-12s", "task");
  if (examples) out += format(" %9s %9s %9s", "examples", "loss", "exact");
  if (choices) out += format(" %9s %9s %9s", "choices", "acc", "acc_norm");
  out += "\n";
  std::vector<TaskScore> rows = scores;
  if (scores.size() > 1) rows.push_back(mean_of(scores));
  for (const TaskScore& s : rows) {
    out += format("%-12s", s.task.c_str());
    if (examples)
      out += s.examples ? format(" %9lld %9.4f %9s", (long long)s.examples, s.loss,
                                 percent(s.accuracy).c_str())
                        : format(" %9s %9s %9s", "", "", "");
    if (choices)
      out += s.choice_items ? format(" %9lld %9s %9s", (long long)s.choice_items,
                                     percent(s.choice_accuracy).c_str(),
                                     percent(s.choice_accuracy_norm).c_str())
                            : format(" %9s %9s %9s", "", "", "");
    out += "\n";
  }
  return out;
}

std::string before_after_table(const std::vector<TaskScore>& before,
                               const std::vector<TaskScore>& after) {
  const bool choices = any_choices(after), examples = any_examples(after);
  std::string out = format("%-12s", "task");
  if (examples) out += format(" %21s %21s", "loss before -> after", "exact before -> after");
  if (choices) out += format(" %21s", "acc before -> after");
  out += "\n";
  std::vector<TaskScore> b = before, a = after;
  if (after.size() > 1) b.push_back(mean_of(before)), a.push_back(mean_of(after));
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    out += format("%-12s", a[i].task.c_str());
    if (examples)
      out += format(" %9.4f -> %-8.4f %9s -> %-8s", b[i].loss, a[i].loss,
                    percent(b[i].accuracy).c_str(), percent(a[i].accuracy).c_str());
    if (choices)
      out += format(" %9s -> %-8s", percent(b[i].choice_accuracy).c_str(),
                    percent(a[i].choice_accuracy).c_str());
    out += "\n";
  }
  return out;
}

}  // namespace neft::train
