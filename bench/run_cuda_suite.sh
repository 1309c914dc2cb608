#!/usr/bin/env bash
# The CUDA suite, run on the device machine over prebuilt binaries (built elsewhere with
# -DLRKV_CUDA=ON and copied into BIN): GPU state, the CUDA unit tests, the kernel benchmark and
# its PyTorch SDPA peer in the same run, and Nsight Compute evidence for the decode kernels.
# Results go to $OUT (default ./cuda-out): nvidia-smi.txt tests.log bench.log ours.csv sdpa.csv
# sdpa.log ncu.txt ours_stages3.csv e2e.csv e2e.log.
# Usage: bash bench/run_cuda_suite.sh BIN [tests|bench|stages3|ncu|e2e ...]
# BENCH_ARGS go to both sides of the kernel benchmark (--contexts, --batches, --models, --iters),
# OURS_ARGS to ours only (--variants), E2E_ARGS to cuda_e2e_bench.
set -u
BIN=${1:?usage: run_cuda_suite.sh BIN [steps]}
shift
STEPS=${*:-tests bench ncu}
OUT=${OUT:-$PWD/cuda-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
# Models for the whole-model tests: BIN/shared (carried copies) when present, else ../shared.
[ -d "$BIN/shared" ] && export LRKV_SHARED_DIR="$(cd "$BIN/shared" && pwd)"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv
for step in $STEPS; do
  case $step in
    tests)
      "$BIN/lrkv_cuda_tests" 2>&1 | tee "$OUT/tests.log" | grep -E "^\[(latent|dense|rebuild|engine)|FAILED|PASSED|SKIPPED|Failure|Expected|Which is|rror" | head -150
      ;;
    bench)
      "$BIN/cuda_attention_bench" --csv "$OUT/ours.csv" ${BENCH_ARGS:-} ${OURS_ARGS:-} 2>&1 | tee "$OUT/bench.log" | tail -5
      python3 bench/sdpa_peer.py --csv "$OUT/sdpa.csv" --ours "$OUT/ours.csv" ${BENCH_ARGS:-} 2>&1 | tee "$OUT/sdpa.log" | grep -v "^llama"
      ;;
    e2e)  # end-to-end decode tokens/s, 8B shapes: full fp16 cache vs 50% latents vs 50% + int4
      "$BIN/cuda_e2e_bench" --csv "$OUT/e2e.csv" ${E2E_ARGS:-} 2>&1 | tee "$OUT/e2e.log" | tail -20
      ;;
    stages3)  # the latent kernel with 3 pipeline stages instead of 2, long contexts, batch 1
      LRKV_ATTN_STAGES=3 "$BIN/cuda_attention_bench" --batches 1 --contexts 65536,131072 \
        --variants dense,absorbed-head,absorbed-g4 --csv "$OUT/ours_stages3.csv" 2>&1 | grep -E "^llama|copy"
      ;;
    ncu)
      : > "$OUT/ncu.txt"
      for v in absorbed-head rebuild dense; do
        k=latent_attention_kernel; [ $v = rebuild ] && k=rebuild_attention_kernel
        echo "=== $v llama2-7b b=1 ctx=65536 ===" >> "$OUT/ncu.txt"
        timeout 300 ncu --clock-control none --kernel-name regex:$k --launch-skip 3 --launch-count 1 \
          --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats \
          --section WarpStateStats --section ComputeWorkloadAnalysis \
          "$BIN/cuda_attention_bench" --variants $v --contexts 65536 --batches 1 --models llama2-7b --iters 3 \
          >> "$OUT/ncu.txt" 2>&1
      done
      grep -E "===|DRAM Throughput|Memory Throughput|Compute \(SM\)|Duration|Achieved Occupancy|Registers|Issue Slots Busy" "$OUT/ncu.txt"
      ;;
  esac
done
