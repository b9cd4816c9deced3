#!/usr/bin/env bash
# Installs everything Vigil needs to build, run and test on Debian 12 (run as root, or
# with sudo available). Idempotent: packages already present are skipped by apt.
#   installers/install-deps.sh           build + run dependencies
#   installers/install-deps.sh --test    also what the test suite needs (Node.js for the
#                                        official openai SDK client, Xvfb for the console)
#   installers/install-deps.sh --bench   also what bench/ needs (wrk, nginx)
set -euo pipefail

want_test=0
want_bench=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    --bench) want_bench=1 ;;
    *) echo "install-deps.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

packages=(
  build-essential cmake ninja-build ccache pkg-config git ca-certificates curl openssl
  libboost1.81-dev nlohmann-json3-dev libssl-dev libsqlite3-dev
  qt6-base-dev libqt6websockets6-dev libqt6opengl6-dev qt6-charts-dev qt6-networkauth-dev qtkeychain-qt6-dev
)
# The regex engine of masking and of policy text conditions. On amd64, Intel's Hyperscan:
# Debian 12's Vectorscan (5.4.9) misses matches on AVX-512 machines, depending on where the
# text lies in memory (tests/unit/mask/tst_mask_quality.cpp shows it). The two conflict,
# so a Vectorscan installed before is replaced. Elsewhere only Vectorscan exists.
removals=()
if [ "$(dpkg --print-architecture)" = "amd64" ]; then
  packages+=(libhyperscan-dev)
  for p in libvectorscan-dev libvectorscan5; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' && removals+=("$p-")
  done
else
  packages+=(libvectorscan-dev)
fi
if [ "$want_test" -eq 1 ]; then
  packages+=(xvfb xauth poppler-utils python3)
  command -v node >/dev/null 2>&1 || packages+=(nodejs)
  command -v npm >/dev/null 2>&1 || packages+=(npm)
fi
if [ "$want_bench" -eq 1 ]; then
  packages+=(wrk nginx-light)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" "${removals[@]}"
