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
