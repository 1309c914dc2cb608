#!/usr/bin/env bash
# What a smaller, paged KV cache buys a server (issue 15): `lrkv serve` under the same load and
# the same --kv-budget, three ways: the dense model with whole-context slots (--kv-block 0, what
# an unpaged server reserves), the dense model paged, and (when given) a compressed model paged
# (its default latent quantisation). CLIENTS concurrent streaming clients send PROMPT-token
# prompts for GEN tokens; the script polls /metrics for the most sequences running at once and
# the most KV blocks in use, and `lrkv bench-serve` measures throughput and latency.
# Usage: scripts/serve_capacity.sh DENSE.gguf [COMPRESSED.gguf]
# Environment: BUDGET (default 12MiB), CTX (512), CLIENTS (32), PROMPT (128), GEN (64),
# REQUESTS (96), THREADS (nproc), LRKV (./build/lrkv), PORT (18532); LATENT_BITS=4 adds a run of
# the compressed model with 4-bit latents.
set -uo pipefail
dense=${1:?usage: serve_capacity.sh DENSE.gguf [COMPRESSED.gguf]}
compressed=${2:-}
lrkv=${LRKV:-./build/lrkv}
budget=${BUDGET:-12MiB} ctx=${CTX:-512} clients=${CLIENTS:-32} prompt=${PROMPT:-128}
gen=${GEN:-64} requests=${REQUESTS:-96} threads=${THREADS:-$(nproc)} port=${PORT:-18532}
metric() { curl -sf "http://127.0.0.1:$port/metrics" | awk -v n="lrkv_$1" '$1 == n {print $2}'; }
run() {  # run NAME MODEL SERVE_ARGS...
  local name=$1 model=$2; shift 2
  LRKV_THREADS="$threads" "$lrkv" serve "$model" --port "$port" --ctx "$ctx" --kv-budget "$budget" \
    --parallel "$clients" "$@" > "/tmp/serve_capacity_$name.log" 2>&1 &
  local pid=$!
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/health" > /dev/null && break; sleep 0.2; done
  local peak_file="/tmp/serve_capacity_$name.peak"
  echo "0 0" > "$peak_file"
  ( peak_run=0 peak_blocks=0
    while kill -0 "$pid" 2>/dev/null; do
      r=$(metric sequences_running) b=$(metric kv_blocks_used)
      [ -n "$r" ] && [ "$r" -gt "$peak_run" ] && peak_run=$r
      [ -n "$b" ] && [ "$b" -gt "$peak_blocks" ] && peak_blocks=$b
      echo "$peak_run $peak_blocks" > "$peak_file"; sleep 0.1
    done ) &
  local poller=$!
  echo "## $name"
  grep -o 'KV cache .*reserved' "/tmp/serve_capacity_$name.log"
  LRKV_THREADS=1 "$lrkv" bench-serve --url "http://127.0.0.1:$port" --concurrency "$clients" \
    --prompt-len "$prompt" --gen-len "$gen" --requests "$requests" --stream
  echo "preemptions $(metric preemptions_total), prefix tokens shared $(metric prefix_cached_tokens_total)"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null; wait "$poller" 2>/dev/null
  read -r peak_run peak_blocks < "$peak_file"
  echo "peak sequences running $peak_run, peak KV blocks used $peak_blocks"
  port=$((port + 1))
}
run dense-slots "$dense" --kv-block 0
run dense-paged "$dense"
[ -n "$compressed" ] && run compressed-paged "$compressed"
[ -n "$compressed" ] && [ -n "${LATENT_BITS:-}" ] &&
  run "compressed-int${LATENT_BITS}-paged" "$compressed" --latent-bits "$LATENT_BITS"
exit 0
