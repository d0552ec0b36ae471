"""Compares two servers' bench/run results taken in one bench/ab run (Markdown table).

For each scenario the ratio is the one bench/run reports: against pgbench running the same SQL
where there is one (PostgreSQL reads), else against the same run's /healthz. A run's ratio
divides out how busy the machine was during that run. `noise` is the larger of the two
binaries' own spreads, (max - min) / median of a binary's ratios over its rounds; a change
whose size is within it is reported as noise.
"""
import glob
import json
import os
import statistics
import sys
from collections import defaultdict


def load(path):
    return [json.loads(line) for line in open(path) if line.strip()]


def ratios(rows):
    """{(backend, scenario, conns): (ratio, against, rps, p99)} for one bench/run output."""
    base_conns = min(r["connections"] for r in rows)
    healthz = {r["backend"]: r["result"]["rps"] for r in rows
               if r["scenario"] == "healthz" and r["kind"] == "http" and r["connections"] == base_conns}
    pgbench = {(r["backend"], r["scenario"], r["connections"]): r["result"]["rps"] for r in rows
               if r["kind"] == "pgbench"}
    out = {}
    for r in rows:
        if r["kind"] != "http" or r["scenario"] == "healthz":
            continue
        key = (r["backend"], r["scenario"], r["connections"])
        rps = r["result"]["rps"]
        if key in pgbench:
            out[key] = (rps / pgbench[key], "pgbench", rps, r["result"]["p99_ms"])
        elif r["backend"] in healthz:
            out[key] = (rps / healthz[r["backend"]], "/healthz", rps, r["result"]["p99_ms"])
    return out


def spread(values):
    return (max(values) - min(values)) / statistics.median(values) if len(values) > 1 else 0.0


def main(directory):
    sides = {}
    for side in ("before", "after"):
        runs = [ratios(load(p)) for p in sorted(glob.glob(os.path.join(directory, f"{side}-*.jsonl")))]
        if not runs:
            sys.exit(f"no {side}-*.jsonl in {directory}")
        per_key = defaultdict(list)
        for run in runs:
            for key, value in run.items():
                per_key[key].append(value)
        sides[side] = per_key
    print(f"before: {len(glob.glob(os.path.join(directory, 'before-*.jsonl')))} rounds, "
          f"after: {len(glob.glob(os.path.join(directory, 'after-*.jsonl')))} rounds; medians\n")
    print("| backend | scenario | conns | req/s before | req/s after | p99 ms before | p99 ms after "
          "| ratio vs | before | after | change | noise | verdict |")
    print("|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|")
    for key, before in sides["before"].items():
        after = sides["after"].get(key)
        if not after:
            continue
        b = [v[0] for v in before]
        a = [v[0] for v in after]
        b_med, a_med = statistics.median(b), statistics.median(a)
        change = a_med / b_med - 1
        noise = max(spread(b), spread(a))
        verdict = "noise" if abs(change) <= noise else ("better" if change > 0 else "worse")
        backend, scenario, conns = key
        print(f"| {backend} | {scenario} | {conns} "
              f"| {statistics.median(v[2] for v in before):,.0f} "
              f"| {statistics.median(v[2] for v in after):,.0f} "
              f"| {statistics.median(v[3] for v in before):.2f} "
              f"| {statistics.median(v[3] for v in after):.2f} "
              f"| {before[0][1]} | {b_med:.3f} | {a_med:.3f} | {change:+.0%} | {noise:.0%} | {verdict} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
