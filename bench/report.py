"""Prints the benchmark table (Markdown): each scenario beside the ceilings of the same run.

Throughput and latencies are medians over the rounds; `spread` is (max - min) / median of the
throughput. A ratio is taken within each round (the scenario against that round's /healthz or
pgbench) and the median of those ratios is shown.
"""
import json
import statistics
import sys
from collections import defaultdict


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, digits=0, suffix=""):
    return "-" if value is None else f"{value:,.{digits}f}{suffix}"


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    if not rows:
        print("no results")
        return
    by_round = {(r["backend"], r["scenario"], r["kind"], r["round"], r["connections"]): r["result"]
                for r in rows}
    groups = defaultdict(list)
    order = []
    for r in rows:
        key = (r["backend"], r["scenario"], r["kind"], r["connections"])
        if key not in groups:
            order.append(key)
        groups[key].append(r)

    projects = rows[0]["projects"]
    rounds = max(r["round"] for r in rows)
    print(f"{projects:,} projects, {rounds} round(s); medians over the rounds\n")
    print("| backend | scenario | conns | req/s | spread | p50 ms | p99 ms | vs /healthz | vs pgbench "
          "| errors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    base_conns = min(r["connections"] for r in rows)
    for key in order:
        backend, scenario, kind, conns = key
        if kind != "http":
            continue
        runs = groups[key]
        rps = [r["result"]["rps"] for r in runs]
        spread = (max(rps) - min(rps)) / statistics.median(rps) * 100 if len(rps) > 1 else None
        vs_h, vs_p = [], []
        for r in runs:
            h = by_round.get((backend, "healthz", "http", r["round"], base_conns))
            if h and scenario != "healthz":
                vs_h.append(r["result"]["rps"] / h["rps"])
            p = by_round.get((backend, scenario, "pgbench", r["round"], conns))
            if p:
                vs_p.append(r["result"]["rps"] / p["rps"])
        errors = sum(r["result"].get("errors", 0) + r["result"].get("non2xx", 0) for r in runs)
        print(f"| {backend} | {scenario} | {conns} | {fmt(median(rps))} | {fmt(spread, 0, '%')} "
              f"| {fmt(median(r['result']['p50_ms'] for r in runs), 2)} "
              f"| {fmt(median(r['result']['p99_ms'] for r in runs), 2)} "
              f"| {fmt(median(vs_h), 2)} | {fmt(median(vs_p), 2)} | {errors} |")
    for key in order:
        backend, scenario, kind, conns = key
        runs = groups[key]
        if kind == "pgbench":
            rps = [r["result"]["rps"] for r in runs]
            spread = (max(rps) - min(rps)) / statistics.median(rps) * 100 if len(rps) > 1 else None
            avg = median(r["result"]["avg_ms"] for r in runs)
            print(f"| {backend} | pgbench: {scenario} | {conns} | {fmt(median(rps))} "
                  f"| {fmt(spread, 0, '%')} | avg {fmt(avg, 2)} | | | | |")
    for key in order:
        backend, scenario, kind, conns = key
        if kind == "rss":
            peak = max(r["result"]["kib"] for r in groups[key]) / 1024
            print(f"| {backend} | server peak RSS (up to {conns} connections) | {conns} "
                  f"| {peak:.1f} MiB | | | | | | |")


if __name__ == "__main__":
    main(sys.argv[1])
