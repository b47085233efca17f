#!/usr/bin/env python3
"""Runs one RelaNN test function with RelaNN's entry points wrapped, and records what
single_ops.py needs to replay it on nrp. Runs in a Python that can import RelaNN (torch,
lark, pandas, networkx, fastcore, pydantic) — it is started by single_ops.py, not by hand.

usage: relann_side.py CHECKOUT TEST_FILE FUNCTION OUT_DIR
       relann_side.py CHECKOUT --batch CASES.json   (a list of [TEST_FILE, FUNCTION, OUT_DIR]:
                      RelaNN is imported once and each case runs in a forked child)

Writes OUT_DIR/record.json:
  programs  the program texts in the order RelaNN parsed them (Session.run / parse_and_transform_str)
  dbs       {relation: {"columns": [...], "rows": [[...]], "emb": [[...]], "emb_dtype": "float"|"int"}}
            the database each Session / Engine was built with (the first one)
  results   one entry per Session.run call: null, or the returned relation
            {"content_columns", "content": rows, "shape": [...], "emb": flattened rows}
  forward   the last RelNN.forward output (used by the Engine-level repro tests)
  params    [[name, shape, flat values]] in the order RelNN.instantiate first saw them,
            values as they were when the module was instantiated (before any training step)
  losses    loss histories of ?fit runs {rule: [...]}
  error     the exception the test function raised (its first line), or null
and the RelaNN-side database as CSV files OUT_DIR/db/<relation>.csv (content columns, then
one column per embedding coordinate e0, e1, …).
"""
import csv
import importlib.util
import json
import os
import sys
import traceback

checkout = sys.argv[1]
sys.path.insert(0, checkout)
out = None

import torch  # noqa: E402
import relann.parser  # noqa: E402
import relann.session  # noqa: E402
import relann.engine  # noqa: E402
import relann.relnn  # noqa: E402

rec = {"programs": [], "dbs": None, "results": [], "forward": None, "params": [],
       "losses": {}, "error": None}
seen_params = set()


def tensor_rows(t):
    t = t.detach().cpu()
    if t.dim() == 1:
        t = t.unsqueeze(1)
    return t.reshape(t.shape[0], -1).tolist()


def er_record(er):
    if er is None or not hasattr(er, "embeddings"):
        return None
    cols = list(er.content.columns) if er.content is not None else []
    content = er.content.astype(object).values.tolist() if er.content is not None else []
    emb = er.embeddings[0] if er.embeddings else None
    return {
        "content_columns": [str(c) for c in cols],
        "content": [[(v.item() if hasattr(v, "item") else v) for v in row] for row in content],
        "shape": list(emb.shape) if emb is not None else None,
        "emb": tensor_rows(emb) if emb is not None and emb.numel() > 0 else [],
    }


def record_db(db):
    if rec["dbs"] is not None or not isinstance(db, dict):
        return
    rec["dbs"] = {}
    for name, val in db.items():
        if not (isinstance(val, tuple) and len(val) == 2):
            continue
        df, emb = val
        cols = [str(c) for c in df.columns]
        rows = [[(v.item() if hasattr(v, "item") else v) for v in row] for row in df.astype(object).values.tolist()]
        e = tensor_rows(emb) if emb is not None else [[] for _ in rows]
        is_int = emb is not None and not torch.is_floating_point(emb)
        rec["dbs"][name] = {"columns": cols, "rows": rows, "emb": e,
                            "emb_dtype": "int" if is_int else "float"}
        width = len(e[0]) if e else 0
        with open(os.path.join(out, "db", f"{name}.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(cols + [f"e{j}" for j in range(width)])
            for r, er in zip(rows, e):
                w.writerow(r + [(int(x) if is_int else repr(float(x))) for x in er])


orig_engine_init = relann.engine.Engine.__init__


def engine_init(self, *a, **k):
    db = k.get("db", a[0] if a else None)
    record_db(db)
    return orig_engine_init(self, *a, **k)


relann.engine.Engine.__init__ = engine_init

orig_parse = relann.parser.parse_and_transform_str


def parse(code, *a, **k):
    rec["programs"].append(code)
    return orig_parse(code, *a, **k)


relann.parser.parse_and_transform_str = parse
relann.session.parse_and_transform_str = parse

orig_run = relann.session.Session.run


def session_run(self, code):
    # call define directly so RelaNN's caller-frame lookup still finds the test module's globals
    rec.setdefault("db_ids", []).append(id(self.engine.db))
    fr = sys._getframe(1)
    self.engine.set_run_globals(fr.f_globals)
    transformer = relann.session.RelnnTransformer(self.engine)
    program = parse(code, start="program", transformer=transformer)
    res = self.engine.add_program(program)
    rec["results"].append(er_record(res))
    for rule, info in getattr(self.engine, "trained_modules", {}).items():
        rec["losses"][rule] = [float(x) for x in info.get("loss_history", [])]
    return res


relann.session.Session.run = session_run

orig_inst = relann.relnn.RelNN.instantiate


def instantiate(self, *a, **k):
    r = orig_inst(self, *a, **k)
    for n, p in self.named_parameters():
        if n not in seen_params:
            seen_params.add(n)
            rec["params"].append([n, list(p.shape), p.detach().cpu().reshape(-1).tolist()])
    return r


relann.relnn.RelNN.instantiate = instantiate

orig_fwd = relann.relnn.RelNN.forward


def forward(self, *a, **k):
    r = orig_fwd(self, *a, **k)
    try:
        rec["forward"] = er_record(r)
        if rec["forward"] is not None:
            rec["forward"]["node"] = str(self.output_node)
    except Exception:  # a sub-module's forward; not a relation
        pass
    return r


relann.relnn.RelNN.forward = forward



def run_case(test_file, func_name, case_out):
    global out
    out = case_out
    os.makedirs(os.path.join(out, "db"), exist_ok=True)
    try:
        spec = importlib.util.spec_from_file_location("relann_test_under_replay", test_file)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        getattr(mod, func_name)()
    except BaseException as e:  # noqa: BLE001 (pytest.raises failures, assertion errors, …)
        msg = f"{type(e).__name__}: {e}".strip().splitlines()
        rec["error"] = msg[0][:300] if msg else type(e).__name__
        rec["traceback"] = traceback.format_exc()[-3000:]

    with open(os.path.join(out, "record.json"), "w") as f:
        json.dump(rec, f, default=str)


if sys.argv[2] == "--batch":
    for test_file, func_name, case_out in json.load(open(sys.argv[3])):
        pid = os.fork()
        if pid == 0:
            try:
                run_case(test_file, func_name, case_out)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
else:
    run_case(*sys.argv[2:5])
