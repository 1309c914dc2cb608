#!/usr/bin/env bash
# What a smaller, paged KV cache buys a server (issue 15): `lrkv serve` under the same load and
# the same --kv-budget, three ways: the dense model with whole-context slots (--kv-block 0, what
# an unpaged server reserves), the dense model paged, and (when given) a compressed model paged
# (its default latent quantisation). CLIENTS concurrent streaming clients send PROMPT-token
# prompts for GEN tokens; the script polls /metrics for the most sequences running at once and
# the most KV blocks in use, and `lrkv bench-serve` measures throughput and latency.
# With LLAMA_SERVER=path, llama.cpp's server runs the dense GGUF under the same load and the same
# KV memory: -c = the tokens BUDGET holds at its KV type (f16, then q4_0; bytes per token from
# `lrkv info`, which sizes them as ggml does), -np = the CTX-token sequences that fit (at most
# CLIENTS), so its concurrency is what the budget allows it.
# Usage: scripts/serve_capacity.sh DENSE.gguf [COMPRESSED.gguf]
# Environment: BUDGET (default 12MiB), CTX (512), CLIENTS (32), PROMPT (128), GEN (64),
# REQUESTS (96), THREADS (nproc), LRKV (./build/lrkv), PORT (18532), DEVICE (cpu; cuda for the GPU
# engine), LATENT_BITS=4 adds a run of the compressed model with 4-bit latents, LLAMA_SERVER
# (llama-server binary: adds its f16 and q4_0 KV rows; LLAMA_KV_TYPES to change them),
# ROWS (which rows run, in a fixed order; default "llama slots dense compressed quant":
# llama-server, dense whole-context slots, dense paged, compressed paged, compressed with
# LATENT_BITS), SERVE_ARGS (more flags for every lrkv serve, e.g. "--dtype f16
# --skip-finite-check" for a synthesized f16 model), LLAMA_ARGS (more flags for llama-server; a CTX
# past the model's trained context is passed as --override-kv), WAIT (start-up timeout, s; 60).
# bench-serve's "decode tokens/s" is the aggregate decode rate (tokens after each request's first
# over the time some request was decoding): with every request in flight, the batch's throughput.
# The GPU table of issue 15 (8B shape, 8 GiB, 32K-token requests):
#   DEVICE=cuda BUDGET=8GiB CTX=32768 PROMPT=14500 GEN=256 CLIENTS=12 REQUESTS=12 LATENT_BITS=4 \
#   ROWS="llama dense compressed quant" SERVE_ARGS="--dtype f16 --skip-finite-check" \
#   LLAMA_SERVER=build-llama/bin/llama-server scripts/serve_capacity.sh synth8b.gguf mkv50.gguf
# (PROMPT counts words of bench-serve's synthetic text: 1.95 tokens each with `lrkv synth`'s 8B
# tokenizer; bench/decode_table.sh's serve step runs this)
set -uo pipefail
dense=${1:?usage: serve_capacity.sh DENSE.gguf [COMPRESSED.gguf]}
compressed=${2:-}
lrkv=${LRKV:-./build/lrkv}
budget=${BUDGET:-12MiB} ctx=${CTX:-512} clients=${CLIENTS:-32} prompt=${PROMPT:-128}
gen=${GEN:-64} requests=${REQUESTS:-96} threads=${THREADS:-$(nproc)} port=${PORT:-18532}
device=${DEVICE:-cpu} wait_s=${WAIT:-60}
# BUDGET in bytes (1024-based units as lrkv serve reads them: B, KiB, MiB, GiB).
budget_bytes=$(python3 -c '
import re, sys
m = re.fullmatch(r"([0-9.]+)\s*(B|KiB|MiB|GiB|TiB)?", sys.argv[1])
if not m: sys.exit(f"BUDGET: {sys.argv[1]!r} is not a size like 8GiB")
print(int(float(m.group(1)) * 1024 ** ["B", "KiB", "MiB", "GiB", "TiB"].index(m.group(2) or "B")))' "$budget") || exit 2
started() {  # started NAME PID: until /health answers (the server may load a large model); if it
             # never does, says so, stops it and moves to the next port
  local name=$1 pid=$2 i
  for i in $(seq $((wait_s * 5))); do
    curl -sf "http://127.0.0.1:$port/health" > /dev/null && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  echo "## $name: the server did not start; tail of /tmp/serve_capacity_$name.log:"
  tail -5 "/tmp/serve_capacity_$name.log"; kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  port=$((port + 1))
  return 1
}
load() {  # the same load against whichever server listens on $port
  LRKV_THREADS=1 "$lrkv" bench-serve --url "http://127.0.0.1:$port" --concurrency "$clients" \
    --prompt-len "$prompt" --gen-len "$gen" --requests "$requests" --stream
}
metric() { curl -sf "http://127.0.0.1:$port/metrics" | awk -v n="lrkv_$1" '$1 == n {print $2}'; }
run() {  # run NAME MODEL SERVE_ARGS...
  local name=$1 model=$2; shift 2
  LRKV_THREADS="$threads" "$lrkv" serve "$model" --port "$port" --ctx "$ctx" --kv-budget "$budget" \
    --parallel "$clients" --device "$device" ${SERVE_ARGS:-} "$@" > "/tmp/serve_capacity_$name.log" 2>&1 &
  local pid=$!
  started "$name" "$pid" || return 1
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
  load
  echo "preemptions $(metric preemptions_total), prefix tokens shared $(metric prefix_cached_tokens_total)"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null; wait "$poller" 2>/dev/null
  read -r peak_run peak_blocks < "$peak_file"
  echo "peak sequences running $peak_run, peak KV blocks used $peak_blocks"
  port=$((port + 1))
}
# llama-server at the same KV memory: run_llama KV_TYPE
dense_info=  # `lrkv info` of the dense model, read once (it loads the model)
run_llama() {
  local t=$1 per tokens np name="llama-server-$1"
  [ -n "$dense_info" ] || dense_info=$("$lrkv" info "$dense" 2>/dev/null)
  per=$(sed -n "s/^KV by cache type.* $t \([0-9]*\).*/\1/p" <<< "$dense_info")
  [ -n "$per" ] || { echo "## $name: no '$t' bytes per token in lrkv info"; return 1; }
  tokens=$((budget_bytes / per))
  np=$((tokens / ctx)); [ "$np" -gt "$clients" ] && np=$clients
  [ "$np" -ge 1 ] || { echo "## $name: $budget holds $tokens tokens at $t, less than one $ctx-token sequence"; return 1; }
  local ngl=0; [ "$device" = cuda ] && ngl=99
  # llama-server caps a slot at the model's trained context; lrkv serve takes --ctx beyond it
  # (with a warning). The same CTX for both: raise the metadata when CTX is larger.
  local trained arch over=()
  trained=$(sed -n 's/^context  *\([0-9]*\).*/\1/p' <<< "$dense_info")
  arch=$(sed -n "s/^architecture  *\([a-z0-9_]*\).*/\1/p" <<< "$dense_info")
  if [ -n "$trained" ] && [ -n "$arch" ] && [ "$ctx" -gt "$trained" ]; then
    over=(--override-kv "$arch.context_length=int:$ctx")
  fi
  "$LLAMA_SERVER" -m "$dense" --port "$port" -c $((np * ctx)) -np "$np" -ctk "$t" -ctv "$t" -fa on -ngl "$ngl" \
    -t "$threads" -tb "$threads" --metrics "${over[@]}" ${LLAMA_ARGS:-} > "/tmp/serve_capacity_$name.log" 2>&1 &
  local pid=$!
  started "$name" "$pid" || return 1
  echo "## $name"
  echo "KV cache $t: $np slots x $ctx tokens = $((np * ctx)) tokens ($per B/token, budget $budget holds $tokens)${over[*]:+, ${over[*]}}"
  load
  kill -TERM "$pid"; wait "$pid" 2>/dev/null
  echo "peak sequences running $np (its slots)"
  port=$((port + 1))
}
rows=" ${ROWS:-llama slots dense compressed quant} "
has() { [[ $rows == *" $1 "* ]]; }
if [ -n "${LLAMA_SERVER:-}" ] && has llama; then
  for t in ${LLAMA_KV_TYPES:-f16 q4_0}; do run_llama "$t"; done
fi
has slots && run dense-slots "$dense" --kv-block 0
has dense && run dense-paged "$dense"
[ -n "$compressed" ] && has compressed && run compressed-paged "$compressed"
[ -n "$compressed" ] && [ -n "${LATENT_BITS:-}" ] && has quant &&
  run "compressed-int${LATENT_BITS}-paged" "$compressed" --latent-bits "$LATENT_BITS"
exit 0
