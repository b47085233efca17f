#!/usr/bin/env python3
"""Summarises a results folder of bench/run.sh, bench/ablate.sh or ../shared/bench/run.sh
(files <case>.<side>.<rep>.out / .err / .time; the last JSON line of .out is the result).

  python3 bench/summarize.py DIR [DIR ...]

Side by side (sides pyg and nrp): medians over repetitions of the training step, peak RSS
(self-reported), load seconds, nrp's grounding alone (the `[trace] ground:` line that
NRP_TRACE=1 writes to stderr) and the peer's triangle enumeration, test accuracy, and the
ratios nrp/peer. Ablation (sides base and no-<rule>...): each variant against base.
Writes DIR/table.md. Standard library only.
"""
import json
import os
import re
import statistics
import sys


def load(d):
    runs = {}
    for name in sorted(os.listdir(d)):
        if not name.endswith(".out") or name.count(".") != 3:
            continue
        case, side, rep, _ = name.split(".")
        rec = {"ok": False}
        for line in open(os.path.join(d, name), errors="replace"):
            line = line.strip()
            if line.startswith("{"):
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    rec.update(obj)
                    rec["ok"] = "ms_per_epoch" in obj
        err = os.path.join(d, name[:-4] + ".err")
        if os.path.exists(err):
            m = re.search(r"^\[trace\] ground: ([0-9.]+) ms", open(err, errors="replace").read(), re.M)
            if m:
                rec["ground_seconds"] = float(m.group(1)) / 1e3
        t = os.path.join(d, name[:-4] + ".time")
        if os.path.exists(t):
            p = open(t).read().split()
            if len(p) >= 5:
                rec["wall"], rec["rc"] = float(p[0]), int(p[2])
                rec["max_rss_mb_time"] = int(p[1]) / 1024 if p[1].isdigit() else None
                rec["quiet"] = int(p[3]) <= 10 and not (float(p[0]) >= 1 and p[4] != "NA" and int(p[4]) > 10)
                if rec["rc"] != 0:
                    rec["ok"] = False
        runs.setdefault(case, {}).setdefault(side, []).append(rec)
    return runs


def med(recs, key):
    v = [r[key] for r in recs if r.get("ok") and isinstance(r.get(key), (int, float))]
    return statistics.median(v) if v else None


def f(v, nd=1):
    return "-" if v is None else f"{v:.{nd}f}"


def ratio(a, b, nd=3):
    return "-" if a is None or not b else f"{a / b:.{nd}f}"


def acc(v):
    return "-" if v is None else f"{100 * v:.1f} %"


def quiet(recs):
    return f"{sum(1 for r in recs if r.get('quiet'))}/{len(recs)}"


def side_by_side(runs, order):
    out = ["| case | peer ms/step | nrp ms/step | nrp/peer | peer peak RSS MB | nrp peak RSS MB | "
           "nrp/peer | peer load s | nrp load s | nrp ground s | peer acc | nrp acc | quiet peer, nrp |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for c in order:
        p, n = runs[c].get("pyg", []), runs[c].get("nrp", [])
        pm, nm = med(p, "ms_per_epoch"), med(n, "ms_per_epoch")
        pr, nr = med(p, "peak_rss_mb"), med(n, "peak_rss_mb")
        pl, nl = med(p, "load_seconds"), med(n, "load_seconds")
        en = med(p, "enumerate_seconds")
        out.append(
            f"| {c} | {f(pm, 2)} | {f(nm, 2)} | {ratio(nm, pm, 4)} | {f(pr, 0)} | {f(nr, 0)} | "
            f"{ratio(nr, pr, 2)} | {f(pl, 3)}{f' (enum. {en:.3f})' if en is not None else ''} | "
            f"{f(nl, 3)} | {f(med(n, 'ground_seconds'), 3)} | {acc(med(p, 'test_acc'))} | "
            f"{acc(med(n, 'test_acc'))} | {quiet(p)}, {quiet(n)} |")
        bad = [(s, r) for s, rs in (("peer", p), ("nrp", n)) for r in rs if not r.get("ok")]
        if bad:
            out.append(f"|   {c}: {len(bad)} failed run(s) ({', '.join(s for s, _ in bad)}) | | | | | | | | | | | | |")
    return out


def ablation(runs, order):
    out = ["| case | variant | ms/step | × base | ms/step incl. eval | load s | peak RSS MB | "
           "final loss | test acc | quiet |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for c in order:
        sides = runs[c]
        base = med(sides.get("base", []), "ms_per_epoch")
        for s in ["base"] + sorted(k for k in sides if k != "base"):
            if s not in sides:
                continue
            r = sides[s]
            m = med(r, "ms_per_epoch")
            ok = sum(1 for x in r if x.get("ok"))
            out.append(
                f"| {c} | {s} | {f(m, 2) if ok else 'FAILED'} | {ratio(m, base, 2)} | "
                f"{f(med(r, 'ms_per_epoch_incl_eval'), 2)} | {f(med(r, 'load_seconds'), 3)} | "
                f"{f(med(r, 'peak_rss_mb'), 0)} | {f(med(r, 'final_loss'), 4)} | "
                f"{acc(med(r, 'test_acc'))} | {quiet(r)} |")
    return out


def main():
    for d in sys.argv[1:]:
        runs = load(d)
        order = [c for c in os.environ.get("CASES_ORDER", "").split() if c in runs] or sorted(runs)
        pairs = [c for c in order if "pyg" in runs[c] or "nrp" in runs[c]]
        abl = [c for c in order if "base" in runs[c]]
        lines = [f"results: {d}", ""]
        if pairs:
            lines += side_by_side(runs, pairs) + [""]
        if abl:
            lines += ablation(runs, abl) + [""]
        lines.append("Medians over repetitions; ratios < 1 mean nrp is faster / smaller; "
                     "quiet = runs with no competing process (CPUs <= 10 % busy before, "
                     "other processes <= 10 % during).")
        text = "\n".join(lines)
        print(text)
        open(os.path.join(d, "table.md"), "w").write(text + "\n")


if __name__ == "__main__":
    main()
