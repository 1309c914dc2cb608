#!/usr/bin/env bash
# Installs the Debian 12 packages lrkv builds with (libcpp-httplib-dev: `lrkv serve`). Idempotent; uses sudo when not root.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PKGS=(g++ cmake ninja-build pkg-config libopenblas-dev liblapacke-dev nlohmann-json3-dev
      libcli11-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev libpng-dev libbz2-dev
      libcpp-httplib-dev clang libclang-rt-14-dev)  # clang + its libFuzzer/ASan/UBSan runtimes: scripts/fuzz.sh
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
