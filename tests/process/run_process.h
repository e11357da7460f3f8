// The `neft` binary run as a separate process, as a shell or a cluster would run it: tests
// that kill it, or that must see a crash as a crash (a signal) rather than lose the test
// process to it, run it this way. Its stdout and stderr go to files (not a terminal).
#pragma once
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace neft::testing {

struct ProcessResult {
  bool exited = false;  // ended by exit(); false: by a signal
  int status = -1;      // exit status, or the signal number
  std::string out, err;
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs NEFT_BINARY with `args` and `env` added to this process's environment; output is
// captured through files in `scratch` (a directory that exists). `memory_limit_kb` > 0 caps
// its address space (ulimit -v), so that a run which would exhaust the machine's memory
// exhausts its own limit instead.
inline ProcessResult run_neft_process(const std::vector<std::string>& args,
                                      const std::string& scratch,
                                      const std::map<std::string, std::string>& env = {},
                                      long memory_limit_kb = 0) {
  std::vector<std::string> argv_text{NEFT_BINARY};
  if (memory_limit_kb > 0)
    argv_text = {"/bin/sh", "-c",
                 "ulimit -v " + std::to_string(memory_limit_kb) + " && exec \"$0\" \"$@\"",
                 NEFT_BINARY};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_text) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::vector<std::string> env_text;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    if (!env.count(entry.substr(0, entry.find('=')))) env_text.push_back(entry);
  }
  for (const auto& [k, v] : env) env_text.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (std::string& e : env_text) envp.push_back(e.data());
  envp.push_back(nullptr);

  const std::string out_path = scratch + "/.stdout", err_path = scratch + "/.stderr";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  ProcessResult r;
  if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data()) != 0) {
    posix_spawn_file_actions_destroy(&actions);
    r.err = "cannot start " + argv_text[0];
    return r;
  }
  posix_spawn_file_actions_destroy(&actions);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0) {
  }
  r.exited = WIFEXITED(wstatus);
  r.status = r.exited ? WEXITSTATUS(wstatus) : WTERMSIG(wstatus);
  r.out = slurp(out_path);
  r.err = slurp(err_path);
  unlink(out_path.c_str());
  unlink(err_path.c_str());
  return r;
}

}  // namespace neft::testing
