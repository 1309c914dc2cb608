#!/usr/bin/env bash
# Device time is scarce: build the CUDA binaries here (nvcc works without a GPU) and carry them to
# the device machine instead of compiling there (~4 minutes of a 16-core machine per run).
#
#   pack BUILD DEST     here: DEST/bin.tar.xz (lrkv, cuda_e2e_bench, cuda_attention_bench,
#                       lrkv_cuda_tests of BUILD, which must target sm_90) and DEST/libs.tar.xz (the
#                       non-CUDA shared libraries they link: fmt, openblas, lapacke, httplib, ...)
#   unpack DEST BUILD   device: binaries into BUILD, libraries into BUILD/libs; exits 1 (and the
#                       caller builds from source) when a library is still not found
# Usage on the device: `eval "$(bash bench/prebuilt.sh unpack .gpu/pack build-gpu)"` exports
# LD_LIBRARY_PATH for the binaries.
set -euo pipefail
BINS=${PREBUILT_BINS:-"lrkv cuda_e2e_bench cuda_attention_bench lrkv_cuda_tests"}  # PREBUILT_BINS: a subset (both sides)
case ${1:-} in
  pack)
    build=${2:?usage: prebuilt.sh pack BUILD DEST} dest=${3:?usage: prebuilt.sh pack BUILD DEST}
    grep -q "sm_90" "$build/build.ninja" || { echo "$build does not target sm_90" >&2; exit 1; }
    mkdir -p "$dest"
    # One xz block with a 64 MB dictionary: the binaries share the same CUDA kernels (2.6x smaller
    # than multi-threaded -6 for lrkv + cuda_e2e_bench + lrkv_cuda_tests).
    (cd "$build" && tar -cf - $BINS) | xz -T1 -9 > "$dest/bin.tar.xz.tmp" && mv "$dest/bin.tar.xz.tmp" "$dest/bin.tar.xz"
    # Libraries outside the CUDA toolkit and the C/C++ runtime (which the device has, newer).
    libs=$(for b in $BINS; do ldd "$build/$b"; done | awk '/=> \//{print $3}' | sort -u |
      grep -vE '/usr/local/cuda|/(libc|libm|libdl|librt|libpthread|libgcc_s|libstdc\+\+)\.so')
    tar -chf - $libs 2>/dev/null | xz -T1 -9 > "$dest/libs.tar.xz.tmp" && mv "$dest/libs.tar.xz.tmp" "$dest/libs.tar.xz"
    ls -l "$dest"
    ;;
  unpack)
    src=${2:?usage: prebuilt.sh unpack DEST BUILD} build=${3:?usage: prebuilt.sh unpack DEST BUILD}
    mkdir -p "$build/libs"
    tar -xJf "$src/bin.tar.xz" -C "$build" >&2
    tar -xJf "$src/libs.tar.xz" -C "$build/libs" >&2
    # Flatten: the archive keeps absolute paths (lib/x86_64-linux-gnu/...).
    find "$build/libs" -mindepth 2 \( -type f -o -type l \) -exec mv -f {} "$build/libs/" \; 2>/dev/null || true
    cuda_lib=$(dirname "$(find /usr/local/cuda*/ -name 'libcublas.so.13' 2>/dev/null | head -1)")
    export LD_LIBRARY_PATH="$cuda_lib:${LD_LIBRARY_PATH:-}:$PWD/$build/libs"
    missing=$(for b in $BINS; do ldd "$build/$b"; done | grep "not found" | sort -u || true)
    if [ -n "$missing" ]; then echo "prebuilt: missing libraries: $missing" >&2; exit 1; fi
    echo "export LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    ;;
  *) sed -n 2,11p "$0" >&2; exit 2 ;;
esac
