#!/usr/bin/env bash
# One device-machine run for the engine surface (issue 13): builds lrkv with CUDA, runs the CUDA
# tests, then the same commands on --device cpu and --device cuda and compares them:
#   perplexity (dense and compressed lrkv-mha6, stories260K)   ppl within 0.1%
#   generate   greedy continuations of held-in prompts          identical text
# and the end-to-end decode benchmark. SHARED: a copy of ../shared (models, data); DEPS: headers
# and libraries the machine lacks (bzlib). Results under $OUT.
# Usage: bash bench/device_check.sh SHARED [DEPS] [steps: build tests ppl gen bench e2e]
set -uo pipefail
SHARED=$(cd "${1:?usage: device_check.sh SHARED [DEPS] [steps]}" && pwd)
DEPS=${2:-}
shift; [ $# -gt 0 ] && shift
STEPS=${*:-build tests ppl gen e2e}
OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT"
B=build-gpu
export LRKV_SHARED_DIR=$SHARED
bz=()
[ -n "$DEPS" ] && bz=(-DBZIP2_INCLUDE_DIR="$(cd "$DEPS" && pwd)/include" -DBZIP2_LIBRARY_RELEASE="$(cd "$DEPS" && pwd)/lib/libbz2.so")
M6=${M6:-$SHARED/models/lrkv-mha6/model.bin}  # M6=...: another copy (an f16 GGUF travels in less)
S2=$SHARED/models/stories260K/stories260K.bin
TS=$SHARED/data/tinystories-valid-head.txt
ppl() {  # ppl MODEL DEVICE [flags]: prints the perplexity number
  local model=$1 dev=$2; shift 2
  $B/lrkv perplexity "$model" --text "$TS" --split-paragraphs --docs 90%:100% --max-tokens 20000 --device "$dev" "$@" \
    2>>"$OUT/ppl.log" | tee -a "$OUT/ppl.log" | sed -n 's/^perplexity: \([0-9.]*\).*/\1/p'
}
for step in $STEPS; do
  case $step in
    build)
      nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
      cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DLRKV_CUDA=ON -DLRKV_SERVE=OFF -DCMAKE_CUDA_ARCHITECTURES=90 "${bz[@]}" \
        > "$OUT/build.log" 2>&1 &&
        cmake --build $B -j "$(nproc)" --target lrkv_cli lrkv_cuda_tests cuda_e2e_bench >> "$OUT/build.log" 2>&1 ||
        { tail -40 "$OUT/build.log"; exit 1; }
      echo "built"
      ;;
    tests)
      $B/lrkv_cuda_tests > "$OUT/cuda_tests.log" 2>&1
      grep -E "^\[  (PASSED|FAILED|SKIPPED) |FAILED|tests ran" "$OUT/cuda_tests.log" | tail -15
      ;;
    ppl)
      : > "$OUT/ppl.log"
      $B/lrkv compress "$M6" --method palu --budget 0.5 --text "$TS" --split-paragraphs --docs 0:90% --device cuda -o "$OUT/m6-palu50.gguf" \
        >> "$OUT/ppl.log" 2>&1
      $B/lrkv compress "$M6" --method mkv-pca --budget 0.5 --text "$TS" --split-paragraphs --docs 0:90% --device cuda \
        -o "$OUT/m6-mkv50.gguf" >> "$OUT/ppl.log" 2>&1
      printf "| model | cache | cpu | cuda | cuda/cpu - 1 |\n|---|---|---|---|---|\n" | tee "$OUT/ppl.md"
      while read -r name model flags; do
        c=$(ppl "$model" cpu $flags); g=$(ppl "$model" cuda $flags)
        d=$(python3 -c "print(f'{($g)/($c)-1:+.4%}')" 2>/dev/null || echo "?")
        echo "| $name | ${flags:-f16} | $c | $g | $d |" | tee -a "$OUT/ppl.md"
      done <<LIST
lrkv-mha6 $M6
lrkv-mha6(f16-weights) $M6 --dtype f16
stories260K $S2
palu-50% $OUT/m6-palu50.gguf
mkv-pca-50% $OUT/m6-mkv50.gguf
mkv-pca-50%+int4 $OUT/m6-mkv50.gguf --latent-bits 4
LIST
      ;;
    gen)
      : > "$OUT/gen.log"; same=0; total=0
      for p in "Once upon a time, there was a little girl named Lily." "The sun was hot and Mia wanted" \
               "Tom had a red ball. One day" "The cat sat on the mat and"; do
        for model in "$M6" "$OUT/m6-mkv50.gguf"; do
          a=$($B/lrkv generate "$model" -p "$p" -n 48 --device cpu 2>/dev/null)
          b=$($B/lrkv generate "$model" -p "$p" -n 48 --device cuda 2>/dev/null)
          total=$((total + 1)); [ -n "$a" ] && [ "$a" == "$b" ] && same=$((same + 1))
          printf '%s\n  cpu : %s\n  cuda: %s\n' "$(basename "$model")" "$a" "$b" >> "$OUT/gen.log"
        done
      done
      echo "greedy generate: $same of $total continuations identical on cpu and cuda" | tee -a "$OUT/gen.log"
      ;;
    bench)  # the CLI's own table on both devices (lrkv bench)
      for dev in cpu cuda; do
        for model in "$M6" "$OUT/m6-mkv50.gguf"; do
          $B/lrkv bench "$model" --device $dev --ctx 256 --batch 1,8 -n 32 -r 2 2>/dev/null | tee -a "$OUT/bench.md" | tail -4
        done
      done
      ;;
    e2e)
      $B/cuda_e2e_bench --contexts 4096,32768 --batches 1,16 --steps 20 --csv "$OUT/e2e.csv" > "$OUT/e2e.log" 2>&1
      tail -8 "$OUT/e2e.log"
      ;;
  esac
done
