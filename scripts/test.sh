#!/usr/bin/env bash
# Runs every test of the project: lints, Rust tests (all kernels, then the scalar fallback),
# the Python wheel's tests, and a bounded fuzzing run. Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n== %s\n' "$*"; }

step "format"
cargo fmt --all --check

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "docs"
RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps --locked --quiet

step "python environment (maturin, pytest, reference packages) and test services"
scripts/python-env.sh
# PostgreSQL and an S3-compatible server on loopback, for the scale-out tests.
eval "$(scripts/services.sh)"
[ -n "${ANONLINK_TEST_DATABASE_URL:-}" ] || echo "warning: PostgreSQL could not be started; see target/services.log"
[ -n "${ANONLINK_TEST_S3_URL:-}" ] || echo "warning: the S3 test server could not be started; see target/services.log"

step "rust tests"
cargo test --workspace --release --locked

step "rust tests, scalar kernel only"
ANONLINK_KERNEL=scalar cargo test -p anonlink-core --release --locked --quiet

step "gpu backend: build check and its tests (the device is loaded at run time; none is needed here)"
cargo check -p anonlink-core -p anonlink-cli --features anonlink-core/gpu,anonlink-cli/gpu --locked
cargo test -p anonlink-core --features gpu --release --locked --lib gpu
rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1 || true
if rustup target list --installed 2>/dev/null | grep -q aarch64-unknown-linux-gnu; then
  step "aarch64 build check"
  cargo check -p anonlink-core --target aarch64-unknown-linux-gnu --locked
else
  echo "skip: the aarch64 target could not be installed (rustup target add aarch64-unknown-linux-gnu)"
fi

step "CLI tutorials"
bash examples/tutorials/run-all.sh

step "python wheel tests"
.venv/bin/pytest -q anonlink-py/tests deploy/tests

step "fuzz"
FUZZ_SECONDS="${FUZZ_SECONDS:-15}" scripts/fuzz.sh
