#!/usr/bin/env bash
# Two-party linkage with a mapping result (the reference's "clkutil" tutorial), on the
# febrl4 CLKs: create a project, upload each party's CLKs, create a run, fetch the mapping.
source "$(dirname "$0")/common.sh"

"$anonlink" status
"$anonlink" create-project --type mapping --name "Tutorial mapping" --output "$work/creds.json"
"$anonlink" upload --credentials "$work/creds.json" --party 0 "$data/febrl4/febrl4_a.json"
"$anonlink" upload --credentials "$work/creds.json" --party 1 "$data/febrl4/febrl4_b.json"
"$anonlink" create --credentials "$work/creds.json" --threshold 0.8 --name "Tutorial mapping run" \
  --output "$work/run.json"
"$anonlink" results --credentials "$work/creds.json" --run-file "$work/run.json" --watch \
  --output "$work/mapping.json"
# The same linkage locally, scored against the known true matches.
"$anonlink" link "$data/febrl4/febrl4_a.json" "$data/febrl4/febrl4_b.json" -t 0.8 --type mapping \
  --truth "$data/febrl4/febrl4_truth.csv" --quiet --output "$work/local.json"
python3 - "$work/mapping.json" "$work/local.json" <<'PY'
import json, sys
served, local = (json.load(open(p)) for p in sys.argv[1:])
assert served == local, "the service and local linkage disagree"
PY
echo "mapping tutorial: $(python3 -c "import json; print(len(json.load(open('$work/mapping.json'))['mapping']))" ) matched pairs, same as local linkage"
