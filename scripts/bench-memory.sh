#!/usr/bin/env bash
# The bounded-memory benchmark of issue 12: 100K × 100K realistic CLKs (people made by
# `anonlink generate`, 50% overlap, medium noise, hashed with the default schema: near-miss
# pairs as in real data) linked into groups at several thresholds by `anonlink link` under
# the default --memory-limit (1 GiB). Per threshold: candidates, time, comparisons/s, peak
# RSS and the most disk its candidate runs took.
#   scripts/bench-memory.sh [RECORDS] [THRESHOLDS...]   # default 100000, 0.8 0.75 0.7
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-100000}
shift || true
thresholds=("$@")
[ ${#thresholds[@]} -eq 0 ] && thresholds=(0.8 0.75 0.7)
cargo build --release --quiet -p anonlink-cli
A=target/release/anonlink
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
$A generate "$records" "$W/p.csv" --parties 2 --overlap 0.5 --corruption medium --seed 12 2>/dev/null
$A generate-default-schema "$W/schema.json"
for p in 1 2; do
  $A hash "$W/p-$p.csv" --schema "$W/schema.json" --secret bench -o "$W/p-$p.bin" --binary -q
done
size=$(( $(stat -c %s "$W/p-1.bin") / records ))
echo "| threshold | candidates | time | comparisons/s | peak RSS | disk for runs |"
echo "|---|---|---|---|---|---|"
for t in "${thresholds[@]}"; do
  mkdir -p "$W/tmp"
  # The most the candidate runs take on disk, polled while the linkage runs.
  ( peak=0; while true; do
      used=$(du -sk "$W/tmp" 2>/dev/null | cut -f1); used=${used:-0}
      [ "$used" -gt "$peak" ] && peak=$used && echo "$peak" > "$W/disk"
      sleep 0.2
    done ) &
  poller=$!
  echo 0 > "$W/disk"
  /usr/bin/time -f "%M %e" -o "$W/time" $A link "$W/p-1.bin" "$W/p-2.bin" --binary-size "$size" \
    -t "$t" --type groups --temp-dir "$W/tmp" -o /dev/null 2> "$W/err" || { cat "$W/err"; }
  kill $poller 2>/dev/null || true; wait $poller 2>/dev/null || true
  read -r rss seconds < "$W/time"
  line=$(grep "candidates in" "$W/err" | tail -1)
  comparisons=$(echo "$line" | awk '{print $1}')
  candidates=$(echo "$line" | awk '{print $3}')
  rate=$(awk -v c="$comparisons" -v s="$seconds" 'BEGIN {printf "%.3g", c / s}')
  echo "| $t | $candidates | $seconds s | $rate | $((rss / 1024)) MiB | $(( $(cat "$W/disk") / 1024 )) MiB |"
done

# The same runs through the service (a fresh `anonlink serve` per threshold, one worker,
# the candidate limit raised so that 0.7 runs): run time from its status, peak RSS.
echo
echo "| service: threshold | candidates | run time | comparisons/s | server peak RSS |"
echo "|---|---|---|---|---|"
port=${PORT:-18852}
export SERVER=http://127.0.0.1:$port
for t in "${thresholds[@]}"; do
  rm -rf "$W/data"
  RUST_LOG=warn $A serve --bind "127.0.0.1:$port" --data-dir "$W/data" \
    --max-candidate-pairs 10000000000 > "$W/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do
    curl -sf "$SERVER/api/v1/status" > /dev/null && break
    sleep 0.1
  done
  $A create-project --type groups --parties 2 -o "$W/creds.json" > /dev/null
  for p in 0 1; do
    $A upload --credentials "$W/creds.json" --party $p --binary --hash-size "$size" \
      "$W/p-$((p + 1)).bin" > /dev/null
  done
  $A create --credentials "$W/creds.json" --threshold "$t" -o "$W/run.json" > /dev/null
  $A results --credentials "$W/creds.json" --run-file "$W/run.json" --watch \
    -o "$W/result.json" > /dev/null 2>&1 || true
  token=$(python3 -c "import json; print(json.load(open('$W/creds.json'))['result_token'])")
  pid=$(python3 -c "import json; print(json.load(open('$W/creds.json'))['project_id'])")
  rid=$(python3 -c "import json; print(json.load(open('$W/run.json'))['run_id'])")
  curl -s -H "Authorization: $token" "$SERVER/api/v1/projects/$pid/runs/$rid/status" > "$W/status.json"
  curl -s -H "Authorization: $token" "$SERVER/api/v1/projects/$pid/runs/$rid" > /dev/null
  rss=$(grep VmHWM /proc/$server/status | awk '{print int($2 / 1024)}')
  kill $server; wait $server 2>/dev/null || true
  python3 - "$W/status.json" "$t" "$rss" "$records" <<'PY'
import json, sys
from datetime import datetime
s = json.load(open(sys.argv[1]))
if s["state"] != "completed":
    print(f"| {sys.argv[2]} | — | {s['state']}: {s.get('message', '')} | — | {sys.argv[3]} MiB |")
    sys.exit()
t = lambda k: datetime.fromisoformat(s[k])
seconds = (t("time_completed") - t("time_started")).total_seconds()
comparisons = s["total_number_comparisons"]
print(f"| {sys.argv[2]} | — | {seconds:.2f} s | {comparisons / seconds:.3g} | {sys.argv[3]} MiB |")
PY
done
