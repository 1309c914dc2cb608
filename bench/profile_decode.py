#!/usr/bin/env python3
"""Summarise an Nsight Compute CSV (ncu --csv --metrics gpu__time_duration.sum) of eager decode
steps: per kernel (name, grid, block) the launches and the time per decode step, sorted by time,
so the step's time can be split into kernels. Kernels launched fewer times than the steps (set-up,
cache fill) are listed apart.

usage: profile_decode.py NCU.csv STEPS [TOP]
STEPS: decode steps in the profiled run (forward_sample warm-ups + timed steps + the logits step).
"""
import csv
import re
import sys
from collections import defaultdict


def short(name):
    name = re.sub(r"\(.*", "", name)  # drop the argument list
    name = re.sub(r"^void ", "", name)
    return name[:90]


def main():
    path, steps = sys.argv[1], int(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    text = open(path, encoding="utf-8", errors="replace").read()
    start = text.find('"ID"')  # ncu prints its own lines before the CSV
    if start < 0:
        sys.exit(f"{path}: no ncu CSV header")
    agg = defaultdict(lambda: [0, 0.0])
    for row in csv.DictReader(text[start:].splitlines()):
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        unit = row.get("Metric Unit", "nsecond")
        v = float(row["Metric Value"].replace(",", ""))
        us = v / 1e3 if unit.startswith("n") else (v if unit.startswith("u") else v * 1e3)
        key = (short(row["Kernel Name"]), row.get("Grid Size", ""), row.get("Block Size", ""))
        agg[key][0] += 1
        agg[key][1] += us
    per_step = [(k, n, t) for k, (n, t) in agg.items() if n >= steps]
    setup = [(k, n, t) for k, (n, t) in agg.items() if n < steps]
    per_step.sort(key=lambda r: -r[2])
    total = sum(t for _, _, t in per_step) / steps
    launches = sum(n for _, n, _ in per_step) / steps
    print(f"per decode step: {launches:.0f} launches, {total:.1f} us of kernel time (isolated, caches flushed)")
    print(f"{'us/step':>9} {'share':>6} {'n/step':>6} {'us/launch':>9}  kernel [grid] [block]")
    for (name, grid, block), n, t in per_step[:top]:
        print(f"{t / steps:9.1f} {100 * t / steps / total:5.1f}% {n / steps:6.1f} {t / n:9.2f}  {name} {grid} {block}")
    if setup:
        print(f"set-up kernels (fewer launches than steps): {len(setup)}, {sum(t for *_, t in setup):.0f} us in all")


if __name__ == "__main__":
    main()
