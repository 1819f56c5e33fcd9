#!/usr/bin/env bash
# Benchmarks the Entity Service over HTTP: starts `anonlink serve` on a fresh data directory,
# runs es-http's service_bench example against it, and reports the server's peak RSS.
# Extra arguments go to the bench (e.g. --skip-1m); SERVER_ARGS to the server (e.g.
# "--chunk-comparisons 10000000000").
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p anonlink-cli -p es-http --example service_bench --quiet
data=$(mktemp -d)
port=${PORT:-18851}
RUST_LOG=warn target/release/anonlink serve --bind "127.0.0.1:$port" --data-dir "$data" ${SERVER_ARGS:-} &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/api/v1/status" >/dev/null && break
  sleep 0.1
done
target/release/examples/service_bench "http://127.0.0.1:$port/api/v1" "$@"
echo "server peak RSS: $(grep VmHWM /proc/$server/status | awk '{print $2/1024 " MiB"}')"
