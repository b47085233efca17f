#!/usr/bin/env python3
"""One DBLP HGT program of RelaNN's, run in RelaNN and in nrp from the same initial weights:
compares the loss at the initial weights, the losses of PARITY_EPOCHS (default 10) Adam
epochs with the script's lr 0.005 and weight decay 0.001, and then the node embeddings `Output`.

usage: dblp_parity.py CHECKOUT PROGRAM DB WORK
  PROGRAM  a program extract.py wrote (slow_dblp_hgt_1l.relnn, …; define + ?fit + ?pred)
  DB       the folder build_dblp.py wrote
env: RELANN_PY (a Python that imports RelaNN's dependencies), NRP_BIN

The ?fit is replaced by one epoch with lr 0 (1e-30 for nrp, which refuses 0) (so the loss is the loss at the initial weights
and RelaNN's parameter store ends holding the initial weights, under nrp's names), followed
by a second ?fit `Loss2` of PARITY_EPOCHS epochs from those weights; the ?pred
by `?pred ParityOut(id; z) :- Output(id; z) .`. RelaNN runs the texts with Session.run on the
CSV tables read back into its (DataFrame, tensor) layout; its parameters go to nrp by --load.
"""
import json
import os
import re
import subprocess
import sys

EPOCHS = int(os.environ.get("PARITY_EPOCHS", "10"))
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from single_ops import TORCH_SCATTER_SHIM, close, write_safetensors  # noqa: E402

RELANN_PART = r'''
import json, os, sys, csv
sys.path.insert(0, sys.argv[1])
import pandas as pd, torch
from relann.session import Session
from relann.torch_utils import full_seed
db_dir, texts, out = sys.argv[2], json.load(open(sys.argv[3])), sys.argv[4]
content_cols = {"MetaRel": 3}
db = {}
for f in sorted(os.listdir(db_dir)):
    name = f[:-4]
    df = pd.read_csv(os.path.join(db_dir, f))
    k = content_cols.get(name, 2 if df.shape[1] == 3 and df.columns[-1] == "w" else 1)
    emb = df.iloc[:, k:].to_numpy()
    t = torch.tensor(emb, dtype=torch.long) if name.endswith("Labels") else torch.tensor(emb, dtype=torch.float32)
    db[name] = (df.iloc[:, :k].copy(), t if emb.shape[1] else torch.empty(len(df), 0))
full_seed(0)
s = Session(db=db)
s.run(texts[0])
full_seed(0)
s.run(texts[1])
loss = s.engine.trained_modules["Loss"]["loss_history"]
params = {k: [list(v.shape), v.detach().reshape(-1).tolist()] for k, v in s.params().items()}
s.run(texts[2])
loss += s.engine.trained_modules["Loss2"]["loss_history"]
after = {k: v.detach().reshape(-1).tolist() for k, v in s.params().items()}
r = s.run(texts[3])
rows = sorted(zip(r.content.iloc[:, 0].tolist(), r.embeddings[0].reshape(len(r.content), -1).tolist()))
json.dump({"loss": loss, "params": params, "rows": rows, "after": after}, open(out, "w"))
'''


def main():
    checkout, prog, db, work = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    text = open(prog).read()
    define, rest = text.split("?fit", 1)
    define = define.rsplit("#lang:relnn", 1)[0] if define.rstrip().endswith("#lang:relnn") else define
    loss_rule = re.sub(r"^\s*<[^>]*>", "", rest).split("#lang:relnn")[0].strip()
    out_var = re.search(r"Output\((\w+)\s*;", loss_rule).group(1)
    fit = f"?fit <epochs=1, lr=0.0, weight_decay=0.0>\n{loss_rule}\n"
    fit2 = f"?fit <epochs={EPOCHS}, lr=0.005, weight_decay=0.001>\n{re.sub(r'^Loss', 'Loss2', loss_rule)}\n"
    pred = f"?pred ParityOut({out_var}; z) :- Output({out_var}; z) .\n"
    texts_path = os.path.join(work, "texts.json")
    rel_out = os.path.join(work, "relann.json")
    if os.path.exists(texts_path) and json.load(open(texts_path)) != [define, fit, fit2, pred] and os.path.exists(rel_out):
        os.remove(rel_out)
    with open(texts_path, "w") as f:
        json.dump([define, fit, fit2, pred], f)
    shim = os.path.join(work, "_shim", "torch_scatter")
    os.makedirs(shim, exist_ok=True)
    with open(os.path.join(shim, "__init__.py"), "w") as f:
        f.write(TORCH_SCATTER_SHIM)
    with open(os.path.join(work, "relann_part.py"), "w") as f:
        f.write(RELANN_PART)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(shim))
    p = None if os.path.exists(rel_out) else subprocess.run([os.environ.get("RELANN_PY", "python3"), os.path.join(work, "relann_part.py"), checkout, db,
                        os.path.join(work, "texts.json"), rel_out], env=env, capture_output=True, text=True)
    if p is not None and p.returncode != 0:
        sys.exit("RelaNN failed:\n" + p.stderr[-3000:])
    rel = json.load(open(rel_out))
    write_safetensors(os.path.join(work, "relann.safetensors"), {k: tuple(v) for k, v in rel["params"].items()})
    nprog = os.path.join(work, "program.relnn")
    with open(nprog, "w") as f:
        # nrp refuses lr 0; 1e-30 moves no float32 weight and the epoch-1 loss precedes the step
        f.write(define + "\n" + fit.replace("lr=0.0", "lr=1e-30") + "\n" + fit2 + "\n" + pred)
    nrp = os.environ.get("NRP_BIN", os.path.join(HERE, "../../target/release/nrp"))

    def run_nrp():
        return subprocess.run([nrp, "run", nprog, "--db", db, "--load", os.path.join(work, "relann.safetensors"),
                               "--out", os.path.join(work, "nrp"), "--metrics", os.path.join(work, "metrics.jsonl")],
                              capture_output=True, text=True)
    q = run_nrp()
    # RelaNN names a named module used inside some expressions by its path in the head's
    # expression (`DotPA<1>.left.left.arg.right.arg.weight` for `Krel_PA<1>`, a quirk). Pair each
    # such tensor with a parameter nrp missed: same template arguments and shape, and the
    # longest common suffix of the base names (DotPA_L1 ~ Krel_PA_L1).
    renamed = []
    saved = os.path.join(work, "nrp_params.safetensors")
    def save_run():
        """nrp's parameter names and shapes, and its values after the last ?fit"""
        subprocess.run([nrp, "run", nprog, "--db", db, "--load", os.path.join(work, "relann.safetensors"),
                        "--save", saved, "--out", os.path.join(work, "nrp")], capture_output=True, text=True)
        if not os.path.exists(saved):
            return {}, {}
        import struct
        with open(saved, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            hdr = json.loads(f.read(n))
            blob = f.read()
        after = {}
        for k, v in hdr.items():
            if k.startswith("__") or v.get("dtype") != "F32":
                continue
            a0, a1 = v["data_offsets"]
            after[k] = list(struct.unpack("<%df" % ((a1 - a0) // 4), blob[a0:a1]))
        return {k: v["shape"] for k, v in hdr.items() if not k.startswith("__")}, after
    names, nrp_after = save_run() if q.returncode == 0 else ({}, {})
    params = dict(rel["params"])
    missed = [k for k in names if k not in params]
    ignored = [k for k in params if k not in names]

    def split(name):
        m = re.match(r"^([A-Za-z_]\w*?)(<[^>]*>)?\.", name)
        return (m.group(1), m.group(2) or "") if m else (name, "")

    def suffix(a, b):
        n = 0
        while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
            n += 1
        return n
    for r in ignored:
        base, args = split(r)
        cands = [m for m in missed if split(m)[1] == args and names[m] == params[r][0]]
        if not cands:
            continue
        best = max(cands, key=lambda m: suffix(split(m)[0], base))
        if sum(1 for m in cands if suffix(split(m)[0], base) == suffix(split(best)[0], base)) != 1:
            continue
        params[best] = params.pop(r)
        missed.remove(best)
        renamed.append(f"{r} -> {best}")
    if renamed:
        write_safetensors(os.path.join(work, "relann.safetensors"), {k: tuple(v) for k, v in params.items()})
        names, nrp_after = save_run()
    rename = {r.split(" -> ")[0]: r.split(" -> ")[1] for r in renamed}
    # parameters after the last ?fit, per tensor: how many entries differ by more than 1e-6
    after_diff = {}
    if "after" in rel and names:
        for k, vals in rel["after"].items():
            k2 = rename.get(k, k)
            if k2 in nrp_after and len(nrp_after[k2]) == len(vals):
                d = [abs(a - b) for a, b in zip(nrp_after[k2], vals)]
                after_diff[k2] = (sum(1 for x in d if x > 1e-6), len(d), max(d))
    if renamed:
        write_safetensors(os.path.join(work, "relann.safetensors"), {k: tuple(v) for k, v in params.items()})
        q = run_nrp()
    if q.returncode != 0:
        sys.exit("nrp failed:\n" + q.stderr[-3000:])
    warn = [ln for ln in q.stderr.splitlines() if "warning" in ln]
    nrp_loss = [json.loads(ln)["loss"] for ln in open(os.path.join(work, "metrics.jsonl")) if '"loss"' in ln]
    rows = {}
    import csv
    with open(os.path.join(work, "nrp", "ParityOut.csv")) as f:
        r = csv.reader(f)
        next(r)
        for line in r:
            rows[int(float(line[0]))] = [float(x) for x in line[1:]]
    worst, n, num, den = 0.0, 0, 0.0, 0.0
    bad = None
    for k, emb in rel["rows"]:
        ne = rows.get(int(k))
        if ne is None or len(ne) != len(emb):
            bad = f"row {k}: missing or width {len(emb)} vs {None if ne is None else len(ne)}"
            break
        for a, b in zip(ne, emb):
            worst = max(worst, abs(a - b) / (abs(b) + 1e-6))
            num += (a - b) ** 2
            den += b * b
            if not close(a, b, 1e-4, 1e-5):
                n += 1
    print(json.dumps({
        "program": os.path.basename(prog),
        "params": len(rel["params"]), "param_values": sum(len(v[1]) for v in rel["params"].values()),
        "renamed": renamed,
        "params_after_fit_differing": {k: v for k, v in after_diff.items() if v[0]}, "nrp_warnings": warn[:3],
        "loss_relann": rel["loss"], "loss_nrp": nrp_loss,
        "rows_relann": len(rel["rows"]), "rows_nrp": len(rows),
        "values_off_rtol_1e-4": n, "rel_l2_diff": (num / den) ** 0.5 if den else None, "max_rel_diff": worst, "first_problem": bad,
    }, indent=1))


if __name__ == "__main__":
    main()
