// The `neft` command line: `neft <command> [options]` dispatch to the subcommands, the
// top-level --help and --version, and the one place where an error becomes a one-line
// message and an exit status. In the library (not main.cpp) so tests can drive it.
#pragma once
#include <ostream>
#include <string>
#include <vector>

namespace neft::launch {

// Runs `neft` with `args` (argv without the program name); returns the exit status.
// Regular output goes to `out`, error messages to `err`.
int run_neft(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// Prints "neft <command>: error: <message>" (one line) and returns the exit status. In a job
// of more than one rank it prints "neft: rank R: <command>: error: <message>" instead and
// ends the whole job (parallel::abort_job), so no rank is left waiting for this one.
int report_fatal_error(const std::string& command, const std::string& message, std::ostream& err);

// "neft 0.1.0 (CUDA backend: ...)".
std::string version_text();

}  // namespace neft::launch
