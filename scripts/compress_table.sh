#!/usr/bin/env bash
# Perplexity of a model compressed by each method x granularity at several KV budgets, with the
# KV bytes per token read from the cache itself (f16 storage), as a markdown table.
# Usage: scripts/compress_table.sh [MODEL] [OUTDIR]   (defaults: lrkv-mha6, /tmp/lrkv-table)
# Calibration: 65,536 tokens of C4 validation docs 0-1799 (the model's training docs; never
# the evaluation text). Evaluation: TinyStories last 10% (all) and C4 docs 1800-1999 (first
# 20,000 tokens), ctx 512 non-overlapping windows.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${LRKV_SHARED_DIR:-../shared}
MODEL=${1:-$SHARED/models/lrkv-mha6/model.bin}
OUT=${2:-/tmp/lrkv-table}
BUDGETS=${BUDGETS:-"1.0 0.75 0.5 0.375 0.25"}
METHODS=${METHODS:-"palu:head palu:group:4 palu:joint lorc:joint mkv-pca:head"}
LRKV=./build/lrkv
mkdir -p "$OUT"
export LRKV_LOG=warn
CALIB="$OUT/calib.safetensors"
[ -f "$CALIB" ] || $LRKV calibrate "$MODEL" --text "$SHARED/data/c4-validation-2k.jsonl" --docs 0:1800 \
  --tokens 65536 -o "$CALIB"
eval_ppl() {  # model -> "ppl_tinystories ppl_c4 bytes_per_token"
  local a b
  a=$($LRKV perplexity "$1" --kv-type f16 --text "$SHARED/data/tinystories-valid-head.txt" --split-paragraphs --docs 90%:100%)
  b=$($LRKV perplexity "$1" --kv-type f16 --text "$SHARED/data/c4-validation-2k.jsonl" --docs 1800:2000 --max-tokens 20000)
  echo "$(awk '/^perplexity:/{print $2}' <<<"$a") $(awk '/^perplexity:/{print $2}' <<<"$b") $(awk '/^kv cache:/{print $(NF-3)}' <<<"$a")"
}
printf '| method | granularity | budget | KV bytes/token (f16) | ppl TinyStories | ppl C4 |\n|---|---|---|---|---|---|\n'
read -r p1 p2 bytes <<<"$(eval_ppl "$MODEL")"
printf '| baseline | - | 1.0 | %s | %.3f | %.3f |\n' "$bytes" "$p1" "$p2"
for mg in $METHODS; do
  method=${mg%%:*}; gran=${mg#*:}
  for b in $BUDGETS; do
    f="$OUT/${method}-${gran/:/}-${b}.gguf"
    $LRKV compress "$MODEL" --method "$method" --granularity "$gran" --budget "$b" --calib "$CALIB" -o "$f"
    read -r p1 p2 bytes <<<"$(eval_ppl "$f")"
    printf '| %s | %s | %s | %s | %.3f | %.3f |\n' "$method" "$gran" "$b" "$bytes" "$p1" "$p2"
    rm -f "$f"
  done
done
