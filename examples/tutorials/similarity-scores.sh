#!/usr/bin/env bash
# Raw similarity scores, to choose a threshold (the reference's similarity-scores tutorial):
# the distribution shows matches near 1 and non-matches far below.
source "$(dirname "$0")/common.sh"

"$anonlink" create-project --type similarity_scores --output "$work/creds.json"
"$anonlink" upload --credentials "$work/creds.json" --party 0 "$data/febrl4/febrl4_a.json" >/dev/null
"$anonlink" upload --credentials "$work/creds.json" --party 1 "$data/febrl4/febrl4_b.json" >/dev/null
"$anonlink" create --credentials "$work/creds.json" --threshold 0.75 --output "$work/run.json"
"$anonlink" results --credentials "$work/creds.json" --run-file "$work/run.json" --watch \
  --output "$work/scores.json"
python3 -c "import json; s=json.load(open('$work/scores.json'))['similarity_scores']; print(f'similarity scores tutorial: {len(s)} pairs, best {s[0]}')"
"$anonlink" scores-histogram "$data/febrl4/febrl4_a.json" "$data/febrl4/febrl4_b.json" --from 0.75 --bins 10 --quiet
