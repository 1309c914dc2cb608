#!/usr/bin/env bash
# Configures and builds lrkv into ./build (Release). Extra args go to cmake configure.
# The CUDA backend is built when nvcc is found (PATH or /usr/local/cuda/bin); it compiles and
# its tests skip without a GPU. LRKV_CUDA=OFF (or ON) in the environment overrides the detection.
set -euo pipefail
cd "$(dirname "$0")/.."
cuda=()
nvcc_path=$(command -v nvcc || true)
[ -z "$nvcc_path" ] && [ -x /usr/local/cuda/bin/nvcc ] && nvcc_path=/usr/local/cuda/bin/nvcc
case "${LRKV_CUDA:-auto}" in
  auto) [ -n "$nvcc_path" ] && cuda=(-DLRKV_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc_path") ;;
  ON) cuda=(-DLRKV_CUDA=ON ${nvcc_path:+-DCMAKE_CUDA_COMPILER="$nvcc_path"}) ;;
  *) cuda=(-DLRKV_CUDA=OFF) ;;
esac
[ ${#cuda[@]} -gt 0 ] && echo "build.sh: ${cuda[*]}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "${cuda[@]}" "$@" >/dev/null
cmake --build build -j "$(nproc)"
