#!/usr/bin/env python3
"""One process per file pair, as editors, `git difftool` and scripts run a diff: several tools on
the same pairs, side by side in one run, interleaved pair by pair.

    python3 benches/per_pair.py [--pairs 150] [--rounds 1] CORPUS PATCHGATE [DIFFT] [BINARY ...]

CORPUS is laid out `before/<...>/<file>` with the twin at `after/<...>/<file>` (the layout of
`patchgate diff --bench`, see benches/README.md); the first PAIRS pairs in sorted order are used.
Each tool is run as `TOOL before after` with its output thrown away: PATCHGATE (and any other
binary whose name contains `patchgate`, e.g. a build of `main`) as `PATCHGATE diff before after`,
a binary whose name contains `difft` as
`DIFFT --color never before after`, any other binary (a floor such as `/bin/true`) as
`BINARY before after`. Prints per tool the total and the median of wall time and of CPU time
(user + system, from the child's rusage: it counts every thread of the child and none of the
waiting for a core on a shared machine), and each tool's ratio to PATCHGATE. Unlike
`per_pair.sh` it forks nothing but the tools themselves. Needs only Python 3 on Linux.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time


def pairs(corpus, n):
    before = os.path.join(corpus, "before")
    found = []
    for root, _, files in os.walk(before):
        for f in files:
            rel = os.path.relpath(os.path.join(root, f), before)
            if os.path.isfile(os.path.join(corpus, "after", rel)):
                found.append(rel)
    found.sort(key=lambda p: p.encode())
    return [(os.path.join(before, p), os.path.join(corpus, "after", p)) for p in found[:n]]


def argv(tool, first, a, b):
    if tool == first or "patchgate" in os.path.basename(tool):
        return [tool, "diff", a, b]
    if "difft" in os.path.basename(tool):
        return [tool, "--color", "never", a, b]
    return [tool, a, b]


def one(cmd):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    return time.perf_counter() - t0, ru.ru_utime + ru.ru_stime, os.waitstatus_to_exitcode(status)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=1, help="passes over the pairs")
    ap.add_argument("corpus")
    ap.add_argument("tools", nargs="+")
    args = ap.parse_args()
    todo = pairs(args.corpus, args.pairs)
    if not todo:
        print(f"no pairs under {args.corpus}/before with a twin under after/", file=sys.stderr)
        return 2
    first = args.tools[0]
    res = {t: ([], []) for t in args.tools}
    for t in args.tools:  # warm the page cache
        one(argv(t, first, *todo[0]))
    for _ in range(args.rounds):
        for a, b in todo:
            for t in args.tools:
                wall, cpu, code = one(argv(t, first, a, b))
                if code not in (0, 1):
                    print(f"{t} exited {code} on {a}", file=sys.stderr)
                    return 2
                res[t][0].append(wall)
                res[t][1].append(cpu)
    runs = len(todo) * args.rounds
    print(f"pairs: {len(todo)} x {args.rounds} round(s), tools interleaved pair by pair")
    base_wall, base_cpu = sum(res[first][0]), sum(res[first][1])
    for t, (walls, cpus) in res.items():
        w, c = sum(walls), sum(cpus)
        print(f"  {t}: wall total {w:.3f} s (median {1e3 * statistics.median(walls):.2f} ms), "
              f"CPU total {c:.3f} s (median {1e3 * statistics.median(cpus):.2f} ms)"
              + ("" if t == first else
                 f"; ÷ patchgate: wall {w / base_wall:.1f}x, CPU {c / max(base_cpu, 1e-9):.1f}x"))
    print(f"  ({runs} runs per tool)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
