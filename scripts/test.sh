#!/usr/bin/env bash
# The test command (README, .ci/run): install deps, build, run the unit tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 900
# Fuzzing regression (fuzz/, scripts/fuzz.sh): every harness replays its committed corpus and then
# fuzzes for LRKV_FUZZ_SECONDS (default 10) under ASan + UBSan; any finding fails the run.
# LRKV_FUZZ_CI=0 skips it (e.g. without clang).
if [ "${LRKV_FUZZ_CI:-1}" != 0 ]; then
  FUZZ_JOBS="$(nproc)" bash scripts/fuzz.sh "${LRKV_FUZZ_SECONDS:-10}"
fi
