#!/usr/bin/env bash
# A new user's first command: install dependencies, build, then the main job: train the
# tiny preset on the built-in synthetic tasks (examples/train-synthetic.ini) and evaluate
# it on held-out examples. Extra arguments go to `neft train` (e.g. --steps 500).
# Run it again and it resumes (or, when finished, just evaluates) rather than starting over.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
out=runs/quickstart
build/launch/neft train --config examples/train-synthetic.ini --out "$out" --resume "$@"
build/launch/neft eval --model "$out/model"
