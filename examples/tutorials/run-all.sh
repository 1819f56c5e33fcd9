#!/usr/bin/env bash
# Runs every tutorial script; each starts its own server unless SERVER is set.
set -euo pipefail
here=$(dirname "$0")
for t in mapping permutations similarity-scores multiparty-groups; do
  echo "== tutorial: $t"
  bash "$here/$t.sh"
done
echo "tutorials: all passed"
