#!/usr/bin/env bash
# Perplexity of every model in ../shared/models on the held-out evaluation texts in ../shared/data,
# as one table. Usage: scripts/ppl_all.sh [extra lrkv perplexity flags, e.g. --max-tokens 20000]
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${LRKV_SHARED_DIR:-../shared}
LRKV=./build/lrkv
[ -x "$LRKV" ] || bash scripts/build.sh
models=("$SHARED/models/stories260K/stories260K.bin" "$SHARED/models/lrkv-mha6/model.bin")
# name | file | flags selecting held-out documents
texts=("tinystories-last10%|$SHARED/data/tinystories-valid-head.txt|--split-paragraphs --docs 90%:100%"
       "c4-docs-1800-1999|$SHARED/data/c4-validation-2k.jsonl|--docs 1800:2000"
       "wikitext2-test|$SHARED/data/wikitext-2-test.txt|")
printf '| model | text | tokens scored | ppl | tokens/s |\n|---|---|---|---|---|\n'
for m in "${models[@]}"; do
  [ -f "$m" ] || { echo "skip: $m missing" >&2; continue; }
  for t in "${texts[@]}"; do
    IFS='|' read -r name file flags <<<"$t"
    [ -f "$file" ] || { echo "skip: $file missing" >&2; continue; }
    # shellcheck disable=SC2086
    LRKV_LOG=warn "$LRKV" perplexity "$m" --text "$file" $flags "$@" |
      awk -v m="$(basename "$(dirname "$m")")" -v t="$name" '
        /^perplexity:/ {ppl=$2; n=$9} /^speed:/ {tps=$2}
        END {printf "| %s | %s | %s | %.3f | %.0f |\n", m, t, n, ppl, tps}'
  done
done
