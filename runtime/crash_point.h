// Fault injection for the kill tests (tests/e2e/test_kill_resume.cpp): every step of a save
// that leaves the disk in a new state calls crash_point(). With NEFT_CRASH_AT=N in the
// environment the N-th call (from 1) in this process kills it with SIGKILL, as a node failure
// or the OOM killer would; NEFT_CRASH_TRACE=1 prints each call ("neft: crash point 3:
// checkpoint renamed") to stderr so a test can count them and spread its kills over them.
// In a multi-rank job NEFT_CRASH_RANK=r limits both to rank r (the others run on; the launcher
// then ends them wherever they are). Unset, a call costs one comparison.
#pragma once

namespace neft {

void crash_point(const char* what);

}  // namespace neft
