#!/usr/bin/env bash
# Distillation speed, CPU vs GPU training graph, in one run on the device machine over prebuilt
# binaries (BIN/lrkv from a -DLRKV_CUDA=ON build). Same model, text, seed and steps on both
# devices; prints each run's "N steps on DEV in S s (R step/s)" line and its first/last losses.
#   1. lrkv-mha6 (the largest real model in ../shared), batch 4 x 256 tokens
#   2. a 2-layer Llama-2-7B-shape synthetic model (lrkv synth), batch 2 x 256
#   3. the full 32-layer Llama-2-7B shape on the GPU only (the CPU would take hours), 5 steps,
#      with the peak GPU memory (nvidia-smi every 0.5 s)
# Usage: bash bench/tune_device_bench.sh BIN MODEL TEXT [parts: mha6 l7b2 l7b32]
# Results in $OUT (default ./tune-out): one log per run.
set -u
BIN=${1:?usage: tune_device_bench.sh BIN MODEL TEXT [parts]}
MODEL=${2:?model}
TEXT=${3:?text}
shift 3
PARTS=${*:-mha6 l7b2}
OUT=${OUT:-$PWD/tune-out}
mkdir -p "$OUT"
TMP=${TMPDIR:-/tmp}/lrkv-tune-bench
mkdir -p "$TMP"

run() {  # name device model steps batch extra...
  local name=$1 dev=$2 model=$3 steps=$4 batch=$5
  shift 5
  local log="$OUT/$name-$dev.log"
  timeout "${RUN_TIMEOUT:-1800}" "$BIN/lrkv" tune "$model" --method mkv --text "$TEXT" --steps "$steps" --batch "$batch" --ctx 256 \
    --tokens 4096 --device "$dev" -o "$TMP/$name-$dev.gguf" "$@" > "$log" 2>&1
  echo "$name $dev rc=$? $(grep -E 'step/s' "$log" | sed 's/.*\] //') | $(grep -E '^.*loss: first' "$log" | sed 's/.*loss: //')"
}

for part in $PARTS; do
  case $part in
    mha6)
      run mha6 cuda "$MODEL" 20 4
      run mha6 cpu "$MODEL" 20 4
      ;;
    l7b2)
      [ -f "$TMP/l7b2.gguf" ] || "$BIN/lrkv" synth --preset llama2-7b --layers 2 --dtype bf16 -o "$TMP/l7b2.gguf" > /dev/null
      run l7b2 cuda "$TMP/l7b2.gguf" 6 2 --dtype bf16
      run l7b2 cpu "$TMP/l7b2.gguf" 6 2 --dtype bf16
      ;;
    l7b32)
      [ -f "$TMP/l7b32.gguf" ] || "$BIN/lrkv" synth --preset llama2-7b --dtype bf16 -o "$TMP/l7b32.gguf" > /dev/null
      nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 500 > "$OUT/l7b32-mem.txt" &
      smi=$!
      run l7b32 cuda "$TMP/l7b32.gguf" 5 2 --dtype bf16
      kill $smi
      echo "l7b32 peak GPU memory $(sort -n "$OUT/l7b32-mem.txt" | tail -1) MiB"
      ;;
  esac
done
