#!/usr/bin/env bash
# Installs what Vigil's tests need, builds with warnings as errors, installs the pinned
# Node test client (official openai SDK), and runs every test through CTest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${VIGIL_BUILD_DIR:-$root/build}
"$root/installers/install-deps.sh" --test
"$root/scripts/build.sh" -DVIGIL_WERROR=ON -DVIGIL_BUILD_TESTS=ON
for dir in tests/integration/node tests/integration/idp; do
  (cd "$root/$dir" && npm ci --no-audit --no-fund --loglevel=error)
done
cd "$build"
ctest --output-on-failure --timeout 600
