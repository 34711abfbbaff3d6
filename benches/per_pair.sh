#!/usr/bin/env bash
# One process per file pair, as editors, `git difftool` and scripts run a diff: patchgate and
# difftastic on the same pairs, side by side in one run, interleaved pair by pair.
#
#   bash benches/per_pair.sh PATCHGATE DIFFT CORPUS [PAIRS]
#
# CORPUS is laid out `before/<...>/<file>` with the twin at `after/<...>/<file>` (the layout of
# `patchgate diff --bench`, see benches/README.md); the first PAIRS pairs (default 150) in sorted
# order are used. Prints each tool's total wall time and the ratio. Needs bash 5 (the clock is
# $EPOCHREALTIME, so timing forks nothing: an earlier version forked `date` inside each timed
# span, a few ms per pair for both tools). `per_pair.py` also reports CPU time and floors.
set -euo pipefail
pg=$1 difft=$2 corpus=$3 n=${4:-150}
mapfile -t files < <(cd "$corpus/before" && find . -type f | LC_ALL=C sort | while read -r f; do
  [ -f "$corpus/after/$f" ] && echo "$f"; done | head -n "$n")
[ "${#files[@]}" -gt 0 ] || { echo "no pairs under $corpus/before with a twin under after/" >&2; exit 2; }
t_pg=0 t_difft=0
for f in "${files[@]}"; do
  a="$corpus/before/$f" b="$corpus/after/$f"
  t0=${EPOCHREALTIME//[.,]/}; "$pg" diff "$a" "$b" > /dev/null || [ $? -eq 1 ]; t1=${EPOCHREALTIME//[.,]/}
  "$difft" --color never "$a" "$b" > /dev/null; t2=${EPOCHREALTIME//[.,]/}
  t_pg=$((t_pg + t1 - t0)); t_difft=$((t_difft + t2 - t1))
done
echo "pairs: ${#files[@]}"
echo "patchgate total: $((t_pg / 1000)) ms ($((t_pg / ${#files[@]})) us per pair)"
echo "difftastic total: $((t_difft / 1000)) ms ($((t_difft / ${#files[@]})) us per pair)"
awk -v a="$t_difft" -v b="$t_pg" 'BEGIN { printf "difftastic / patchgate: %.1fx\n", a / b }'
