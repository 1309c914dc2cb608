#!/usr/bin/env bash
# Builds the libFuzzer harnesses of fuzz/ (clang, ASan + UBSan) into build-fuzz/ and runs each for
# SECONDS seconds, seeded with its committed corpus fuzz/corpus/<harness>/ (new inputs go to
# build-fuzz/corpus/<harness>/, findings to build-fuzz/findings/). SECONDS=0 only replays the
# committed corpora (the regression run of scripts/test.sh). Prints, per harness, the executions
# and the final coverage (cov = edges, ft = features) and exits 1 on any finding.
#   scripts/fuzz.sh SECONDS [HARNESS...]      e.g. scripts/fuzz.sh 60 gguf tasks
#   scripts/fuzz.sh build                     only configures and builds
# Environment: FUZZ_JOBS harnesses at a time (default 1), FUZZ_MAX_LEN (default 8192),
# FUZZ_RUNS=N stops each after N executions instead of (or before) SECONDS, FUZZ_EXTRA_TARGETS
# more targets of build-fuzz to build (scripts/test.sh: lrkv_input_tests).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:?usage: scripts/fuzz.sh SECONDS [HARNESS...]}
shift
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(gguf safetensors hf_config hf_tokenizer llama2c rank_plan calibration tasks api_request)
command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (apt-get install clang)" >&2; exit 2; }

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Release -DLRKV_FUZZ=ON \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang "${launcher[@]}" >/dev/null
cmake --build build-fuzz -j "${FUZZ_BUILD_JOBS:-$(nproc)}" --target "${harnesses[@]/#/fuzz_}" \
  ${FUZZ_EXTRA_TARGETS:-} >/dev/null

[ "$secs" = build ] && exit 0
mkdir -p build-fuzz/findings build-fuzz/logs
run_one() {
  local h=$1 log=build-fuzz/logs/$1.log
  local args=(-max_len="${FUZZ_MAX_LEN:-8192}" -timeout=20 -rss_limit_mb=2048 -malloc_limit_mb=1024
              -print_final_stats=1 -artifact_prefix="build-fuzz/findings/$h-")
  if [ "$secs" = 0 ]; then
    args+=(-runs=0)
  else
    args+=(-max_total_time="$secs")
    [ -n "${FUZZ_RUNS:-}" ] && args+=(-runs="$FUZZ_RUNS")
  fi
  mkdir -p "build-fuzz/corpus/$h"
  if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
     "build-fuzz/fuzz/fuzz_$h" "${args[@]}" "build-fuzz/corpus/$h" "fuzz/corpus/$h" >"$log" 2>&1; then
    local st=ok
  else
    local st=FINDING
  fi
  local execs cov ft
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo ?)
  cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 | grep -o '[0-9]*' || echo ?)
  ft=$(grep -Eo 'ft: [0-9]+' "$log" | tail -1 | grep -o '[0-9]*' || echo ?)
  printf '%-13s %-8s execs %-10s cov %-6s ft %-6s log %s\n' "$h" "$st" "$execs" "$cov" "$ft" "$log"
  [ "$st" = ok ]
}
export -f run_one
export secs
status=0
printf '%s\n' "${harnesses[@]}" | xargs -P "${FUZZ_JOBS:-1}" -I{} bash -c 'run_one {}' || status=1
exit $status
