#!/usr/bin/env bash
# Scale-out benchmark: 1 API process and W worker processes of `anonlink serve` sharing
# PostgreSQL and an S3-compatible store (scripts/services.sh starts both on loopback), for
# W = 1 and W = 2, each on a fresh database and prefix; prints the service bench's figures
# (100K × 100K groups at 0.8) for each.
#
# THREADS_PER_WORKER (default 1) caps each worker's compute threads, so that on one machine
# each worker stands for one worker node; set it to the core count to see what two
# all-core workers on the same cores do. CHUNK (default 500000000) is --chunk-comparisons.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${THREADS_PER_WORKER:-1}
chunk=${CHUNK:-500000000}
eval "$(scripts/services.sh)"
: "${ANONLINK_TEST_DATABASE_URL:?PostgreSQL did not start (see target/services.log)}"
: "${ANONLINK_TEST_S3_URL:?the S3-compatible server did not start (see target/services.log)}"
cargo build --release -p anonlink-cli -p es-http --example service_bench --quiet
port=${PORT:-18852}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
for workers in 1 2; do
  tag="bench_$(date +%s)_$workers"
  PGPASSWORD=anonlink psql -q -h 127.0.0.1 -U anonlink -d anonlink -c "CREATE DATABASE $tag"
  db="${ANONLINK_TEST_DATABASE_URL%/*}/$tag"
  s3="$ANONLINK_TEST_S3_URL/$tag"
  common=(--database-url "$db" --object-store "$s3" --chunk-comparisons "$chunk")
  RUST_LOG=warn target/release/anonlink serve --role api --bind "127.0.0.1:$port" "${common[@]}" &
  pids+=($!)
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/api/v1/status" >/dev/null && break
    sleep 0.1
  done
  for _ in $(seq "$workers"); do
    RAYON_NUM_THREADS=$threads RUST_LOG=warn target/release/anonlink serve --role worker "${common[@]}" &
    pids+=($!)
  done
  echo "== $workers worker process(es), $threads compute thread(s) each, chunks of $chunk comparisons"
  target/release/examples/service_bench "http://127.0.0.1:$port/api/v1" --skip-1m --skip-json
  cleanup
  pids=()
done
