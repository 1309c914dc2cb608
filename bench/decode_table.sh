#!/usr/bin/env bash
# Issue 14, "GPU decode at the bandwidth floor": one device-machine run that prints the decode
# tokens/s of lrkv next to llama.cpp CUDA on the same Llama-3-8B-shape GGUF (random f16 weights),
# batch 1, at context depths 4096 and 32768, and next to the bandwidth floor measured in the run:
#   floor s/token = (weight bytes read per token + KV-cache bytes at that depth) / read bandwidth.
#
# Usage (repository root, device machine):
#   bash bench/decode_table.sh SHARED DEPS OUTDIR
# SHARED: a copy of ../shared (only data/tinystories-valid-head.txt is used: calibration text of the
# mkv-pca model); DEPS: headers/libraries the machine lacks (bzlib: DEPS/include, DEPS/lib), or "";
# OUTDIR: results (keep it small: models go to $WORK).
# Steps (env STEPS, default all, in this order):
#   build     lrkv (build-gpu: lrkv_cli cuda_e2e_bench cuda_attention_bench lrkv_cuda_tests) and
#             llama.cpp (bench/llamacpp_peer.sh build .gpu/llama.cpp build-llama) in parallel
#   tests     lrkv_cuda_tests
#   synth     lrkv synth --preset llama3-8b --dtype f16 --fill uniform -> $WORK/synth8b.gguf (16 GB)
#   floor     device read/copy bandwidth + the GGUF's weight bytes -> OUTDIR/floor.json
#   profile   ncu kernel times of eager decode steps (PROFILE_VARIANTS, PROFILE_CTX, PROFILE_LAYERS 4,
#             PROFILE_BATCH 1) -> OUTDIR/profile_*.txt
#   trace     in-graph decode profile through the CLI: lrkv bench --device cuda --profile (CUPTI, the
#             replayed decode graph, kernel by kernel) on the synth GGUF and, if the cli step made it,
#             mkv-pca 50% fp16 / int4, at CLI_CTX -> OUTDIR/trace_*.md (printed)
#   llamacpp  llama-bench tg64 at depths 4096,32768, KV f16/q8_0/q4_0 -> OUTDIR/llamacpp.csv
#   e2e       cuda_e2e_bench (dense / 50% latents / 50% + int4, batches 1,16) -> OUTDIR/e2e.csv
#   cli       lrkv bench --device cuda on the synth GGUF, a lorc 50% and an mkv-pca 50% model
#             (+ --latent-bits 4) -> OUTDIR/cli_*.json
#   serve     issue 15's GPU table: scripts/serve_capacity.sh with DEVICE=cuda, lrkv (dense, mkv-pca
#             50%, + int4) and llama-server (f16, q4_0 KV) at SERVE_BUDGET (8GiB), SERVE_CTX (32768)
#             -> OUTDIR/serve.log (needs LLAMA_TARGETS="llama-bench llama-server" when building)
#   table     OUTDIR/decode_table.md (printed)
# Two calls fit the device tool's 10-minute limit. With binaries built here (bench/prebuilt.sh
# pack build-cuda .gpu/pack; carry .gpu/pack with the llama.cpp tree and SHARED inside it):
#   LRKV_PREBUILT=.gpu/pack LLAMA_BG=1 STEPS="build tests synth floor llamawait e2e llamacpp"  (~8 min)
#   REUSE_SYNTH=1 CLI_METHODS=mkv-pca STEPS="cli table"                                      (~2.5 min)
# Keep WORK outside the repository (default /tmp): the device tool re-syncs the tree between calls.
# Environment: WORK (models, default /tmp), LRKV_JOBS / LLAMA_JOBS (build jobs, default half the
# cores each), LLAMA_SRC (.gpu/llama.cpp), LLAMA_BUILD (build-llama), CLI_METHODS ("lorc mkv-pca"),
# CLI_REPS (2), CALIB_TOKENS (2048), E2E_STEPS (20), REUSE_SYNTH=1 (keep an existing synth GGUF),
# LLAMA=0 (build and run no llama.cpp: its rows stay empty), LLAMA_BG=1 (llama.cpp builds while
# the next steps run; llamawait/llamacpp wait for it), E2E_NO_PDL=0 (no e2e rows without PDL), CLI_METHODS="" (dense CLI row only),
# CLI_CTX (4096,32768), LRKV_PREBUILT=DIR (binaries from `bench/prebuilt.sh pack`, built off the
# device: no lrkv build here unless their libraries are missing). llama.cpp built off the device
# too: `LLAMA_PORTABLE=1 bench/llamacpp_peer.sh build SRC BUILD` where nvcc works, strip BUILD/bin/llama-bench,
# carry it (xz: ~41 MB) and point LLAMA_BUILD at a directory holding bin/llama-bench; leave
# "build" out of STEPS (CUDA_NOTES part 10's table ran this way, in 77 + 76 seconds).
set -uo pipefail
usage="usage: decode_table.sh SHARED DEPS OUTDIR"
SHARED=$(cd "${1:?$usage}" && pwd) || exit 2
DEPS=${2?$usage}
OUT=${3:?$usage}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
STEPS=${STEPS:-build tests synth floor llamacpp e2e cli table}
B=build-gpu
LSRC=${LLAMA_SRC:-.gpu/llama.cpp}
LB=${LLAMA_BUILD:-build-llama}
WORK=${WORK:-/tmp}
MODEL=$WORK/synth8b.gguf
NCPU=$(nproc)
LLAMA=${LLAMA:-1}
if [ "$LLAMA" = 0 ]; then LRKV_JOBS=${LRKV_JOBS:-$NCPU}; else LRKV_JOBS=${LRKV_JOBS:-$(((NCPU + 1) / 2))}; fi
if [ -n "${LRKV_PREBUILT:-}" ]; then LLAMA_JOBS=${LLAMA_JOBS:-$NCPU}; fi
LLAMA_JOBS=${LLAMA_JOBS:-$((NCPU / 2 > 0 ? NCPU / 2 : 1))}
# Binaries unpacked by an earlier call (LRKV_PREBUILT) need their libraries on the path.
[ -f $B/prebuilt.env ] && source $B/prebuilt.env
E2E_STEPS=${E2E_STEPS:-20}
CLI_REPS=${CLI_REPS:-2}
TEXT=$SHARED/data/tinystories-valid-head.txt
bz=()
[ -n "$DEPS" ] && bz=(-DBZIP2_INCLUDE_DIR="$(cd "$DEPS" && pwd)/include" -DBZIP2_LIBRARY_RELEASE="$(cd "$DEPS" && pwd)/lib/libbz2.so")

T0=$(date +%s)
stamp() { echo "[$(date +%H:%M:%S) +$(($(date +%s) - T0))s] $*"; }

# The same configuration as bench/device_check.sh (build dir, flags, bzip2 from DEPS); not called
# from there because this build runs next to llama.cpp's with its own -j and also needs
# cuda_attention_bench (the bandwidth probe).
build_lrkv() {
  # Binaries built elsewhere for sm_90 (bench/prebuilt.sh pack), when their libraries resolve here.
  if [ -n "${LRKV_PREBUILT:-}" ]; then
    if env=$(bash bench/prebuilt.sh unpack "$LRKV_PREBUILT" $B); then
      echo "$env" > $B/prebuilt.env
      echo "using the prebuilt binaries of $LRKV_PREBUILT"
      return 0
    fi
    echo "prebuilt binaries unusable here: building"
  fi
  cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DLRKV_CUDA=ON -DLRKV_SERVE=OFF \
    -DCMAKE_CUDA_ARCHITECTURES=90 "${bz[@]}" &&
    cmake --build $B -j "$LRKV_JOBS" --target lrkv_cli lrkv_cuda_tests cuda_e2e_bench cuda_attention_bench
}

# lrkv bench on the GPU at the table's contexts; f16 weights as in the file (--dtype f16: the GPU
# engine then runs f16 weights, the bytes llama.cpp reads), no NaN scan of 16 GB of random weights.
cli_bench() {  # cli_bench MODEL OUT.json [flags]
  local model=$1 json=$2; shift 2
  $B/lrkv bench "$model" --dtype f16 --skip-finite-check --device cuda --ctx "${CLI_CTX:-4096,32768}" --batch 1 -n 32 \
    -r "$CLI_REPS" -o "$json" "$@" >> "$OUT/cli.log" 2>&1 ||
    { echo "lrkv bench $model $* failed:"; tail -5 "$OUT/cli.log"; return 1; }
  python3 -c 'import json,sys
for r in json.load(open(sys.argv[1])):
    print("  ctx %6d b%d  %-44s decode %8.1f tok/s" % (r["ctx"], r["batch"], r["cache"], r["decode_tps"]))' "$json"
}

cli_compress() {  # cli_compress OUT.gguf [flags]
  local dst=$1; shift
  rm -f "$dst"
  $B/lrkv compress "$MODEL" --dtype f16 --skip-finite-check --budget 0.5 --device cuda -o "$dst" "$@" \
    >> "$OUT/cli.log" 2>&1 || { echo "lrkv compress $* failed:"; tail -5 "$OUT/cli.log"; return 1; }
}

llama_pid=
wait_llama() {  # the llama.cpp build started by the build step, if any
  [ -n "$llama_pid" ] || return 0
  wait "$llama_pid"; local r=$?
  llama_pid=
  stamp "llama.cpp build: rc $r"
  [ $r = 0 ] || { tail -40 "$OUT/build-llama.out"; cp "$LB/build.log" "$OUT/build-llama.log" 2>/dev/null; return 1; }
}

rc=0
for step in $STEPS; do
  stamp "step $step"
  case $step in
    build)
      nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,clocks.max.mem --format=csv | tee "$OUT/gpu.txt"
      stamp "lrkv -j $LRKV_JOBS and llama.cpp -j $LLAMA_JOBS in parallel"
      build_lrkv > "$OUT/build-lrkv.log" 2>&1 &
      p1=$!
      if [ "$LLAMA" != 0 ]; then
        bash bench/llamacpp_peer.sh build "$LSRC" "$LB" "$LLAMA_JOBS" > "$OUT/build-llama.out" 2>&1 &
        llama_pid=$!
      fi
      wait $p1; r1=$?
      stamp "lrkv build: rc $r1"
      [ $r1 = 0 ] || { tail -40 "$OUT/build-lrkv.log"; exit 1; }
      [ -f $B/prebuilt.env ] && { grep "using the prebuilt" "$OUT/build-lrkv.log"; source $B/prebuilt.env; }
      # LLAMA_BG=1: the GPU steps that follow (tests, synth) run while llama.cpp compiles; the
      # step llamawait (or llamacpp) waits for it.
      [ "${LLAMA_BG:-0}" = 1 ] || wait_llama || exit 1
      ;;
    llamawait)
      wait_llama || exit 1
      ;;
    tests)
      $B/lrkv_cuda_tests > "$OUT/cuda_tests.log" 2>&1 || { echo "lrkv_cuda_tests failed"; rc=1; }
      grep -E "^\[  (PASSED|FAILED|SKIPPED) |FAILED|tests ran" "$OUT/cuda_tests.log" | tail -15
      ;;
    synth)
      # f16, not bf16: llama.cpp's CUDA backend reads f16 weights on its most used decode path
      # (mul_mat_vec / cuBLAS f16, the type of most GGUF conversions); bf16 matrices have their
      # own, younger kernels there. lrkv's GPU engine takes either (f16 with --dtype f16), and the
      # bytes per token are the same.
      if [ "${REUSE_SYNTH:-0}" = 1 ] && [ -s "$MODEL" ]; then
        echo "reusing $MODEL"
      else
        rm -f "$MODEL"
        $B/lrkv synth --preset llama3-8b --dtype f16 --fill uniform -o "$MODEL" > "$OUT/synth.log" 2>&1 ||
          { tail -5 "$OUT/synth.log"; exit 1; }
      fi
      ls -l "$MODEL"
      df -h "$WORK" | tail -1
      ;;
    floor)
      # cuda_attention_bench prints the D2D copy bandwidth (bytes read + written) and a read-only
      # probe before its shapes; with no model selected it does nothing else. Decode reads, so the
      # floor uses the read probe. Fallback: torch copy timing.
      $B/cuda_attention_bench --models none --variants none > "$OUT/bandwidth.txt" 2>&1
      if ! grep -q "read probe" "$OUT/bandwidth.txt"; then
        cat "$OUT/bandwidth.txt"
        python3 - >> "$OUT/bandwidth.txt" 2>&1 <<'EOF'
import torch
n = 2 << 30
a = torch.empty(n // 2, dtype=torch.float16, device="cuda").normal_()
b = torch.empty_like(a)
ms = []
for _ in range(12):
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record(); b.copy_(a); e.record(); torch.cuda.synchronize(); ms.append(s.elapsed_time(e))
ms = sorted(ms[2:])[len(ms[2:]) // 2]
print(f"torch copy bandwidth {2 * n / ms / 1e6:.0f} GB/s (read+write)")
EOF
      fi
      cat "$OUT/bandwidth.txt"
      python3 - "$MODEL" "$OUT/bandwidth.txt" "$OUT/floor.json" <<'EOF' || exit 1
import json, re, struct, sys
path, bwfile, dst = sys.argv[1:4]
# GGUF v2/v3 header: tensor names, shapes and types; bytes per tensor from the ggml type.
BLOCK = {0: (1, 4), 1: (1, 2), 30: (1, 2), 8: (32, 34), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24)}
SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
with open(path, "rb") as f:
    rd = lambda n: f.read(n)
    u32 = lambda: struct.unpack("<I", rd(4))[0]
    u64 = lambda: struct.unpack("<Q", rd(8))[0]
    def string():
        return rd(u64()).decode("utf-8", "replace")
    def skip(t):
        if t == 8:
            f.seek(u64(), 1)
        elif t == 9:
            et, n = u32(), u64()
            if et in SCALAR:
                f.seek(SCALAR[et] * n, 1)
            else:
                for _ in range(n):
                    skip(et)
        else:
            f.seek(SCALAR[t], 1)
    assert rd(4) == b"GGUF", f"{path}: not a GGUF file"
    version, n_tensors, n_kv = u32(), u64(), u64()
    for _ in range(n_kv):
        string()
        skip(u32())
    tensors = {}
    for _ in range(n_tensors):
        name = string()
        dims = [u64() for _ in range(u32())]
        t = u32()
        u64()
        n = 1
        for d in dims:
            n *= d
        blk, nb = BLOCK[t]
        tensors[name] = (dims, n // blk * nb)
total = sum(b for _, b in tensors.values())
embd_dims, embd = tensors.get("token_embd.weight", ([1, 1], 0))
embd_row = embd // max(embd_dims[-1], 1)
# Decode reads every matrix once per step, but only one row of the token embedding.
read = total - embd + embd_row
text = open(bwfile).read()
m_copy = re.search(r"copy bandwidth (\d+(?:\.\d+)?) GB/s", text)
m_read = re.search(r"read probe (\d+(?:\.\d+)?) GB/s", text)
copy = float(m_copy.group(1)) if m_copy else None
rbw = float(m_read.group(1)) if m_read else None
floor = {"model": path, "tensors": len(tensors), "tensor_bytes": total, "token_embd_bytes": embd,
         "weight_bytes_read_per_step": read, "copy_gbps": copy, "read_gbps": rbw,
         "bandwidth_gbps": rbw if rbw else copy,
         "bandwidth_source": "read probe" if rbw else ("copy (read+write)" if copy else None)}
json.dump(floor, open(dst, "w"), indent=1)
print(json.dumps(floor, indent=1))
if not floor["bandwidth_gbps"]:
    sys.exit("no bandwidth measurement")
EOF
      ;;
    profile)
      # Nsight Compute, kernel by kernel (isolated, caches flushed): eager decode steps of a
      # PROFILE_LAYERS-layer 8B-shape model (per-layer kernels repeat, so a few layers suffice).
      ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
      [ -n "$ncu" ] || { echo "no ncu on this machine"; rc=1; continue; }
      for v in ${PROFILE_VARIANTS:-dense latent50 latent50-q4}; do
        for ctx in ${PROFILE_CTX:-4096}; do
          # 2 warm-ups + 3 timed steps + 1 logits step = 6 decode steps
          "$ncu" --clock-control none --metrics gpu__time_duration.sum --csv \
            $B/cuda_e2e_bench --layers "${PROFILE_LAYERS:-4}" --contexts "$ctx" --batches "${PROFILE_BATCH:-1}" \
            --steps 3 --variants "$v" --graphs 0 > "$OUT/ncu_${v}_$ctx.csv" 2> "$OUT/ncu_${v}_$ctx.log" ||
            { echo "ncu $v $ctx failed:"; tail -5 "$OUT/ncu_${v}_$ctx.log"; rc=1; continue; }
          echo "== $v, ctx $ctx, batch ${PROFILE_BATCH:-1}, ${PROFILE_LAYERS:-4} layers"
          python3 bench/profile_decode.py "$OUT/ncu_${v}_$ctx.csv" 6 "${PROFILE_TOP:-25}" | tee "$OUT/profile_${v}_$ctx.txt"
        done
      done
      ;;
    trace)
      # The graph as replayed (PDL, no isolation): where a step's time goes and how kernels overlap.
      # lrkv finds libcupti on the loader path and in the CUDA toolkit; else PyTorch's wheel may carry one.
      if [ -z "${LRKV_CUPTI_LIB:-}" ] && ! ls /usr/local/cuda/lib64/libcupti.so* /usr/local/cuda/extras/CUPTI/lib64/libcupti.so* >/dev/null 2>&1; then
        LRKV_CUPTI_LIB=$(python3 -c 'import glob, os, nvidia; print((glob.glob(os.path.join(list(nvidia.__path__)[0], "cuda_cupti/lib/libcupti.so*")) + [""])[0])' 2>/dev/null)
        [ -n "$LRKV_CUPTI_LIB" ] && export LRKV_CUPTI_LIB && echo "trace: CUPTI from $LRKV_CUPTI_LIB"
      fi
      for spec in "dense:$MODEL:" "mkv50:$WORK/mkv50.gguf:--latent-bits 0" "mkv50_int4:$WORK/mkv50.gguf:--latent-bits 4 --latent-group 32"; do
        IFS=: read -r name model flags <<< "$spec"
        [ -s "$model" ] || { echo "trace: no $model (the cli step makes it)"; continue; }
        stamp "trace: $name"
        # shellcheck disable=SC2086
        $B/lrkv bench "$model" --dtype f16 --skip-finite-check --device cuda --ctx "${CLI_CTX:-4096,32768}" --batch 1 \
          -n 32 -r 1 --profile $flags > "$OUT/trace_$name.md" 2> "$OUT/trace_$name.log" ||
          { echo "trace $name failed:"; tail -5 "$OUT/trace_$name.log"; rc=1; continue; }
        cat "$OUT/trace_$name.md"
      done
      ;;
    llamacpp)
      wait_llama || exit 1
      bash bench/llamacpp_peer.sh bench "$LB" "$MODEL" "$OUT" || rc=1
      ;;
    e2e)
      $B/cuda_e2e_bench --contexts 4096,32768 --batches 1,16 --steps "$E2E_STEPS" --csv "$OUT/e2e.csv" \
        > "$OUT/e2e.log" 2>&1 || rc=1
      tail -12 "$OUT/e2e.log"
      if [ "${E2E_NO_PDL:-1}" = 1 ]; then
        # The same decode without programmatic dependent launch (kernels/cuda/pdl.cuh), batch 1.
        LRKV_PDL=0 $B/cuda_e2e_bench --contexts 4096,32768 --batches 1 --variants dense,latent50-q4 --steps "$E2E_STEPS" \
          --csv "$OUT/e2e_nopdl.csv" > "$OUT/e2e_nopdl.log" 2>&1 || rc=1
        echo "without PDL (LRKV_PDL=0):"
        grep "b=" "$OUT/e2e_nopdl.log"
      fi
      ;;
    cli)
      : > "$OUT/cli.log"
      stamp "cli: dense"
      cli_bench "$MODEL" "$OUT/cli_dense.json" || rc=1
      for method in ${CLI_METHODS-lorc mkv-pca}; do
        case $method in
          lorc)  # plain SVD, no calibration; keys rebuilt from latents (the CUDA engine runs fp16
                 # latents for it; --latent-bits needs absorbed keys, so no int4 row). Per KV head
                 # (rank 64): LoRC's default "joint" would be rank 512, past the CUDA rebuild
                 # kernel's 128.
            stamp "cli: compress lorc 50% (per head)"
            cli_compress "$WORK/lorc50.gguf" --method lorc --granularity head && {
              stamp "cli: bench lorc 50%"
              cli_bench "$WORK/lorc50.gguf" "$OUT/cli_lorc50.json" || rc=1
            } || rc=1
            rm -f "$WORK/lorc50.gguf"
            ;;
          mkv-pca)  # absorbed keys (what the quantized-latent kernels need) but a calibrated PCA:
                    # CALIB_TOKENS tokens of SHARED's text through the random model, on the GPU
            if [ ! -f "$TEXT" ]; then
              echo "no $TEXT: skipping the mkv-pca rows"; rc=1; continue
            fi
            stamp "cli: compress mkv-pca 50% (calibration: ${CALIB_TOKENS:-2048} tokens)"
            cli_compress "$WORK/mkv50.gguf" --method mkv-pca --granularity head --text "$TEXT" --split-paragraphs \
              --tokens "${CALIB_TOKENS:-2048}" && {
              stamp "cli: bench mkv-pca 50% fp16 latents"
              cli_bench "$WORK/mkv50.gguf" "$OUT/cli_mkv50.json" --latent-bits 0 || rc=1
              stamp "cli: bench mkv-pca 50% int4 latents"
              cli_bench "$WORK/mkv50.gguf" "$OUT/cli_mkv50_int4.json" --latent-bits 4 --latent-group 32 || rc=1
            } || rc=1
            ;;  # (kept: the serve step reuses it)
          *) echo "CLI_METHODS: unknown $method (lorc, mkv-pca)"; rc=1 ;;
        esac
      done
      ;;
    serve)
      # Issue 15's GPU table: `lrkv serve --device cuda` (dense, mkv-pca 50%, + int4 latents) next
      # to llama-server (f16 and q4_0 KV) at one KV budget, SERVE_CTX-token contexts
      # (scripts/serve_capacity.sh). llama-server must have been built: LLAMA_TARGETS="llama-bench
      # llama-server" at the build step. SERVE_PROMPT counts words of bench-serve's synthetic text:
      # 1.95 tokens each with the synth 8B tokenizer (llama-server counted 28,199 tokens for 14,500
      # words), so the default fills ~28.2K of a 32K context. Defaults: 12 clients, 12 requests,
      # 256 tokens each (~5 min for the five rows on an H200); SERVE_GEN=1024 SERVE_CLIENTS=7
      # weighs decoding more. The saturating load of CUDA_NOTES part 8 (SERVE_GEN=1024
      # SERVE_CLIENTS=16 SERVE_REQUESTS=16) takes 1.5-2.5 min per row: split the rows over calls
      # with SERVE_ROWS (serve_capacity.sh's ROWS) and SERVE_LLAMA_KV (f16 q4_0).
      wait_llama || exit 1
      [ -x "$LB/bin/llama-server" ] || { echo "no $LB/bin/llama-server: build with LLAMA_TARGETS=\"llama-bench llama-server\""; rc=1; continue; }
      if [ ! -s "$WORK/mkv50.gguf" ]; then
        stamp "serve: compress mkv-pca 50%"
        cli_compress "$WORK/mkv50.gguf" --method mkv-pca --granularity head --text "$TEXT" --split-paragraphs \
          --tokens "${CALIB_TOKENS:-2048}" || { rc=1; continue; }
      fi
      LRKV=$B/lrkv DEVICE=cuda BUDGET=${SERVE_BUDGET:-8GiB} CTX=${SERVE_CTX:-32768} PROMPT=${SERVE_PROMPT:-14500} \
        GEN=${SERVE_GEN:-256} CLIENTS=${SERVE_CLIENTS:-12} REQUESTS=${SERVE_REQUESTS:-${SERVE_CLIENTS:-12}} LATENT_BITS=4 ROWS="${SERVE_ROWS:-llama dense compressed quant}" \
        WAIT=300 THREADS=$NCPU LLAMA_SERVER=$LB/bin/llama-server LLAMA_KV_TYPES="${SERVE_LLAMA_KV:-f16 q4_0}" \
        SERVE_ARGS="--dtype f16 --skip-finite-check" \
        bash scripts/serve_capacity.sh "$MODEL" "$WORK/mkv50.gguf" 2>&1 | tee "$OUT/serve.log" |
        grep -E "^## |KV cache|requests \\(|prompt tokens/s|generated tokens/s|decode tokens/s|TTFT p50|ITL p50|ITL p99|errors|peak"
      ;;
    table)
      python3 - "$OUT" "$E2E_STEPS" <<'EOF' || rc=1
import csv, json, os, sys
out, e2e_steps = sys.argv[1], int(sys.argv[2])
CTX = [4096, 32768]
# Llama-3-8B shape: 32 layers, 8 KV heads of 128 -> values per token in K and V.
KV_VALUES = 32 * 2 * 8 * 128
F16_KV = KV_VALUES * 2

def load_json(name):
    p = os.path.join(out, name)
    return json.load(open(p)) if os.path.exists(p) else None

floor = load_json("floor.json")
bw = floor["bandwidth_gbps"] * 1e9 if floor and floor.get("bandwidth_gbps") else None
W = floor["weight_bytes_read_per_step"] if floor else None

def floor_tps(kvb, ctx, batch=1, w=None):
    # w: the weight bytes this row's engine reads per step (reported by the CUDA engine: a
    # compressed model reads its latent factors instead of W_v / W_o), else the GGUF's W.
    w = w if w else W
    if not bw or w is None or kvb is None:
        return None
    return batch * bw / (w + batch * ctx * kvb)

rows = []  # (group, label, kv bytes/token, {ctx: tok/s}, {ctx: sd or None}, weight bytes/step or None)

# llama.cpp (llama-bench tg64 at depth d, batch 1)
p = os.path.join(out, "llamacpp.csv")
if os.path.exists(p):
    per = {"f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}
    got = {}
    for r in csv.DictReader(open(p)):
        got.setdefault(r["kv_type"], {})[int(r["depth"])] = (float(r["tok_s"]), float(r.get("tok_s_sd") or 0))
    for k in ["f16", "q8_0", "q4_0"] + sorted(set(got) - {"f16", "q8_0", "q4_0"}):
        if k in got:
            rows.append(("llama.cpp", f"{k} KV", round(KV_VALUES * per.get(k, 2.0)),
                         {c: v[0] for c, v in got[k].items()}, {c: v[1] for c, v in got[k].items()}, None))

# cuda_e2e_bench: variant,batch,ctx,ms_per_step,tok_s,cache_bytes,layers[,weight_bytes],note (the
# note is last and may hold commas; weight_bytes since the engine reports them)
e2e = []
p = os.path.join(out, "e2e.csv")
if os.path.exists(p):
    lines = open(p).read().splitlines()
    head = lines[0].split(",") if lines else []
    for line in lines[1:]:
        f = dict(zip(head, line.split(",", len(head) - 1)))
        if len(f) < len(head) - 1:
            continue
        e2e.append({"variant": f["variant"], "batch": int(f["batch"]), "ctx": int(f["ctx"]),
                    "ms": float(f["ms_per_step"]), "tok_s": float(f["tok_s"]), "cache_bytes": int(f["cache_bytes"]),
                    "weight_bytes": int(f.get("weight_bytes") or 0) or None, "note": f.get("note", "")})
E2E_LABEL = {"dense-f16": "dense f16 KV", "latent50-f16": "50% latents (mkv-pca shape, fp16)",
             "latent50-int4": "50% latents + int4 (g32)"}
NOMINAL = {"dense-f16": F16_KV, "latent50-f16": F16_KV // 2, "latent50-int4": 32 * 2 * 8 * (32 + 2 * 4)}

def e2e_kvb(v, batch):
    rs = [r for r in e2e if r["variant"] == v and r["batch"] == batch and r["cache_bytes"] > 0]
    if not rs:
        return NOMINAL.get(v)
    r = max(rs, key=lambda r: r["ctx"])  # allocated for ctx + steps + 4 tokens per sequence
    return round(r["cache_bytes"] / (batch * (r["ctx"] + e2e_steps + 4)))

for v in ["dense-f16", "latent50-f16", "latent50-int4"]:
    rs = {r["ctx"]: r for r in e2e if r["variant"] == v and r["batch"] == 1}
    if rs:
        rows.append(("lrkv cuda_e2e_bench", E2E_LABEL[v], e2e_kvb(v, 1),
                     {c: r["tok_s"] for c, r in rs.items() if r["tok_s"] > 0}, {},
                     next(iter(rs.values()))["weight_bytes"]))

# lrkv bench --device cuda (JSON rows: ctx, batch, decode_tps, decode_tps_sd, kv_bytes_per_token, cache)
for name, label in [("cli_dense.json", "dense f16 KV"), ("cli_lorc50.json", "lorc 50% latents (per head, rebuilt keys, fp16)"),
                    ("cli_mkv50.json", "mkv-pca 50% latents (per head, absorbed, fp16)"),
                    ("cli_mkv50_int4.json", "mkv-pca 50% latents + int4 (g32)")]:
    js = load_json(name)
    if not js:
        continue
    b1 = [r for r in js if r["batch"] == 1]
    if b1:
        rows.append(("lrkv bench (CLI)", label, b1[0]["kv_bytes_per_token"],
                     {r["ctx"]: r["decode_tps"] for r in b1}, {r["ctx"]: r["decode_tps_sd"] for r in b1},
                     b1[0].get("decode_weight_bytes")))

ref = next((r[3] for r in rows if r[0] == "llama.cpp" and r[1] == "f16 KV"), {})

def cell(v, sd=None):
    if v is None:
        return "-"
    return f"{v:.1f} ± {sd:.1f}" if sd else f"{v:.1f}"

def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "-"

def pct(a, b):
    return f"{100 * a / b:.0f}%" if a and b else "-"

md = []
md.append("## Decode tokens/s, batch 1, Llama-3-8B shape (random f16 weights; cuda_e2e_bench: bf16, same bytes)\n")
if floor:
    src = floor.get("bandwidth_source")
    md.append(f"Bandwidth: {floor.get('bandwidth_gbps') or 0:.0f} GB/s ({src}; copy {floor.get('copy_gbps') or 0:.0f} GB/s "
              f"read+write), weights read per token {W / 1e9:.2f} GB (GGUF tensors {floor['tensor_bytes'] / 1e9:.2f} GB "
              f"less the token embedding but one row). Floor = (weights + KV bytes/token x ctx) / bandwidth; "
              f"'of floor' uses each row's own KV bytes and, where the engine reports them (column 'W GB'), "
              f"its own weight bytes.\n")
hdr = "| engine | KV cache | KV B/token | W GB | " + " | ".join(f"ctx {c}" for c in CTX) + \
      " | vs llama.cpp f16 (" + " / ".join(str(c) for c in CTX) + ") | of floor (" + " / ".join(str(c) for c in CTX) + ") |"
md.append(hdr)
md.append("|" + "---|" * (4 + len(CTX) + 2))
for g, label, kvb, tps, sd, w in rows:
    md.append(f"| {g} | {label} | {kvb if kvb is not None else '-'} | {(w or W or 0) / 1e9:.2f} | " +
              " | ".join(cell(tps.get(c), sd.get(c)) for c in CTX) + " | " +
              " / ".join(ratio(tps.get(c), ref.get(c)) for c in CTX) + " | " +
              " / ".join(pct(tps.get(c), floor_tps(kvb, c, 1, w)) for c in CTX) + " |")
# The latent floors take the weight bytes the 50% latent engine reported (factors instead of W_v, W_o).
w50 = next((r[5] for r in rows if r[0] == "lrkv cuda_e2e_bench" and r[1] == E2E_LABEL["latent50-f16"]), None)
for label, kvb, w in [("f16 KV", F16_KV, None), ("q8_0 KV", round(KV_VALUES * 34 / 32), None),
                      ("q4_0 KV", round(KV_VALUES * 18 / 32), None), ("50% latents fp16", F16_KV // 2, w50),
                      ("50% latents int4 g32", NOMINAL["latent50-int4"], w50)]:
    ft = {c: floor_tps(kvb, c, 1, w) for c in CTX}
    md.append(f"| **floor** | {label} | {kvb} | {(w or W or 0) / 1e9:.2f} | " +
              " | ".join(cell(ft[c]) for c in CTX) + " | " +
              " / ".join(ratio(ft[c], ref.get(c)) for c in CTX) + " | 100% |")

b16 = sorted((r for r in e2e if r["batch"] != 1), key=lambda r: (r["batch"], r["ctx"], list(E2E_LABEL).index(r["variant"])
                                                               if r["variant"] in E2E_LABEL else 9))
if b16:
    md.append("\n## lrkv cuda_e2e_bench, batched decode (tokens/s summed over the batch)\n")
    md.append("| batch | ctx | KV cache | KV B/token | tok/s | ms/step | floor tok/s | of floor | cache GB |")
    md.append("|---|---|---|---|---|---|---|---|---|")
    for r in b16:
        kvb = e2e_kvb(r["variant"], r["batch"])
        ft = floor_tps(kvb, r["ctx"], r["batch"], r["weight_bytes"])
        tps = r["tok_s"] if r["tok_s"] > 0 else None
        md.append(f"| {r['batch']} | {r['ctx']} | {E2E_LABEL.get(r['variant'], r['variant'])} | {kvb} | "
                  f"{cell(tps) if tps else r['note'] or '-'} | {r['ms']:.2f} | {cell(ft)} | {pct(tps, ft)} | "
                  f"{r['cache_bytes'] / 1e9:.2f} |")
missing = [n for n in ["floor.json", "llamacpp.csv", "e2e.csv", "cli_dense.json"] if not os.path.exists(os.path.join(out, n))]
if missing:
    md.append(f"\n(missing inputs: {', '.join(missing)})")
text = "\n".join(md) + "\n"
open(os.path.join(out, "decode_table.md"), "w").write(text)
print(text, end="")
EOF
      ;;
    *) echo "unknown step $step (build tests synth floor llamacpp e2e cli table)"; rc=1 ;;
  esac
  stamp "step $step done"
done
exit $rc
