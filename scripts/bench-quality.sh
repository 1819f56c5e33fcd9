#!/usr/bin/env bash
# The quality benchmark of issue 11: per data set, the best pairwise F1 of the reference's
# greedy and probabilistic solvers over a grid of thresholds (and merge thresholds) chosen
# with the truth, against `--threshold auto` with no truth and no setting: its F1, the
# floor it chose, its estimated F1 and how far that is from the true one.
#
# Data: the three fixtures, and linked sets made by `anonlink generate` (2 to 5 parties,
# 10K to 100K records each, clean to very noisy) hashed with the default schema.
#   scripts/bench-quality.sh            # everything (about ten minutes on 2 cores)
#   QUICK=1 scripts/bench-quality.sh    # the fixtures and the small generated sets
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p anonlink-cli -p anonlink-benches
A=target/release/anonlink
B=target/release/bench-quality
D=anonlink-core/tests/data
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

# The fixtures' truth as party,row,entity.
awk -F, 'NR == 1 {print "party,row,entity"; next}
         {print "0," $1 ",e" $1; print "1," $2 ",e" $1}' "$D/febrl4/febrl4_truth.csv" > "$W/febrl4.csv"
{
  echo "party,row,entity"
  p=0
  for n in alice bob charlie; do
    awk -F, -v p=$p 'NR > 1 {print p "," NR - 2 "," $1}' "$D/abc/dataset-$n.csv"
    p=$((p + 1))
  done
} > "$W/abc.csv"

echo "| data | parties | records | greedy best F1 (t) | probabilistic best F1 (t, merge) | auto F1 | auto − best | floor | estimated F1 | estimated − true | confidence | auto time |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
$B febrl4 "$W/febrl4.csv" "$D/febrl4/febrl4_a.json" "$D/febrl4/febrl4_b.json"
$B "5-party tutorial" "$D/multiparty/entities.csv" "$D"/multiparty/clks-{1,2,3,4,5}.json
$B abc "$W/abc.csv" "$D"/abc/clks-{alice,bob,charlie}.json

$A generate-default-schema "$W/schema.json"
generated() { # parties records corruption
  local name="gen-$1p-$(($2 / 1000))k-$3" files=()
  $A generate "$2" "$W/$name.csv" --parties "$1" --overlap 0.5 --corruption "$3" --seed 11 2>/dev/null
  for p in $(seq 1 "$1"); do
    $A hash "$W/$name-$p.csv" --schema "$W/schema.json" --secret bench -o "$W/$name-$p.json" -q
    files+=("$W/$name-$p.json")
  done
  $B "$name" "$W/$name-truth.csv" "${files[@]}"
}
generated 2 10000 clean
generated 2 10000 medium
generated 3 10000 high
generated 5 10000 medium
generated 4 10000 very-high
if [ -z "${QUICK:-}" ]; then
  generated 2 100000 medium
  generated 3 50000 low
  generated 5 20000 high
fi
