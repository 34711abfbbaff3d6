#!/bin/sh
# The variance of real independent renders, by label: for every pair of a renders corpus
# (`pairs.jsonl`: {instance, a, b, label}), `patchgate diff --base <instance>/base <instance>/<a>
# <instance>/<b>` (whole after-images, scratch scripts included) or, with `--src`, the library
# sources only (`<instance>/src/...`). Prints one TSV line per pair (instance, a, b, label,
# variance, verdict), then per label the count, how many agreed, and quantiles of the variance.
#
#   benches/renders.sh CORPUS [--src] [PATCHGATE] [-- extra patchgate diff flags]
#
# Needs jq. PATCHGATE defaults to target/release/patchgate.
set -eu
corpus=$1; shift
sub=""
if [ "${1:-}" = "--src" ]; then sub="src/"; shift; fi
bin=${1:-target/release/patchgate}; [ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
out=$(mktemp)
jq -r '[.instance, .a, .b, .label] | @tsv' "$corpus/pairs.jsonl" | while IFS="$(printf '\t')" read -r inst a b label; do
  d="$corpus/$inst/$sub"
  v=$("$bin" diff --format json "$@" --base "${d}base" "${d}$a" "${d}$b" | jq -r '"\(.variance_percent)\t\(.verdict)"') || true
  printf '%s\t%s\t%s\t%s\t%s\n' "$inst" "$a" "$b" "$label" "$v" | tee -a "$out"
done
echo
for label in same-behaviour different-behaviour; do
  agreed=$(awk -F'\t' -v l="$label" '$4 == l && $6 == "agreed"' "$out" | wc -l)
  awk -F'\t' -v l="$label" '$4 == l { print $5 }' "$out" | sort -g | awk -v l="$label" -v agreed="$agreed" '
    { v[NR] = $1 }
    END {
      printf "%s: %d pairs, %d agreed, p25 %s, median %s, p75 %s, p90 %s\n", l, NR, agreed,
        v[int(NR * 0.25) + 1], v[int(NR * 0.5) + 1], v[int(NR * 0.75) + 1], v[int(NR * 0.9) + 1]
    }'
done
rm -f "$out"
