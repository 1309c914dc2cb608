#!/usr/bin/env python3
"""A/B table of cuda_e2e_bench runs made in one device session.

Usage: python3 bench/ab_summary.py DIR [BASELINE ...]
DIR holds one csv per setting (cuda_e2e_bench --csv DIR/NAME.csv). The baseline is the mean of
the named runs (default: every run whose name starts with "default", e.g. the first and the last
of the session, which also gives the noise). Prints tok/s per (variant, batch, ctx) for each run
and its ratio to the baseline; "-" where a run did not measure that cell.
"""
import csv
import os
import sys


def load(path):
    rows = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            try:
                rows[(r["variant"], int(r["batch"]), int(r["ctx"]))] = float(r["tok_s"])
            except (KeyError, ValueError):
                continue
    return rows


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    d = sys.argv[1]
    runs = {}
    for name in sorted(os.listdir(d)):
        if name.endswith(".csv"):
            rows = load(os.path.join(d, name))
            if rows:
                runs[name[:-4]] = rows
    if not runs:
        sys.exit(f"{d}: no cuda_e2e_bench csv files")
    base_names = sys.argv[2:] or [n for n in runs if n.startswith("default")]
    if not base_names:
        sys.exit("no baseline runs (name them default*, or list them after DIR)")
    missing = [n for n in base_names if n not in runs]
    if missing:
        sys.exit(f"baseline runs not found: {', '.join(missing)}")
    cells = sorted({k for rows in runs.values() for k in rows})
    base = {}
    for k in cells:
        vals = [runs[n][k] for n in base_names if k in runs[n]]
        if vals:
            base[k] = (sum(vals) / len(vals), (max(vals) - min(vals)) / (sum(vals) / len(vals)))
    print(f"baseline: mean of {', '.join(base_names)}; spread = (max - min) / mean of those runs")
    head = "| run | " + " | ".join(f"{v} b{b} {c // 1024}K" for v, b, c in cells) + " |"
    print(head)
    print("|---" * (len(cells) + 1) + "|")
    print("| baseline | " + " | ".join(f"{base[k][0]:.1f} (spread {100 * base[k][1]:.1f}%)" if k in base else "-"
                                       for k in cells) + " |")
    for name, rows in runs.items():
        out = []
        for k in cells:
            if k not in rows:
                out.append("-")
            elif k in base:
                out.append(f"{rows[k]:.1f} ({rows[k] / base[k][0]:.3f}x)")
            else:
                out.append(f"{rows[k]:.1f}")
        print(f"| {name} | " + " | ".join(out) + " |")


if __name__ == "__main__":
    main()
