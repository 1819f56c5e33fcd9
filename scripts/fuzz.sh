#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time (default 30 s each; FUZZ_SECONDS overrides).
# Works on the stable toolchain: RUSTC_BOOTSTRAP=1 lets it accept the sanitizer flags.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-30}"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked --quiet
fi
export RUSTC_BOOTSTRAP=1
cd fuzz
for target in $(cargo fuzz list); do
  echo "fuzzing $target for ${seconds}s"
  mkdir -p "corpus/$target"
  # Committed seeds (valid inputs) give the fuzzer a head start.
  [ -d "seeds/$target" ] && cp -n seeds/"$target"/* "corpus/$target/" 2>/dev/null || true
  cargo fuzz run "$target" --release -- -max_total_time="$seconds" -max_len=4096 \
    -print_final_stats=0 "corpus/$target" 2>&1 | tail -n 3
done
echo "fuzz: all targets ran ${seconds}s without a crash"
