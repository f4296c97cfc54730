#!/usr/bin/env bash
# The README's main-job command: installs what is missing, builds kiln for this machine, and runs
# the bundled default. For now that is `kiln info` and the kernel self-check.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash tools/deps.sh --no-python
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -Wno-dev >/dev/null
cmake --build build -j "$(nproc)" --target kiln
build/bin/kiln info
build/bin/kiln selfcheck
