#!/usr/bin/env bash
# Fuzzes the project's file readers (tests/fuzz/): builds the libFuzzer targets into
# ./build-fuzz (clang, ASan and UBSan) and runs each for SECONDS (default 60), two at a time,
# on a scratch copy of its seed corpus (tests/fuzz/corpus/<target>/, never written to).
# Prints one line per target and exits non-zero when any found a crash, a sanitizer report,
# a leak, a timeout or an exception other than the project's own; the input that did it is
# kept in build-fuzz/artifacts/<target>/, the target's output in build-fuzz/fuzz-logs/.
#   scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. scripts/fuzz.sh 300 fuzz_config
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

seconds=${1:-60}
[ $# -gt 0 ] && shift
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2
  exit 2
fi
known=()
for f in tests/fuzz/fuzz_*.cpp; do known+=("$(basename "$f" .cpp)"); done
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${known[@]}")
for t in "${targets[@]}"; do
  if [[ " ${known[*]} " != *" $t "* ]]; then
    echo "fuzz: unknown target '$t' (known: ${known[*]})" >&2
    exit 2
  fi
done

scripts/install-deps.sh
build=build-fuzz
mkdir -p "$build"
start=$SECONDS
CC=clang CXX=clang++ cmake -S . -B "$build" -DNEFT_FUZZ=ON -DNEFT_CUDA=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/configure.log" 2>&1 ||
  { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"
echo "fuzz: built in $((SECONDS - start)) s"

artifacts=$root/$build/artifacts logs=$root/$build/fuzz-logs
mkdir -p "$artifacts" "$logs"
# The inputs the targets write for their readers, and the corpora they grow, live here.
scratch=$(mktemp -d /dev/shm/neft-fuzz.XXXXXX 2>/dev/null || mktemp -d)
trap 'jobs -pr | xargs -r kill 2>/dev/null; rm -rf "$scratch"' EXIT

# Runs one target; its line goes to stdout, its status to $scratch/<target>.failed if it failed.
fuzz_one() {
  local t=$1 log=$logs/$1.log
  mkdir -p "$scratch/$t/corpus" "$scratch/$t/tmp" "$artifacts/$t"
  cp tests/fuzz/corpus/"$t"/* "$scratch/$t/corpus/"
  if TMPDIR="$scratch/$t/tmp" OMP_NUM_THREADS=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$build/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts/$t/" "$scratch/$t/corpus" >"$log" 2>&1; then
    echo "fuzz: $t ok ($(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log") runs in $seconds s)"
  else
    local crash
    crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    echo "fuzz: $t FAILED: ${crash:-no input saved} (output: $log)"
    touch "$scratch/$t.failed"
  fi
}

for t in "${targets[@]}"; do
  while [ "$(jobs -pr | wc -l)" -ge 2 ]; do wait -n || true; done
  fuzz_one "$t" &
done
wait

failed=0
for t in "${targets[@]}"; do [ -e "$scratch/$t.failed" ] && failed=$((failed + 1)); done
if [ $failed -gt 0 ]; then
  echo "fuzz: $failed of ${#targets[@]} targets FAILED"
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ok"
