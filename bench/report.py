"""Prints the benchmark table: each scenario beside the ceilings of the same run."""
import json
import sys


def main(path):
    rows = [json.loads(line) for line in open(path)]
    by_key = {(r["backend"], r["scenario"], r["kind"]): r["result"] for r in rows}
    print(f"{'backend':<11} {'scenario':<22} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'vs /healthz':>11} {'vs pgbench':>10} {'errors':>6}")
    for r in rows:
        if r["kind"] != "http":
            continue
        res, backend = r["result"], r["backend"]
        healthz = by_key.get((backend, "healthz", "http"))
        pgb = by_key.get((backend, r["scenario"], "pgbench"))
        vs_h = f"{res['rps'] / healthz['rps']:.2f}" if healthz and r["scenario"] != "healthz" else "-"
        vs_p = f"{res['rps'] / pgb['rps']:.2f}" if pgb else "-"
        errors = res.get("errors", 0) + res.get("non2xx", 0)
        print(f"{backend:<11} {r['scenario']:<22} {res['rps']:>9.0f} {res['p50_ms']:>8.2f} "
              f"{res['p99_ms']:>8.2f} {vs_h:>11} {vs_p:>10} {errors:>6}")
    for r in rows:
        if r["kind"] == "pgbench":
            print(f"{'postgresql':<11} {'pgbench ' + r['scenario']:<22} {r['result']['rps']:>9.0f} "
                  f"{'avg ' + str(r['result']['avg_ms']):>17}")
        if r["kind"] == "rss":
            print(f"{r['backend']:<11} {'server peak RSS':<22} {r['result']['kib'] / 1024:>8.1f} MiB")


if __name__ == "__main__":
    main(sys.argv[1])
