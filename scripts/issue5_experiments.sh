#!/usr/bin/env bash
# Issue 5 closing-note experiments on the largest real model (lrkv-mha6: dim 256, 6 layers,
# 4 MHA heads x 64, vocab 32000): plain PCA (mkv-pca) vs trained MatryoshkaKV at budgets 0.5,
# 0.375, 0.25 (uniform per-head ranks 32/24/16 of 64), MHA->GQA g = 2, 4 before/after recovery
# tuning, and the exported GQA files (GGUF, safetensors) loaded back.
# Usage: LRKV=/tmp/lrkv-issue5 OUT=/tmp/issue5 bash scripts/issue5_experiments.sh [step...]
#   steps: calib base pca tune_c4 tune_ts mkv mkv_greedy gqa gqa_tune table (default: all, in order).
# Every step skips outputs that already exist, so an interrupted run can be restarted.
# DEVICE=cuda runs calibration and all training (tune, recovery tuning) on the GPU; evaluation
# (perplexity) stays on the CPU either way. MODEL overrides the model file.
set -euo pipefail
cd "$(dirname "$0")/.."
LRKV=${LRKV:-./build/lrkv}
OUT=${OUT:-/tmp/issue5}
SHARED=${SHARED:-../shared}
M=${MODEL:-$SHARED/models/lrkv-mha6/model.bin}
DEVICE=${DEVICE:-cpu}
C4=${C4:-$SHARED/data/c4-validation-2k.jsonl}
TS=${TS:-$SHARED/data/tinystories-valid-head.txt}
STEPS=${STEPS:-400}            # MatryoshkaKV steps (batch 4 x 256 tokens)
GQA_STEPS=${GQA_STEPS:-300}    # recovery-tuning steps (batch 4 x 256 tokens)
GQA_LR=${GQA_LR:-1e-4}
mkdir -p "$OUT"

# Perplexity on TinyStories last 10% and C4 docs 1800:2000 (20k tokens); JSON beside the model.
ppl() {
  local model=$1 name=$2
  [[ -f $OUT/$name.ts.json ]] || $LRKV perplexity "$model" --text "$TS" --split-paragraphs --docs 90%:100% \
      --kv-type f16 --json "$OUT/$name.ts.json" > "$OUT/$name.ts.log" 2>&1
  [[ -f $OUT/$name.c4.json ]] || $LRKV perplexity "$model" --text "$C4" --docs 1800:2000 --max-tokens 20000 \
      --kv-type f16 --json "$OUT/$name.c4.json" > "$OUT/$name.c4.log" 2>&1
}

step_calib() {
  [[ -f $OUT/calib.safetensors ]] || $LRKV calibrate "$M" --text "$C4" --docs 0:1800 --tokens 65536 \
      --device "$DEVICE" -o "$OUT/calib.safetensors"
}
step_base() { ppl "$M" base; }
step_pca() {
  for b in 0.5 0.375 0.25; do
    [[ -f $OUT/pca_$b.gguf ]] || $LRKV compress "$M" --method mkv-pca --granularity head --budget $b \
        --calib "$OUT/calib.safetensors" -o "$OUT/pca_$b.gguf"
    ppl "$OUT/pca_$b.gguf" pca_$b
  done
}
# MatryoshkaKV trained on C4 docs 0:1800 (the calibration / training distribution).
step_tune_c4() {
  [[ -f $OUT/mkv_c4.gguf ]] || $LRKV tune "$M" --method mkv --calib "$OUT/calib.safetensors" \
      --text "$C4" --docs 0:1800 --steps $STEPS --batch 4 --ctx 256 --lr 1e-3 --device "$DEVICE" \
      --checkpoint "$OUT/mkv_c4.ckpt.safetensors" --checkpoint-every 50 $( [[ -f $OUT/mkv_c4.ckpt.safetensors ]] && echo --resume ) \
      -o "$OUT/mkv_c4.gguf" 2>&1 | tee -a "$OUT/mkv_c4.log"
}
# MatryoshkaKV trained on TinyStories first 90% (the evaluation's domain, disjoint documents).
step_tune_ts() {
  [[ -f $OUT/mkv_ts.gguf ]] || $LRKV tune "$M" --method mkv --calib "$OUT/calib.safetensors" \
      --text "$TS" --split-paragraphs --docs 0%:90% --steps $STEPS --batch 4 --ctx 256 --lr 1e-3 --device "$DEVICE" \
      --checkpoint "$OUT/mkv_ts.ckpt.safetensors" --checkpoint-every 50 $( [[ -f $OUT/mkv_ts.ckpt.safetensors ]] && echo --resume ) \
      -o "$OUT/mkv_ts.gguf" 2>&1 | tee -a "$OUT/mkv_ts.log"
}
step_mkv() {
  for v in c4 ts; do
    [[ -f $OUT/mkv_$v.gguf ]] || continue
    ppl "$OUT/mkv_$v.gguf" mkv_${v}_1.0
    for b in 0.5 0.375 0.25; do
      [[ -f $OUT/mkv_${v}_$b.gguf ]] || $LRKV compress "$OUT/mkv_$v.gguf" --budget $b -o "$OUT/mkv_${v}_$b.gguf"
      ppl "$OUT/mkv_${v}_$b.gguf" mkv_${v}_$b
    done
  done
}
# The greedy-KL planner over the C4-trained model's factors (held windows from the C4 docs).
step_mkv_greedy() {
  [[ -f $OUT/mkv_c4.gguf ]] || return 0
  for b in 0.5 0.25; do
    [[ -f $OUT/plan-mkvc4-greedy-$b.json ]] || $LRKV plan "$OUT/mkv_c4.gguf" --planner greedy-kl --budget $b \
        --text "$C4" --docs 0:1800 --held-windows 4 --held-ctx 128 -o "$OUT/plan-mkvc4-greedy-$b.json"
    [[ -f $OUT/mkvc4_greedy_$b.gguf ]] || $LRKV compress "$OUT/mkv_c4.gguf" --plan "$OUT/plan-mkvc4-greedy-$b.json" \
        -o "$OUT/mkvc4_greedy_$b.gguf"
    ppl "$OUT/mkvc4_greedy_$b.gguf" mkvc4_greedy_$b
  done
}
step_gqa() {
  for g in 2 4; do
    [[ -f $OUT/gqa$g.gguf ]] || $LRKV convert-gqa "$M" --groups $g --calib "$OUT/calib.safetensors" -o "$OUT/gqa$g.gguf"
    [[ -f $OUT/gqa$g.safetensors ]] || $LRKV convert-gqa "$M" --groups $g --calib "$OUT/calib.safetensors" \
        -o "$OUT/gqa$g.safetensors"
    ppl "$OUT/gqa$g.gguf" gqa$g
    ppl "$OUT/gqa$g.safetensors" gqa${g}_st
  done
}
# Recovery tuning on C4 docs 0:1800; written as GGUF, then re-exported to safetensors by `lrkv convert`.
step_gqa_tune() {
  for g in 2 4; do
    [[ -f $OUT/gqa${g}_tuned.gguf ]] || $LRKV convert-gqa "$M" --groups $g --calib "$OUT/calib.safetensors" \
        --text "$C4" --docs 0:1800 --tune-steps $GQA_STEPS --batch 4 --ctx 256 --lr $GQA_LR --device "$DEVICE" \
        --checkpoint "$OUT/gqa${g}.ckpt.safetensors" --checkpoint-every 50 \
        $( [[ -f $OUT/gqa${g}.ckpt.safetensors ]] && echo --resume ) \
        -o "$OUT/gqa${g}_tuned.gguf" 2>&1 | tee -a "$OUT/gqa${g}_tuned.log"
    [[ -f $OUT/gqa${g}_tuned.safetensors ]] || $LRKV convert "$OUT/gqa${g}_tuned.gguf" -o "$OUT/gqa${g}_tuned.safetensors"
    ppl "$OUT/gqa${g}_tuned.gguf" gqa${g}_tuned
    ppl "$OUT/gqa${g}_tuned.safetensors" gqa${g}_tuned_st
  done
}
step_table() {
  printf "| %-20s | %10s | %10s | %9s |\n" model "TS ppl" "C4 ppl" "KV B/tok"
  for f in "$OUT"/*.ts.json; do
    local n c4="-"; n=$(basename "$f" .ts.json)
    [[ -f $OUT/$n.c4.json ]] && c4=$(jq -r '.ppl * 100 | round / 100' "$OUT/$n.c4.json")
    printf "| %-20s | %10s | %10s | %9s |\n" "$n" "$(jq -r '.ppl * 1000 | round / 1000' "$f")" "$c4" \
      "$(jq -r .kv_bytes_per_token "$f")"
  done
}

steps=("$@")
[[ ${#steps[@]} -gt 0 ]] || steps=(calib base pca tune_c4 tune_ts mkv mkv_greedy gqa gqa_tune table)
for s in "${steps[@]}"; do "step_$s"; done
