#!/usr/bin/env bash
# Configures and builds lrkv into ./build (Release).
#   bash scripts/build.sh [cli] [CMAKE_ARGS...]
# `cli` builds only the lrkv command (no tests, no benchmarks, CPU backend unless LRKV_CUDA=ON):
# what the README's main job runs. Without it everything is built; the CUDA backend is built when
# nvcc is found (PATH or /usr/local/cuda/bin): it compiles and its tests skip without a GPU.
# LRKV_CUDA=OFF (or ON) in the environment overrides the detection. Extra args go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=all
if [ "${1:-}" = cli ]; then mode=cli; shift; fi
cuda=()
nvcc_path=$(command -v nvcc || true)
[ -z "$nvcc_path" ] && [ -x /usr/local/cuda/bin/nvcc ] && nvcc_path=/usr/local/cuda/bin/nvcc
default=auto
[ $mode = cli ] && default=OFF
case "${LRKV_CUDA:-$default}" in
  auto) [ -n "$nvcc_path" ] && cuda=(-DLRKV_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc_path") ;;
  ON) cuda=(-DLRKV_CUDA=ON ${nvcc_path:+-DCMAKE_CUDA_COMPILER="$nvcc_path"}) ;;
  *) cuda=(-DLRKV_CUDA=OFF) ;;
esac
[ ${#cuda[@]} -gt 0 ] && echo "build.sh: ${cuda[*]}"
targets=()
if [ $mode = cli ]; then
  set -- -DLRKV_TESTS=OFF -DLRKV_BENCH=OFF "$@"
  targets=(--target lrkv_cli)
else
  set -- -DLRKV_TESTS=ON -DLRKV_BENCH=ON "$@"
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "${cuda[@]}" "$@" >/dev/null
cmake --build build -j "$(nproc)" "${targets[@]}"
