#!/usr/bin/env bash
# Two-party linkage with permutations: each party gets a permutation of its rows, the
# analyst a mask of the positions that hold matches (the reference's permutations tutorial).
source "$(dirname "$0")/common.sh"

"$anonlink" create-project --type permutations --output "$work/creds.json"
"$anonlink" upload --credentials "$work/creds.json" --party 0 "$data/febrl4/febrl4_a.json" \
  --output "$work/receipt-a.json"
"$anonlink" upload --credentials "$work/creds.json" --party 1 "$data/febrl4/febrl4_b.json" \
  --output "$work/receipt-b.json"
"$anonlink" create --credentials "$work/creds.json" --threshold 0.8 --output "$work/run.json"
"$anonlink" results --credentials "$work/creds.json" --run-file "$work/run.json" --watch \
  --output "$work/mask.json"
project=$(python3 -c "import json; print(json.load(open('$work/creds.json'))['project_id'])")
for party in a b; do
  token=$(python3 -c "import json; print(json.load(open('$work/receipt-$party.json'))['receipt_token'])")
  "$anonlink" results --project "$project" --apikey "$token" --run-file "$work/run.json" \
    --output "$work/permutation-$party.json"
done
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
mask = json.load(open(f"{work}/mask.json"))["mask"]
pa = json.load(open(f"{work}/permutation-a.json"))
pb = json.load(open(f"{work}/permutation-b.json"))
assert pa["rows"] == pb["rows"] == len(mask)
print(f"permutations tutorial: {sum(mask)} of {len(mask)} reordered rows are matches")
PY
