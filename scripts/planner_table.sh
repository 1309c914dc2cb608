#!/usr/bin/env bash
# Issue 4: perplexity at budgets 0.5 and 0.25 for every planner x factorisation, plus each seed
# paper's own recipe, on one model with one calibration. Markdown table on stdout.
# Usage: scripts/planner_table.sh [MODEL] [OUTDIR]   (defaults: lrkv-mha6, /tmp/lrkv-planners)
# Calibration and held samples: C4 docs 0-1799 (training docs); evaluation: TinyStories last 10%
# and C4 docs 1800-1999 (first 20,000 tokens), ctx 512, f16 cache.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${LRKV_SHARED_DIR:-../shared}
MODEL=${1:-$SHARED/models/lrkv-mha6/model.bin}
OUT=${2:-/tmp/lrkv-planners}
LRKV=${LRKV:-./build/lrkv}
BUDGETS=${BUDGETS:-"0.5 0.25"}
PLANNERS=${PLANNERS:-"uniform progressive fisher energy greedy-kl"}
FACTS=${FACTS:-"palu:group:2 palu:joint"}
SEEDS=${SEEDS:-1}        # 0: skip the seed papers' recipe rows (to resume a partial table)
BASELINE=${BASELINE:-1}  # 0: skip the uncompressed row
mkdir -p "$OUT"
export LRKV_LOG=warn
C4="$SHARED/data/c4-validation-2k.jsonl"
CALIB="$OUT/calib.safetensors"
[ -f "$CALIB" ] || $LRKV calibrate "$MODEL" --text "$C4" --docs 0:1800 --tokens 65536 -o "$CALIB"
HELD=(--text "$C4" --docs 0:1800 --held-windows 4 --held-ctx 128)
eval_ppl() {
  local a b
  a=$($LRKV perplexity "$1" --kv-type f16 --text "$SHARED/data/tinystories-valid-head.txt" --split-paragraphs --docs 90%:100%)
  b=$($LRKV perplexity "$1" --kv-type f16 --text "$C4" --docs 1800:2000 --max-tokens 20000)
  echo "$(awk '/^perplexity:/{print $2}' <<<"$a") $(awk '/^perplexity:/{print $2}' <<<"$b")"
}
row() {  # method gran planner budget label
  local plan="$OUT/plan-$1-${2/:/}-$3-$4.json" model="$OUT/m.gguf" t0 t1
  t0=$(date +%s)
  $LRKV plan "$MODEL" --planner "$3" --budget "$4" --method "$1" --granularity "$2" --calib "$CALIB" \
    "${HELD[@]}" --round-to 8 -o "$plan" --png "${plan%.json}.png"
  t1=$(date +%s)
  $LRKV compress "$MODEL" --plan "$plan" --calib "$CALIB" -o "$model"
  read -r p1 p2 <<<"$(eval_ppl "$model")"
  printf '| %s | %s | %s | %s | %.3f | %.3f | %ss |\n' "$5" "$1 $2" "$3" "$4" "$p1" "$p2" "$((t1 - t0))"
  rm -f "$model"
}
printf '| recipe | factorisation | planner | budget | ppl TinyStories | ppl C4 | planning time |\n|---|---|---|---|---|---|---|\n'
if [ "$BASELINE" = 1 ]; then
  read -r p1 p2 <<<"$(eval_ppl "$MODEL")"
  printf '| uncompressed | - | - | 1.0 | %.3f | %.3f | - |\n' "$p1" "$p2"
fi
for b in $BUDGETS; do
  for f in $FACTS; do
    for p in $PLANNERS; do row "${f%%:*}" "${f#*:}" "$p" "$b" "grid"; done
  done
  # The seed papers' own recipes (Palu's, Fisher + G-LRD, is the grid row palu group:2 fisher).
  if [ "$SEEDS" = 1 ]; then
    row lorc joint progressive "$b" "LoRC (progressive SVD)"
    row mkv-pca head greedy-kl "$b" "MatryoshkaKV PCA (greedy KL)"
  fi
done
