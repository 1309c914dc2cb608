#!/usr/bin/env bash
# Soak test of `lrkv serve` (issue 15): starts the server on MODEL, loads it with `lrkv bench-serve`
# for SECONDS at CLIENTS concurrent streaming clients with random prompt/generation lengths and
# random disconnects, samples the server's resident memory every 10 s from /metrics, then stops
# it with SIGTERM. Passes when the server never dies, every request ends ok or abandoned on
# purpose (none lost), the server exits 0, and memory is flat: the last sample is within
# SOAK_RSS_SLACK_MB (default 64) of the largest sample of the first quarter.
# Usage: scripts/soak_serve.sh MODEL [SECONDS=600] [CLIENTS=32] [OUTDIR=soak-out] [-- serve flags]
set -uo pipefail
model=${1:?usage: soak_serve.sh MODEL [SECONDS] [CLIENTS] [OUTDIR] [-- serve flags]}
secs=${2:-600}
clients=${3:-32}
out=${4:-soak-out}
shift $(($# < 4 ? $# : 4))
[ "${1:-}" = "--" ] && shift
lrkv=${LRKV:-./build/lrkv}
port=${SOAK_PORT:-18431}
mkdir -p "$out"
"$lrkv" serve "$model" --port "$port" --parallel "$clients" --ctx 512 "$@" > "$out/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/health" > /dev/null && break
  sleep 0.2
done
rss() { curl -sf "http://127.0.0.1:$port/metrics" | sed -n 's/^lrkv_process_resident_bytes //p'; }
echo "t_s,rss_bytes" > "$out/rss.csv"
(
  t=0
  while kill -0 "$server" 2>/dev/null; do
    echo "$t,$(rss)" >> "$out/rss.csv"
    sleep 10
    t=$((t + 10))
  done
) &
sampler=$!
"$lrkv" bench-serve --url "http://127.0.0.1:$port" --concurrency "$clients" --prompt-len 200 --gen-len 200 \
  --duration "$secs" --random-lengths --disconnect-rate 0.2 --stream --timeout 120 > "$out/load.txt" 2>&1
load_rc=$?
alive=1
kill -0 "$server" 2>/dev/null || alive=0
curl -sf "http://127.0.0.1:$port/metrics" > "$out/metrics.txt"
kill -TERM "$server" 2>/dev/null
wait "$server"
server_rc=$?
kill "$sampler" 2>/dev/null
cat "$out/load.txt"
grep -E "^lrkv_(requests_|generated|kv_slots_used|process_resident)" "$out/metrics.txt"
python3 - "$out/rss.csv" "${SOAK_RSS_SLACK_MB:-64}" <<'PY'
import sys
rows = [l.strip().split(",") for l in open(sys.argv[1]).readlines()[1:] if l.strip().split(",")[1:] != [""]]
rss = [(int(t), int(b)) for t, b in rows if b]
if len(rss) < 4:
    sys.exit(f"memory: only {len(rss)} samples")
quarter = max(1, len(rss) // 4)
early = max(b for _, b in rss[:quarter])
last = rss[-1][1]
mb = lambda b: b / 2**20
print(f"memory: first-quarter max {mb(early):.1f} MiB, last {mb(last):.1f} MiB, max {mb(max(b for _, b in rss)):.1f} MiB "
      f"over {rss[-1][0]} s ({len(rss)} samples)")
sys.exit(0 if last - early <= float(sys.argv[2]) * 2**20 else "memory grew")
PY
mem_rc=$?
echo "soak: server alive at the end $alive, server exit $server_rc, load exit $load_rc, memory check $mem_rc"
[ "$alive" = 1 ] && [ "$server_rc" = 0 ] && [ "$load_rc" = 0 ] && [ "$mem_rc" = 0 ]
