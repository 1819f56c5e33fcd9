#!/usr/bin/env bash
# The GPU check of issue 16, for the accelerator machine (the library's `device` tool):
# build here with `cargo build --release -p anonlink-cli --features gpu` and carry
# target/release/anonlink; there this script (a) compares the GPU's candidates with the
# CPU kernel's on febrl4 at 0.8/0.9/0.95 and on 200K × 1M generated CLKs at 0.8 and 0.9
# (counts and a hash of the sorted pairs), (b) times 1M × 1M at 0.8 and 0.95 end to end,
# (c) prints the device's clocks. Output goes to $OUT (or ./device-out).
set -euo pipefail
A=${ANONLINK:-target/release/anonlink}
OUT=${OUT:-device-out}
mkdir -p "$OUT"
D=anonlink-core/tests/data/febrl4
log() { echo "$*" | tee -a "$OUT/report.txt"; }
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,clocks.mem --format=csv | tee "$OUT/clocks.csv" || true
scores() { # device threshold files... -> "count sha256 seconds"
  local device=$1 t=$2; shift 2
  local start end
  start=$(date +%s.%N)
  "$A" link "$@" -t "$t" --type similarity_scores --device "$device" -q -o "$OUT/s.json"
  end=$(date +%s.%N)
  echo "$(grep -o '\],\[' "$OUT/s.json" | wc -l) $(sha256sum < "$OUT/s.json" | cut -c1-16) $(echo "$end - $start" | bc)"
}
for t in 0.8 0.9 0.95; do
  log "febrl4 t $t: cpu $(scores cpu $t $D/febrl4_a.json $D/febrl4_b.json) | gpu $(scores gpu $t $D/febrl4_a.json $D/febrl4_b.json)"
done
"$A" generate-default-schema "$OUT/schema.json"
"$A" generate 1000000 "$OUT/p.csv" --parties 2 --overlap 0.2 --corruption medium --seed 16 2>/dev/null
for p in 1 2; do
  "$A" hash "$OUT/p-$p.csv" --schema "$OUT/schema.json" --secret device -o "$OUT/p-$p.128.bin" --binary -q
done
head -c $((200000 * 128)) "$OUT/p-1.128.bin" > "$OUT/q.128.bin"
for t in 0.8 0.9; do
  log "200K x 1M t $t: cpu $(scores cpu $t "$OUT/q.128.bin" "$OUT/p-2.128.bin") | gpu $(scores gpu $t "$OUT/q.128.bin" "$OUT/p-2.128.bin")"
done
timed() { # device threshold files... -> seconds of a groups linkage
  local device=$1 t=$2; shift 2
  local start end
  start=$(date +%s.%N)
  "$A" link "$@" -t "$t" --type groups --device "$device" -q -o /dev/null
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}
for t in 0.95 0.8; do
  s=$(timed gpu $t "$OUT/p-1.128.bin" "$OUT/p-2.128.bin")
  log "1M x 1M t $t end to end (groups): gpu $s s, $(echo "1000000000000 / $s" | bc) comparisons/s"
done
rm -f "$OUT"/*.csv.tmp "$OUT/s.json" "$OUT"/p-*.csv "$OUT"/*.bin
