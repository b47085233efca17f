#!/usr/bin/env python3
"""Run one nrp program on one database for several seeds, one after the other.
usage: run_seeds.py NAME PROGRAM DB METRIC [SEEDS...]   (default seeds 0..4; $NRP: the binary)
Writes logs/NAME.sSEED.{out,err} and appends a summary line to results.jsonl."""
import json, subprocess, sys, time, statistics, os
name, prog, db, metric = sys.argv[1:5]
seeds = [int(s) for s in sys.argv[5:]] or [0, 1, 2, 3, 4]
os.makedirs("logs", exist_ok=True)
rows = []
for s in seeds:
    t0 = time.time()
    p = subprocess.run([os.environ.get("NRP", os.path.join(os.path.dirname(__file__), "../../target/release/nrp")), "run", prog, "--db", db, "--threads", "2", "--json", "--seed", str(s)],
                       capture_output=True, text=True)
    wall = time.time() - t0
    open(f"logs/{name}.s{s}.out", "w").write(p.stdout)
    open(f"logs/{name}.s{s}.err", "w").write(p.stderr)
    if p.returncode != 0:
        print(f"{name} seed {s}: rc={p.returncode}\n{p.stderr[-3000:]}")
        rows.append({"seed": s, "rc": p.returncode, "wall_s": wall})
        continue
    j = json.loads(p.stdout.strip().splitlines()[-1])
    acc = j["metrics"][metric]
    rows.append({"seed": s, "acc": acc, "ms_per_epoch": j["ms_per_epoch"], "final_loss": j["final_loss"],
                 "load_s": j["load_seconds"], "train_s": j["total_train_seconds"], "wall_s": wall, "rss_mb": j.get("peak_rss_mb")})
    print(f"{name} seed {s}: {metric}={acc:.4f} ms/epoch={j['ms_per_epoch']:.2f} loss={j['final_loss']:.4f} wall={wall:.1f}s", flush=True)
accs = [r["acc"] for r in rows if "acc" in r]
summ = {"name": name, "program": prog, "db": db, "metric": metric, "runs": rows}
if accs:
    summ["mean"] = statistics.mean(accs)
    summ["std"] = statistics.stdev(accs) if len(accs) > 1 else 0.0
    summ["ms_per_epoch_mean"] = statistics.mean(r["ms_per_epoch"] for r in rows if "acc" in r)
    print(f"{name}: {metric} {summ['mean']:.4f} ± {summ['std']:.4f} over seeds {[r['seed'] for r in rows if 'acc' in r]}, ms/epoch {summ['ms_per_epoch_mean']:.2f}")
open("results.jsonl", "a").write(json.dumps(summ) + "\n")
