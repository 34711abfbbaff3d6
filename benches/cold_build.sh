#!/usr/bin/env bash
# Cold dev build of one source tree in an EMPTY build directory, as the README's first command
# (`cargo run`) builds it: wall and CPU time, peak memory, the `--timings` report's unit count,
# total time and the slowest units, and the build directory's size afterwards.
#
#   bash benches/cold_build.sh <source-tree> <empty-build-dir> [cargo build args...]
#   e.g.  git worktree add --detach /tmp/before <commit>
#         bash benches/cold_build.sh /tmp/before /tmp/bd-before
#         bash benches/cold_build.sh . /tmp/bd-after
#
# Crates come from the local registry cache (`--offline`): download time is not included. On a
# shared machine the CPU seconds (user + sys) and the unit count are the comparable figures;
# wall time is an upper bound.
set -euo pipefail
src=$(cd "${1:?source tree}" && pwd)
bd=${2:?empty build directory}
shift 2
if [ -e "$bd" ] && [ -n "$(ls -A "$bd")" ]; then
    echo "cold_build: $bd is not empty" >&2
    exit 2
fi
mkdir -p "$bd"
bd=$(cd "$bd" && pwd)
cd "$src"
echo "tree: $src ($(git rev-parse --short HEAD 2>/dev/null || echo '?')), build dir: $bd"
CARGO_TARGET_DIR="$bd" /usr/bin/time -v -o "$bd/time.txt" \
    cargo build --offline --timings "$@" >"$bd/build.log" 2>&1 || {
    tail -30 "$bd/build.log" >&2
    exit 1
}
field() { grep -F "$1" "$bd/time.txt" | sed 's/.*: //'; }
user=$(field 'User time (seconds)')
sys=$(field 'System time (seconds)')
echo "wall: $(field 'Elapsed (wall clock) time')"
echo "cpu: user ${user} s + sys ${sys} s = $(echo "$user + $sys" | bc) s"
echo "peak RSS: $(($(field 'Maximum resident set size') / 1024)) MB"
echo "build dir: $(du -sh "$bd" | cut -f1)"
report=$(ls -t "$bd"/cargo-timings/cargo-timing-*.html | head -1)
python3 - "$report" <<'EOF'
import json, re, sys
s = open(sys.argv[1]).read()
total = re.search(r"<td>Total time:</td><td>([^<]*)</td>", s).group(1)
units = json.JSONDecoder().raw_decode(s[s.index("const UNIT_DATA = ") + 18:])[0]
print(f"timings: {sys.argv[1]}")
print(f"units: {len(units)}, end of the last unit: {total}, "
      f"sum of unit times: {sum(u['duration'] for u in units):.0f} s")
twice = {}
for u in units:
    if u["target"] == "":
        twice.setdefault(u["name"], []).append(u)
twice = {n: l for n, l in twice.items() if len(l) > 1}
print(f"libraries compiled more than once: {len(twice)} "
      f"({sum(u['duration'] for l in twice.values() for u in l):.0f} s)")
print("slowest units:")
for u in sorted(units, key=lambda u: -u["duration"])[:12]:
    print(f"  {u['duration']:6.1f} s  starts {u['start']:6.1f}  {u['name']} {u['version']}{u['target']}")
EOF
