# Shared set-up of the tutorial scripts: the `anonlink` binary, a server and a work folder.
# If SERVER is not set, a server is started on a free port with a fresh data directory and
# stopped when the script ends.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
data="$root/anonlink-core/tests/data"
anonlink="${ANONLINK:-$root/target/release/anonlink}"
if [ ! -x "$anonlink" ]; then
  cargo build --release --quiet -p anonlink-cli --manifest-path "$root/Cargo.toml"
fi
work=$(mktemp -d)
cleanup() {
  [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
if [ -z "${SERVER:-}" ]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  RUST_LOG=warn "$anonlink" serve --bind "127.0.0.1:$port" --data-dir "$work/server-data" &
  server_pid=$!
  export SERVER="http://127.0.0.1:$port"
  for _ in $(seq 100); do "$anonlink" status >/dev/null 2>&1 && break; sleep 0.1; done
fi
echo "Entity Service at $SERVER"
