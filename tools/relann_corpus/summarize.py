#!/usr/bin/env python3
"""Merge results.jsonl (one line per run_seeds.py call) into one row per program."""
import json, statistics
by = {}
for l in open("results.jsonl"):
    r = json.loads(l)
    d = by.setdefault(r["name"], {"db": r["db"], "metric": r["metric"], "runs": {}})
    for x in r["runs"]:
        d["runs"][x["seed"]] = x   # a later run of the same seed replaces an earlier one
print(f"{'program':22} {'db':22} {'metric':9} {'seeds':11} {'mean':>7} {'std':>7} {'ms/epoch':>9} {'wall s/run':>10}  per-seed")
for n, d in by.items():
    rs = [d["runs"][s] for s in sorted(d["runs"]) if "acc" in d["runs"][s]]
    a = [r["acc"] for r in rs]
    sd = statistics.stdev(a) if len(a) > 1 else 0.0
    print(f"{n:22} {d['db']:22} {d['metric']:9} {','.join(str(r['seed']) for r in rs):11} {statistics.mean(a):7.4f} {sd:7.4f} "
          f"{statistics.mean(r['ms_per_epoch'] for r in rs):9.2f} {statistics.mean(r['wall_s'] for r in rs):10.1f}  {' '.join(f'{x:.3f}' for x in a)}")
