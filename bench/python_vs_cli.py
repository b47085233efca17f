#!/usr/bin/env python3
"""The Python package against the command line, side by side in one run (issue 17, item 7).

  python bench/python_vs_cli.py [--reps 3] [--threads 2] [--edges bench/data/synthetic/scale]

Run by bench/python_vs_cli.sh, which builds both sides from the same commit. Needs the `nrp`
package importable (the venv of scripts/test) and `$CARGO_TARGET_DIR/release/nrp`
(default `target/`).

1. Training step: for each case, alternates `nrp run PROGRAM --db DB --json` (a fresh
   process) and a fresh Python process that runs the same program text through
   `nrp.Session(db=DB)` — and, for Cora, through `nrp.Session(db={name: DataFrame})` with
   the tables read by pandas beforehand. Each side's figure is the median training step of
   the run (the CLI's `ms_per_epoch`, the median of `Session.history.step_ms`); the table
   shows the median over repetitions and the ratio Python / CLI (target: at most 1.05).
2. Passing a large table in: the 2,000,000-row edge table of the synthetic `scale` case,
   once as `nrp.Session(db=FOLDER)` (nrp reads edge.csv) and once as
   `nrp.Session(db={"edge": df})` (the DataFrame the user already has, read by pandas
   before the clock starts), each followed by the same query that binds the whole table.
   Ratio DataFrame / CSV (target: at most 1.0).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NRP = os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"), "release", "nrp")
CASES = [
    ("gcn-cora", "examples/gcn-cora.nrp", "examples/data/cora"),
    ("hgt-imdb", "examples/hgt-imdb.nrp", "examples/data/hetero-imdb"),
]

# One Python side of the training-step comparison, in a fresh interpreter.
PY_STEP = r"""
import json, os, sys, nrp
program, db, threads, frames = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
if frames:
    import pandas as pd
    db = {f[:-4]: pd.read_csv(os.path.join(db, f)) for f in os.listdir(db) if f.endswith(".csv")}
s = nrp.Session(db=db, seed=0, threads=threads)
s.run(open(program).read(), name=program)
h = s.history
print(json.dumps({"step_ms": float(h["step_ms"].median()), "epochs": len(h)}))
"""

# One side of the large-table comparison, in a fresh interpreter: prints seconds.
PY_TABLE = r"""
import json, os, sys, time, nrp
folder, threads, frames = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
db = folder
if frames:
    import pandas as pd
    db = {"edge": pd.read_csv(os.path.join(folder, "edge.csv"))}
t = time.perf_counter()
s = nrp.Session(db=db, seed=0, threads=threads)
s.run("?pred Degree(v; count(u)) :- edge(u, v) .")
rows = len(s.relation("Degree"))
print(json.dumps({"s": time.perf_counter() - t, "rows": rows}))
"""


def python_step(program, db, threads, frames):
    out = subprocess.run(
        [sys.executable, "-c", PY_STEP, program, db, str(threads), "1" if frames else "0"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["step_ms"]


def cli_step(program, db, threads):
    out = subprocess.run(
        [NRP, "run", program, "--db", db, "--threads", str(threads), "--json"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["ms_per_epoch"]


def table_seconds(folder, threads, frames):
    out = subprocess.run(
        [sys.executable, "-c", PY_TABLE, folder, str(threads), "1" if frames else "0"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--edges", default="bench/data/synthetic/scale")
    a = ap.parse_args()

    print("| case | CLI ms/step | Python ms/step (folder) | Python ms/step (DataFrames) "
          "| Python / CLI | target |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, program, db in CASES:
        cli, py, frames = [], [], []
        for _ in range(a.reps):
            cli.append(cli_step(program, db, a.threads))
            py.append(python_step(program, db, a.threads, False))
            if name == "gcn-cora":
                frames.append(python_step(program, db, a.threads, True))
        c, p = statistics.median(cli), statistics.median(py)
        f = f"{statistics.median(frames):.2f}" if frames else "—"
        worst = max([p] + ([statistics.median(frames)] if frames else []))
        print(f"| {name} | {c:.2f} | {p:.2f} | {f} | **{worst / c:.3f}** | ≤ 1.05 |", flush=True)

    # The large table: edge.csv alone in a folder, so that nothing else is read.
    src = os.path.join(ROOT, a.edges, "edge.csv")
    if not os.path.exists(src):
        sys.exit(f"{src} is missing: run `python bench/gen_synthetic.py --only scale` first")
    with tempfile.TemporaryDirectory() as tmp:
        os.symlink(src, os.path.join(tmp, "edge.csv"))
        csv, frame = [], []
        for _ in range(a.reps):
            csv.append(table_seconds(tmp, a.threads, False))
            frame.append(table_seconds(tmp, a.threads, True))
    assert csv[0]["rows"] == frame[0]["rows"], (csv[0], frame[0])
    c = statistics.median(r["s"] for r in csv)
    f = statistics.median(r["s"] for r in frame)
    print()
    print("| 2,000,000-row table, then one query | from edge.csv | from a DataFrame "
          "| DataFrame / CSV | target |")
    print("|---|---:|---:|---:|---:|")
    print(f"| seconds (median of {a.reps}) | {c:.2f} | {f:.2f} | **{f / c:.3f}** | ≤ 1.0 |")


if __name__ == "__main__":
    main()
