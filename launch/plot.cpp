#include "launch/plot.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "runtime/error.h"

extern char** environ;

namespace neft::launch {

namespace fs = std::filesystem;

namespace {

// scripts/<name> in the source tree that holds the binary (build/launch/neft sits under it),
// else under the current directory; "" when neither has it.
std::string find_script(const std::string& name) {
  const fs::path relative = fs::path("scripts") / name;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec)
    for (fs::path d = exe.parent_path(); !d.empty() && d != d.root_path(); d = d.parent_path())
      if (fs::exists(d / relative)) return (d / relative).string();
  return fs::exists(relative) ? relative.string() : "";
}

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  for (std::string d; std::getline(dirs, d, ':');)
    if (!d.empty() && access((fs::path(d) / program).c_str(), X_OK) == 0) return true;
  return false;
}

// Its exit status, or -1 when it could not be run.
int run_gnuplot(const std::string& script, const std::vector<std::string>& script_args) {
  std::vector<std::string> args = {"gnuplot", "-c", script};
  args.insert(args.end(), script_args.begin(), script_args.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawnp(&pid, "gnuplot", nullptr, nullptr, argv.data(), environ) != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

bool draw_png(const std::string& script, const std::vector<std::string>& args,
              const std::string& png, const std::string& tsv, const std::string& command) {
  const std::string path = find_script(script);
  if (!on_path("gnuplot") || path.empty()) {
    std::printf("%s: wrote the data to %s, not drawn (install gnuplot)\n",
                !on_path("gnuplot") ? "gnuplot is not on PATH"
                                    : ("scripts/" + script + " not found").c_str(),
                tsv.c_str());
    return false;
  }
  if (run_gnuplot(path, args) != 0)
    fail(command, ": gnuplot failed to draw ", png, " from ", tsv, " (", path, ")");
  std::printf("wrote %s (data: %s)\n", png.c_str(), tsv.c_str());
  return true;
}

std::string plot_words(const std::vector<std::string>& labels) {
  std::string words;
  for (std::string l : labels) {
    l.erase(std::remove(l.begin(), l.end(), '"'), l.end());
    words += (words.empty() ? "\"" : " \"") + l + "\"";
  }
  return words;
}

}  // namespace neft::launch
