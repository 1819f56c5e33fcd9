#!/usr/bin/env bash
# Five parties, groups result (the reference's multi-party tutorial data): every party
# uploads, one run at 0.8, groups of records that refer to the same person.
source "$(dirname "$0")/common.sh"

"$anonlink" create-project --type groups --parties 5 --output "$work/creds.json"
for party in 0 1 2 3 4; do
  "$anonlink" upload --credentials "$work/creds.json" --party "$party" \
    "$data/multiparty/clks-$((party + 1)).json" >/dev/null
done
"$anonlink" create --credentials "$work/creds.json" --threshold 0.8 --output "$work/run.json"
"$anonlink" results --credentials "$work/creds.json" --run-file "$work/run.json" --watch \
  --output "$work/groups.json"
python3 - "$work/groups.json" "$data/multiparty/greedy_groups_t0.8.json" <<'PY'
import json, sys
served = sorted(sorted(map(list, g)) for g in json.load(open(sys.argv[1]))["groups"])
reference = json.load(open(sys.argv[2]))
assert served == reference, "groups differ from the reference"
sizes = {}
for g in served:
    sizes[len(g)] = sizes.get(len(g), 0) + 1
print(f"multi-party tutorial: {len(served)} groups (by size: {dict(sorted(sizes.items()))}), same as the reference")
PY
