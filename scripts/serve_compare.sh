#!/usr/bin/env bash
# `lrkv serve` next to llama.cpp's `llama-server` under the same load (issue 15): each server in
# turn on 127.0.0.1, the same GGUF (llama-server: the dense one; lrkv: the dense one and, when
# given, a compressed one), CLIENTS concurrent streaming clients, PROMPT-token prompts, GEN
# generated tokens (ignore_eos), REQUESTS requests, measured by `lrkv bench-serve`. Both servers
# get the same threads and per-sequence context (slots x 512).
# Usage: scripts/serve_compare.sh LLAMA_SERVER DENSE.gguf [COMPRESSED.gguf]
# Environment: CLIENTS (16), PROMPT (128), GEN (64), REQUESTS (48), THREADS (nproc), LRKV (./build/lrkv).
set -uo pipefail
llama=${1:?usage: serve_compare.sh LLAMA_SERVER DENSE.gguf [COMPRESSED.gguf]}
dense=${2:?usage: serve_compare.sh LLAMA_SERVER DENSE.gguf [COMPRESSED.gguf]}
compressed=${3:-}
lrkv=${LRKV:-./build/lrkv}
clients=${CLIENTS:-16} prompt=${PROMPT:-128} gen=${GEN:-64} requests=${REQUESTS:-48} threads=${THREADS:-$(nproc)}
port=${PORT:-18432}
run() {  # run NAME COMMAND...: start the server on $port, load it, stop it (next run: next port)
  local name=$1; shift
  local args=("${@//PORT/$port}")
  "${args[@]}" > "/tmp/serve_compare_$name.log" 2>&1 &
  local pid=$!
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/health" > /dev/null && break; sleep 0.2; done
  echo "## $name"
  LRKV_THREADS=1 "$lrkv" bench-serve --url "http://127.0.0.1:$port" --concurrency "$clients" --prompt-len "$prompt" \
    --gen-len "$gen" --requests "$requests" --stream
  kill -TERM "$pid"; wait "$pid" 2>/dev/null
  port=$((port + 1))
}
run llama-server "$llama" -m "$dense" --port PORT -np "$clients" -c $((clients * 512)) -t "$threads" -tb "$threads"
run lrkv-dense env LRKV_THREADS="$threads" "$lrkv" serve "$dense" --port PORT --parallel "$clients" --ctx 512
[ -n "$compressed" ] &&
  run lrkv-compressed env LRKV_THREADS="$threads" "$lrkv" serve "$compressed" --port PORT --parallel "$clients" --ctx 512
exit 0
