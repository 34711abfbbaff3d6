#!/usr/bin/env python3
"""The fixed cost of one `patchgate diff` process: two one-line files, one process per run.

    python3 benches/quick_diff.py [--runs 300] BINARY [BINARY ...]

Runs every binary on the same pair, interleaved (binary 1, binary 2, …, then again), so that a
noisy machine slows them alike; prints per binary the median and p90 of wall time and of CPU
time (user + system, from the child's rusage), and `--version` the same way. Compare binaries
side by side in one run (e.g. a build of `main` against your build), not figures across runs.
Needs only Python 3 on Linux.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def one(cmd):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return wall, ru.ru_utime + ru.ru_stime, p.returncode


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("binaries", nargs="+")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        a, b = os.path.join(d, "a.py"), os.path.join(d, "b.py")
        with open(a, "w") as f:
            f.write("x = 1\n")
        with open(b, "w") as f:
            f.write("x = 2\n")
        jobs = {
            "diff": lambda exe: [exe, "diff", a, b],
            "--version": lambda exe: [exe, "--version"],
        }
        for what, argv in jobs.items():
            res = {exe: ([], []) for exe in args.binaries}
            for exe in args.binaries:  # warm the page cache
                one(argv(exe))
            for _ in range(args.runs):
                for exe in args.binaries:
                    wall, cpu, code = one(argv(exe))
                    if code not in (0, 1):
                        print(f"{exe} exited {code}", file=sys.stderr)
                        return 2
                    res[exe][0].append(wall)
                    res[exe][1].append(cpu)
            print(f"{what}: {args.runs} runs each, interleaved")
            for exe, (walls, cpus) in res.items():
                print(f"  {exe}: wall median {1e3 * statistics.median(walls):.2f} ms, "
                      f"p90 {1e3 * pct(walls, 0.9):.2f} ms; CPU median "
                      f"{1e3 * statistics.median(cpus):.2f} ms, p90 {1e3 * pct(cpus, 0.9):.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
