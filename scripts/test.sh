#!/usr/bin/env bash
# Installs what Vigil's tests need, builds with warnings as errors, installs the pinned
# Node test client (official openai SDK), and runs every test through CTest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${VIGIL_BUILD_DIR:-$root/build}
"$root/installers/install-deps.sh" --test
"$root/scripts/build.sh" -DVIGIL_WERROR=ON -DVIGIL_BUILD_TESTS=ON
(cd "$root/tests/integration/node" && npm ci --no-audit --no-fund --loglevel=error)
cd "$build"
ctest --output-on-failure --timeout 600
