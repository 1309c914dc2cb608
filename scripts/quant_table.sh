#!/usr/bin/env bash
# Issue 6: perplexity vs KV bytes per token on one model, same data, same run: dense caches
# {f16, q8_0, q4_0, kivi2} and Palu latents at 50% / 30% budget (and mkv-pca 50%) x {8, 4, 3, 2
# bits} x {without, with Hadamard}. Calibration: TinyStories first 90% of stories; evaluation:
# the last 10%, ctx 512. Lines: label | flags | perplexity | kv cache (bytes per token).
# Usage: scripts/quant_table.sh [MODEL] [OUTDIR]   (defaults: lrkv-mha6, /tmp/lrkv-quant)
#   SPECS="palu:0.5 mkv-pca:0.5" limits the compressed models, DENSE=0 skips the dense rows.
# A cache a model cannot use (q8_0/q4_0 blocks need ranks in multiples of 32) prints its error.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${LRKV_SHARED_DIR:-../shared}
MODEL=${1:-$SHARED/models/lrkv-mha6/model.bin}
OUT=${2:-/tmp/lrkv-quant}
LRKV=${LRKV:-./build/lrkv}
TS=$SHARED/data/tinystories-valid-head.txt
mkdir -p "$OUT"
export LRKV_LOG=warn
SPECS=${SPECS:-"palu:0.5 palu:0.3 mkv-pca:0.5"}
for spec in $SPECS; do
  m=${spec%%:*} b=${spec#*:}
  [ -f "$OUT/$m-$b.gguf" ] || $LRKV compress "$MODEL" --method "$m" --budget "$b" --text "$TS" --split-paragraphs \
    --docs 0%:90% -o "$OUT/$m-$b.gguf"
done
row() {  # label model flags...
  local label=$1 model=$2 out
  shift 2
  out=$($LRKV perplexity "$model" --text "$TS" --split-paragraphs --docs 90%:100% "$@" 2>&1) || true
  echo "$label | $* | $(grep -oP 'perplexity: \S+' <<<"$out" || grep -oP 'error: .*' <<<"$out") | $(grep -oP 'kv cache: .*' <<<"$out" || true)"
}
if [ "${DENSE:-1}" = 1 ]; then
  for t in f16 q8_0 q4_0 kivi2; do row dense "$MODEL" --kv-type "$t"; done
fi
for spec in $SPECS; do
  m="$OUT/${spec%%:*}-${spec#*:}.gguf"
  row "$spec" "$m" --kv-type f16
  for bits in 8 4 3 2; do
    row "$spec" "$m" --kv-type f16 --latent-bits $bits
    row "$spec" "$m" --kv-type f16 --latent-bits $bits --hadamard
  done
  row "$spec" "$m" --kv-type q8_0
  row "$spec" "$m" --kv-type q4_0
done
