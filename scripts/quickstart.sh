#!/usr/bin/env bash
# A new user's first command: install dependencies, build, run the main job.
# (For now the main job is the op benchmark; training replaces it in later releases.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec build/benchmarks/neft_op_bench "$@"
