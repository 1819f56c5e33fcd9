#!/usr/bin/env bash
# The blocking benchmark of issue 14: two parties of RECORDS generated people each
# (`anonlink generate`, 50% overlap, medium noise), hashed and blocked with P-Sig by the CLI
# (`hash --blocking`, examples/blocking/generated-psig.json), linked at 0.8 into groups.
# Prints the time of each step, the comparisons made against RECORDS², the reduction ratio,
# the pairs completeness and the linkage's precision/recall against the truth; with
# FULL=1 (default below 200K records) also the unblocked linkage for the recall blocking costs.
#   scripts/bench-blocking.sh [RECORDS]   # default 1000000
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-1000000}
full=${FULL:-$([ "$records" -le 200000 ] && echo 1 || echo 0)}
cargo build --release --quiet -p anonlink-cli
A=$PWD/target/release/anonlink
S=$PWD/examples/blocking/generated-psig.json
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
timed() { # timed NAME COMMAND...: runs it, records "seconds peak-RSS-MiB" under NAME
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$W/$name.time" "$@" 2> "$W/$name.err" || { cat "$W/$name.err"; exit 1; }
}
seconds() { awk '{print $1}' "$W/$1.time"; }
rss() { awk '{printf "%d", $2 / 1024}' "$W/$1.time"; }

timed generate $A generate "$records" "$W/p.csv" --parties 2 --overlap 0.5 --corruption medium --seed 14
$A generate-default-schema "$W/schema.json"
for p in 1 2; do
  timed hash-$p $A hash "$W/p-$p.csv" --schema "$W/schema.json" --secret bench -o "$W/plain-$p.json" -q
  timed hashblock-$p $A hash "$W/p-$p.csv" --schema "$W/schema.json" --secret bench --blocking "$S" \
    -o "$W/blocked-$p.json" -q
  timed block-$p $A block "$W/p-$p.csv" --schema "$S" -o "$W/blocks-$p.json" -q
done
$A block-stats "$W/blocks-1.json" "$W/blocks-2.json" --truth "$W/p-truth.csv" --json > "$W/stats.json"
timed link-blocked $A link "$W/blocked-1.json" "$W/blocked-2.json" -t 0.8 --type groups \
  --truth "$W/p-truth.csv" -o /dev/null
if [ "$full" = 1 ]; then
  timed link-full $A link "$W/plain-1.json" "$W/plain-2.json" -t 0.8 --type groups \
    --truth "$W/p-truth.csv" -o /dev/null
fi

python3 - "$W" "$records" "$full" <<'PY'
import json, re, sys
w, records, full = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
def t(name):
    s, kb = open(f"{w}/{name}.time").read().split()
    return float(s), int(kb) // 1024
def accuracy(name):
    err = open(f"{w}/{name}.err").read()
    m = re.search(r"precision ([\d.]+), recall ([\d.]+), F1 ([\d.]+)", err)
    c = re.search(r"(\d+) comparisons.*?, (\d+) candidates in", err)
    return m.groups(), c.groups()
stats = json.load(open(f"{w}/stats.json"))
pair = stats["two_party"]
print(f"{records:,} × {records:,} generated records, P-Sig (examples/blocking/generated-psig.json), 2 cores\n")
print("| step | time | peak RSS |")
print("|---|---|---|")
print("| generate both parties | %.1f s | %d MiB |" % t("generate"))
for p in (1, 2):
    h, hb, b = t(f"hash-{p}"), t(f"hashblock-{p}"), t(f"block-{p}")
    print(f"| party {p}: hash only | {h[0]:.1f} s | {h[1]} MiB |")
    print(f"| party {p}: hash --blocking (one command) | {hb[0]:.1f} s | {hb[1]} MiB |")
    print(f"| party {p}: block only | {b[0]:.1f} s | {b[1]} MiB |")
(p, r, f1), (comparisons, candidates) = accuracy("link-blocked")
lb = t("link-blocked")
print(f"| link blocked files at 0.8 (groups) | {lb[0]:.1f} s | {lb[1]} MiB |")
if full:
    lf = t("link-full")
    print(f"| link unblocked at 0.8 (groups) | {lf[0]:.1f} s | {lf[1]} MiB |")
print()
for s in stats["parties"]:
    st = s["stats"]
    print(f"{s['file'].split('/')[-1]}: {st['num_of_blocks']:,} blocks, sizes {st['min_size']}..{st['max_size']} "
          f"(median {st['med_size']}, mean {st['avg_size']:.2f}), coverage {s['coverage']:.4f}")
print(f"\ncomparisons within shared blocks: {pair['comparisons']:,} of {pair['all_comparisons']:,} "
      f"({pair['comparisons'] / pair['all_comparisons']:.2e} of all; reduction ratio {pair['reduction_ratio']:.6f})")
print(f"pairs completeness: {pair['pairs_completeness']:.4f} ({pair['found_matches']:,} of {pair['true_matches']:,} shared people share a block)")
print(f"blocked linkage: {int(candidates):,} candidates; pairwise precision {p}, recall {r}, F1 {f1}")
if full:
    (p2, r2, f12), (c2, cand2) = accuracy("link-full")
    print(f"unblocked linkage: {int(cand2):,} candidates; pairwise precision {p2}, recall {r2}, F1 {f12}")
    print(f"recall kept by blocking: {float(r) / float(r2):.4f}; run time ratio unblocked / blocked: {t('link-full')[0] / lb[0]:.1f}×")
PY
