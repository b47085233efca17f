#!/usr/bin/env python3
"""Run one model-zoo program over several seeds and summarise test accuracy.

    tools/zoo_seeds.py examples/gcn-citeseer.nrp examples/data/citeseer [--seeds 0-4]
        [--threads 1] [--nrp target/release/nrp] [--key test_acc]

Runs `nrp run PROGRAM --db DB --seed S --threads T --json` for each seed, one after the
other, reads the last JSON line of stdout and prints one line per seed and then
`mean ± std` (sample std, n-1) of `--key` and the median of `ms_per_epoch`. Stdlib only.
"""
import argparse, json, statistics, subprocess, sys


def seeds(spec):
    out = []
    for part in spec.split(","):
        a, _, b = part.partition("-")
        out.extend(range(int(a), int(b or a) + 1))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("program")
    ap.add_argument("db")
    ap.add_argument("--seeds", default="0-4")
    ap.add_argument("--threads", default="1")
    ap.add_argument("--nrp", default="target/release/nrp")
    ap.add_argument("--key", default="test_acc")
    a = ap.parse_args()
    accs, ms, extra = [], [], {}
    for s in seeds(a.seeds):
        cmd = [a.nrp, "run", a.program, "--db", a.db, "--seed", str(s), "--threads", a.threads, "--json"]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"seed {s}: exit {p.returncode}\n{p.stderr[-2000:]}")
        line = [l for l in p.stdout.splitlines() if l.startswith("{")][-1]
        j = json.loads(line)
        accs.append(j[a.key])
        ms.append(j["ms_per_epoch"])
        for k in ("test_macro_f1",):
            if k in j:
                extra.setdefault(k, []).append(j[k])
        print(f"seed {s}: {a.key} {j[a.key]:.4f}  ms_per_epoch {j['ms_per_epoch']:.1f}  "
              f"best_epoch {j.get('best_epoch')}  final_loss {j.get('final_loss'):.4f}", flush=True)
    sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
    print(f"{a.program}: {a.key} {100 * statistics.mean(accs):.1f} ± {100 * sd:.1f} % over {len(accs)} seeds; "
          f"median ms_per_epoch {statistics.median(ms):.1f} (--threads {a.threads})")
    for k, xs in extra.items():
        sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
        print(f"  {k} {100 * statistics.mean(xs):.1f} ± {100 * sd:.1f} %")


if __name__ == "__main__":
    main()
