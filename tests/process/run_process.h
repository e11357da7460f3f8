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

// A process started in the background: its pid, and where its output goes.
struct Spawned {
  pid_t pid = -1;
  std::string out_path, err_path, error;
};

// Starts `argv_text` (argv_text[0] a path) with `env` added to this process's environment;
// stdout and stderr go to files in `scratch` (a directory that exists) named after `tag`.
inline Spawned spawn_process(std::vector<std::string> argv_text, const std::string& scratch,
                             const std::map<std::string, std::string>& env = {},
                             const std::string& tag = "") {
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

  Spawned s{-1, scratch + "/.stdout" + tag, scratch + "/.stderr" + tag, ""};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, s.out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, s.err_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (posix_spawn(&s.pid, argv[0], &actions, nullptr, argv.data(), envp.data()) != 0) {
    s.pid = -1;
    s.error = "cannot start " + argv_text[0];
  }
  posix_spawn_file_actions_destroy(&actions);
  return s;
}

// Waits for a spawned process to end; its output, and how it ended.
inline ProcessResult wait_process(const Spawned& s) {
  ProcessResult r;
  if (s.pid < 0) {
    r.err = s.error;
    return r;
  }
  int wstatus = 0;
  while (waitpid(s.pid, &wstatus, 0) < 0) {
  }
  r.exited = WIFEXITED(wstatus);
  r.status = r.exited ? WEXITSTATUS(wstatus) : WTERMSIG(wstatus);
  r.out = slurp(s.out_path);
  r.err = slurp(s.err_path);
  unlink(s.out_path.c_str());
  unlink(s.err_path.c_str());
  return r;
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
  return wait_process(spawn_process(argv_text, scratch, env));
}

#ifdef NEFT_MPIEXEC
// The command line of `neft` with `neft_args` under the launcher the multi-rank tests use,
// with `ranks` ranks.
inline std::vector<std::string> mpirun(const std::vector<std::string>& neft_args, int ranks = 2) {
  std::vector<std::string> argv{NEFT_MPIEXEC, NEFT_MPIEXEC_NUMPROC_FLAG, std::to_string(ranks)};
  std::istringstream flags(NEFT_MPIEXEC_FLAGS_TEXT);
  for (std::string f; flags >> f;) argv.push_back(f);
  argv.push_back(NEFT_BINARY);
  argv.insert(argv.end(), neft_args.begin(), neft_args.end());
  return argv;
}
#endif

}  // namespace neft::testing
