#!/usr/bin/env bash
# The test command (README, .ci/run): install deps, build, run the unit tests; then the sanitizer
# pass: an ASan + UBSan build (./build-sanitize, -DLRKV_SANITIZE=ON, CPU only, no benchmarks) runs
# the fast input-validation suites (LRKV_SANITIZE_TESTS, a ctest -R regex; "all" = every test).
#   LRKV_SANITIZE=1     run it after the Release suite (off by default: a second full build
#                       that has not yet been timed on the 2-core CI machine)
#   LRKV_SANITIZE=only  only the sanitizer pass
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${LRKV_SANITIZE:-0}"
jobs="$(nproc)"
bash scripts/install-deps.sh
if [ "$mode" != "only" ]; then
  bash scripts/build.sh
  ctest --test-dir build --output-on-failure -j "$jobs" --timeout 900
fi
if [ "$mode" != "0" ]; then
  # Input parsing and validation: the code that reads untrusted files and flags.
  default_tests='^(BadInputTest|SafetensorsCorrupt|GgufReader|HfConfig|RankPlanStrict|OutputPath|LogitsFile|CalibrationIo|CliOutputs|CliFlags)\.'
  tests="${LRKV_SANITIZE_TESTS:-$default_tests}"
  start=$(date +%s)
  # Debug (-O0 -g): compiles several times faster than -O3 and the suites run tiny inputs.
  cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLRKV_SANITIZE=ON \
    -DLRKV_CUDA=OFF -DLRKV_BENCH=OFF >/dev/null
  cmake --build build-sanitize -j "$jobs" --target lrkv_tests
  # Leaks are out of scope here (OpenBLAS keeps its thread pool); memory errors and UB are not.
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  if [ "$tests" = "all" ]; then
    ctest --test-dir build-sanitize --output-on-failure -j "$jobs" --timeout 1800
  else
    ctest --test-dir build-sanitize --output-on-failure -j "$jobs" --timeout 900 -R "$tests"
  fi
  echo "test.sh: sanitizer pass took $(( $(date +%s) - start )) s"
fi
# Sanitizer + fuzzing regression (fuzz/, cmake/fuzz.cmake, scripts/fuzz.sh), one clang build with
# ASan + UBSan (any report fails the run) of the code that takes untrusted input: the file readers,
# tokenizers, plans, calibration, task readers and the server's request parser.
#  1. lrkv_input_tests: the unit tests of that code (BpeTokenizer, GgufReader, HfConfig,
#     RankPlanStrict, SafetensorsCorrupt, CalibrationIo, LogitsFile, FuzzFindings, ...).
#  2. every harness replays its committed corpus, then fuzzes for LRKV_FUZZ_SECONDS (default 5).
# Measured on this 2-core machine from a clean build directory: ~200 s (the clang build most of it).
# LRKV_FUZZ_CI=0 leaves both out; the whole unit suite under sanitizers is LRKV_SANITIZE=1 (above).
if [ "$mode" != "only" ] && [ "${LRKV_FUZZ_CI:-1}" != 0 ]; then
  FUZZ_EXTRA_TARGETS=lrkv_input_tests bash scripts/fuzz.sh build
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    build-fuzz/lrkv_input_tests --gtest_brief=1
  FUZZ_JOBS="$jobs" bash scripts/fuzz.sh "${LRKV_FUZZ_SECONDS:-5}"
fi
