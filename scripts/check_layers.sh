#!/usr/bin/env bash
# Fails when a file under src/ includes a header of a layer above its own (the `layering` test).
# Order, lowest first (CMakeLists.txt links the layers the same way):
#   core kernels cache model io compress eval backend serve
# src/kernels/cuda belongs to the backend (it is compiled into lrkv_cuda with src/backend/cuda).
set -euo pipefail
cd "$(dirname "$0")/../src"
layers=(core kernels cache model io compress eval backend serve)
rank() {
  local i
  for i in "${!layers[@]}"; do [ "${layers[$i]}" = "$1" ] && { echo "$i"; return; }; done
  echo -1
}
bad=0
while IFS= read -r f; do
  layer=${f%%/*}
  case "$f" in kernels/cuda/*) layer=backend ;; esac
  own=$(rank "$layer")
  [ "$own" -ge 0 ] || continue
  while IFS= read -r inc; do
    dep=${inc%%/*}
    case "$inc" in kernels/cuda/*) dep=backend ;; esac
    r=$(rank "$dep")
    if [ "$r" -gt "$own" ]; then
      echo "layering: src/$f ($layer) includes \"$inc\" ($dep is above $layer)"
      bad=1
    fi
  done < <(sed -n 's/^#include "\([a-z_]*\/[^"]*\)".*/\1/p' "$f")
done < <(find . -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh' | sed 's#^\./##' | sort)
[ "$bad" -eq 0 ] && echo "layering: every include points down or sideways"
exit "$bad"
