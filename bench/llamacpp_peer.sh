#!/usr/bin/env bash
# llama.cpp CUDA as the decode peer of lrkv (issue 14): the llama.cpp that node-llama-cpp 3.21.1
# ships (commit 80fb11a, tag v0.4.0), pruned to what llama-bench and llama-server need with the
# CPU and CUDA backends, built and run on the device machine (no internet there).
#
#   prepare DEST              here (npm / internet): source tree -> DEST (~15 MB; carry it)
#   build SRC BUILD [JOBS]    device: CUDA sm_90 Release build of LLAMA_TARGETS (default llama-bench;
#                             "llama-bench llama-server" for the serving comparison; LLAMA_CUDA=OFF: CPU;
#                             LLAMA_PORTABLE=1: built here for the device, no native CPU flags, static)
#   bench BUILD GGUF OUTDIR   device: llama-bench decode (tg64, batch 1) at depths 4096 and 32768
#                             for f16 / q8_0 / q4_0 KV caches -> OUTDIR/llamacpp.csv
#                             (kv_type,depth,tok_s,tok_s_sd) + raw jsonl and logs in OUTDIR/llamacpp-raw
# Environment: LLAMA_SRC_DIR (prepare: where the npm tarball / clone are kept, default
# /work/llama-src), LLAMA_KV_TYPES (bench, default "f16 q8_0 q4_0"), LLAMA_DEPTHS (default
# 4096,32768), LLAMA_NGEN (64), LLAMA_REPS (3).
set -euo pipefail

PKG=node-llama-cpp@3.21.1
TARBALL=node-llama-cpp-3.21.1.tgz
COMMIT=80fb11a
TAG=v0.4.0
MARK=.llamacpp_peer   # written into DEST: DEST may be replaced only when it carries this file
# Options of every configure: no tests/examples/app, the server on (its target is built only when
# asked for), no OpenSSL and no UI download (the device machine has no network).
LLAMA_CMAKE_FLAGS=(-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_APP=OFF
                   -DLLAMA_BUILD_TOOLS=ON -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF
                   -DLLAMA_BUILD_COMMIT="$COMMIT" -DLLAMA_BUILD_NUMBER=0)

die() { echo "llamacpp_peer: $*" >&2; exit 1; }
stamp() { echo "[$(date +%H:%M:%S)] $*"; }

# The full clone of the bundle at $COMMIT, reusing $LLAMA_SRC_DIR/{llama.cpp,TARBALL} if present.
source_clone() {
  local dir=${LLAMA_SRC_DIR:-/work/llama-src}
  mkdir -p "$dir"
  local clone=$dir/llama.cpp
  if [ ! -d "$clone/.git" ]; then
    if [ ! -f "$dir/package/llama/gitRelease.bundle" ]; then
      if [ ! -f "$dir/$TARBALL" ]; then
        command -v npm >/dev/null || die "npm not found and no $dir/$TARBALL"
        (cd "$dir" && npm pack --silent "$PKG" >/dev/null 2>&1) || die "npm pack $PKG failed"
      fi
      tar -xzf "$dir/$TARBALL" -C "$dir" package/llama/gitRelease.bundle || die "no package/llama/gitRelease.bundle in $TARBALL"
    fi
    git -c advice.detachedHead=false clone -q "$dir/package/llama/gitRelease.bundle" "$clone" || die "git clone of the bundle failed"
  fi
  local head
  head=$(git -C "$clone" rev-parse HEAD) || die "$clone: not a git clone"
  case $head in
    "$COMMIT"*) ;;
    *) die "$clone is at $head, expected commit $COMMIT (node-llama-cpp 3.21.1); remove it to re-clone" ;;
  esac
  echo "$clone"
}

cmd_prepare() {
  local dest=${1:?usage: llamacpp_peer.sh prepare DEST}
  if [ -e "$dest" ] && [ -n "$(ls -A "$dest" 2>/dev/null)" ] && [ ! -f "$dest/$MARK" ]; then
    die "$dest exists, is not empty and was not made by this script; refusing to replace it"
  fi
  local clone
  clone=$(source_clone)
  stamp "source: $clone ($(git -C "$clone" rev-parse --short=7 HEAD))"
  local tmp=$dest.tmp.$$
  rm -rf "$tmp"
  mkdir -p "$tmp"
  # Tracked files only (no build outputs), the directories llama-bench and llama-server builds
  # configure (the server needs mtmd, and the UI library, which embeds no assets when none are
  # given: the web UI's sources are not copied).
  git -C "$clone" archive --format=tar HEAD CMakeLists.txt LICENSE cmake ggml src include common vendor \
    tools/llama-bench tools/server tools/mtmd tools/ui/CMakeLists.txt tools/ui/embed.cpp scripts/ui-assets.cmake |
    tar -x -C "$tmp"
  # ggml: only the CPU and CUDA backends (the others are add_subdirectory'd only when enabled).
  local b
  for b in "$tmp"/ggml/src/ggml-*/; do
    case $(basename "$b") in
      ggml-cpu | ggml-cuda) ;;
      *) rm -rf "$b" ;;
    esac
  done
  # tools: llama-bench and llama-server (the original list adds cli, perplexity, ... not copied).
  cat > "$tmp/tools/CMakeLists.txt" <<'EOF'
# Pruned by lrkv bench/llamacpp_peer.sh: llama-bench and llama-server only.
find_package(Threads REQUIRED)
llama_add_compile_flags()
add_subdirectory(llama-bench)
add_subdirectory(mtmd)
add_subdirectory(ui)
add_subdirectory(server)
EOF
  printf 'node-llama-cpp 3.21.1, llama.cpp %s (%s), pruned for llama-bench and llama-server (CPU + CUDA)\n' \
    "$(git -C "$clone" rev-parse HEAD)" "$TAG" > "$tmp/$MARK"
  rm -rf "$dest"
  mkdir -p "$(dirname "$dest")"
  mv "$tmp" "$dest"
  # Configure checks (no build): CPU only, then CUDA (nvcc without a GPU is enough to configure).
  local cfg=${TMPDIR:-/tmp}/llp-cfg.$$
  local common=(-G Ninja -DCMAKE_BUILD_TYPE=Release "${LLAMA_CMAKE_FLAGS[@]}")
  rm -rf "$cfg"
  cmake -S "$dest" -B "$cfg" "${common[@]}" -DGGML_CUDA=OFF > "$cfg.log" 2>&1 ||
    { tail -30 "$cfg.log"; die "CPU-only configure of $dest failed (log $cfg.log)"; }
  grep -q 'build llama-bench:' "$cfg/build.ninja" || die "CPU configure has no llama-bench target"
  grep -q 'build bin/llama-server:\|build llama-server:' "$cfg/build.ninja" || die "CPU configure has no llama-server target"
  stamp "CPU-only configure: ok"
  local nvcc=${CUDACXX:-/usr/local/cuda/bin/nvcc}
  if [ -x "$nvcc" ]; then
    rm -rf "$cfg"
    cmake -S "$dest" -B "$cfg" "${common[@]}" -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
      -DCMAKE_CUDA_COMPILER="$nvcc" > "$cfg.log" 2>&1 ||
      { tail -30 "$cfg.log"; die "CUDA configure of $dest failed (log $cfg.log)"; }
    grep -q 'build llama-bench:' "$cfg/build.ninja" || die "CUDA configure has no llama-bench target"
    stamp "CUDA configure: ok ($(grep -c '\.cu\.o:' "$cfg/build.ninja") .cu objects)"
  else
    stamp "no nvcc at $nvcc: CUDA configure not checked"
  fi
  rm -rf "$cfg" "$cfg.log"
  stamp "wrote $dest: $(du -sh "$dest" | cut -f1) ($(du -sb "$dest" | cut -f1) bytes, $(find "$dest" -type f | wc -l) files)"
}

cmd_build() {
  local src=${1:?usage: llamacpp_peer.sh build SRC BUILD [JOBS]} build=${2:?usage: llamacpp_peer.sh build SRC BUILD [JOBS]}
  local jobs=${3:-$(nproc)} targets
  read -ra targets <<< "${LLAMA_TARGETS:-llama-bench}"
  [ -f "$src/$MARK" ] || die "$src: not a tree made by 'llamacpp_peer.sh prepare'"
  # LLAMA_PORTABLE=1: a build made here to run elsewhere (the device machine): no -march=native
  # CPU code, static libraries and no NCCL (found here in the CUDA toolkit, it would be a shared
  # dependency the device's loader may not find), so bin/llama-bench alone can be carried; it
  # still needs the device's libcudart / libcublas 13.
  local portable=(-DGGML_NATIVE=ON)
  [ "${LLAMA_PORTABLE:-0}" = 1 ] && portable=(-DGGML_NATIVE=OFF -DBUILD_SHARED_LIBS=OFF -DGGML_CUDA_NCCL=OFF)
  mkdir -p "$build"
  local log=$build/build.log
  stamp "llama.cpp: configure + build ${targets[*]} (-j $jobs), log $log"
  {
    cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DGGML_CUDA="${LLAMA_CUDA:-ON}" -DCMAKE_CUDA_ARCHITECTURES=90 "${portable[@]}" "${LLAMA_CMAKE_FLAGS[@]}" &&
      cmake --build "$build" -j "$jobs" --target "${targets[@]}"
  } > "$log" 2>&1 || { tail -40 "$log"; die "llama.cpp build failed (log $log)"; }
  local t
  for t in "${targets[@]}"; do [ -x "$build/bin/$t" ] || die "no $build/bin/$t after the build"; done
  stamp "llama.cpp: built ${targets[*]} in $build/bin"
}

cmd_bench() {
  local build=${1:?usage: llamacpp_peer.sh bench BUILD GGUF OUTDIR} gguf=${2:?usage: llamacpp_peer.sh bench BUILD GGUF OUTDIR}
  local out=${3:?usage: llamacpp_peer.sh bench BUILD GGUF OUTDIR}
  local lb=$build/bin/llama-bench
  [ -x "$lb" ] || die "no $lb (run 'llamacpp_peer.sh build' first)"
  [ -f "$gguf" ] || die "no model $gguf"
  local raw=$out/llamacpp-raw
  mkdir -p "$raw"
  local types=${LLAMA_KV_TYPES:-f16 q8_0 q4_0} depths=${LLAMA_DEPTHS:-4096,32768}
  local t failed=0 tlist
  read -ra tlist <<< "$types"
  for t in "${tlist[@]}"; do
    stamp "llama-bench: KV $t, tg${LLAMA_NGEN:-64} at depths $depths"
    # -p 0: no prompt test; -d: the cache is filled by a prompt of that many tokens first (cached
    # between repetitions), then n tokens are decoded one at a time (batch 1); -fa 1: flash
    # attention (needed for a quantized V cache); jsonl: one line per finished test.
    if "$lb" -m "$gguf" -ngl 99 -fa 1 -p 0 -n "${LLAMA_NGEN:-64}" -r "${LLAMA_REPS:-3}" -d "$depths" \
        -ctk "$t" -ctv "$t" -o jsonl > "$raw/$t.jsonl" 2> "$raw/$t.log"; then
      :
    else
      failed=1
      echo "llama-bench KV $t failed (rc $?); tail of $raw/$t.log:" >&2
      tail -15 "$raw/$t.log" >&2
    fi
  done
  python3 - "$raw" "$out/llamacpp.csv" "${tlist[@]}" <<'EOF'
import json, sys
raw, dst, types = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = []
for t in types:
    try:
        lines = open(f"{raw}/{t}.jsonl").read().splitlines()
    except OSError:
        continue
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        if r.get("n_prompt") != 0 or r.get("n_gen", 0) <= 0:
            continue
        rows.append((r["type_k"], int(r["n_depth"]), float(r["avg_ts"]), float(r["stddev_ts"])))
with open(dst, "w") as f:
    f.write("kv_type,depth,tok_s,tok_s_sd\n")
    for k, d, ts, sd in rows:
        f.write(f"{k},{d},{ts:.3f},{sd:.3f}\n")
print(open(dst).read(), end="")
EOF
  [ "$failed" = 0 ] || die "some llama-bench runs failed (see $raw)"
}

case ${1:-} in
  prepare) shift; cmd_prepare "$@" ;;
  build) shift; cmd_build "$@" ;;
  bench) shift; cmd_bench "$@" ;;
  *) sed -n '2,13p' "$0" >&2; exit 2 ;;
esac
