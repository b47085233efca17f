#!/usr/bin/env python3
"""Replays RelaNN's single-op, smart-op, encode/decode and view/transpose/sqrt test programs
on nrp and compares the outputs numerically.

usage: single_ops.py CHECKOUT WORKDIR [--only SUBSTRING] [--rtol 1e-5] [--atol 1e-6]
env:   RELANN_PY  a Python that can import RelaNN's dependencies (torch, lark, pandas,
                  networkx, fastcore, pydantic); default: python3
       NRP_BIN    the nrp binary; default: target/release/nrp

Nothing of RelaNN is stored in this repository: the test functions are found in the checkout
at run time (every test function of the files below that builds a Session or parses a program
text), each is run once in RelaNN with its entry points wrapped (relann_side.py records the
program texts in the order they run, the database, the parameters at instantiation and the
?pred outputs), then the same texts run in nrp on the same database (WORKDIR/<case>/db, CSV)
with RelaNN's initial parameters (mapped to nrp's names, LANGUAGE.md "Parameter names",
written as WORKDIR/<case>/relann.safetensors and given to `nrp run --load`).

Outcome per case:
  agree            every ?pred relation has the same rows and embeddings (rtol/atol), or a fit-only
                   program's loss history agrees, or both reject the program
  differ           the outputs differ (first difference printed)
  nrp-unsupported  nrp refuses the program (first line of its error); RelaNN runs it
  relann-error     RelaNN fails outside of a pytest.raises the test expects
  not-compared     nothing to compare (no ?pred, no loss history), or the test replaced
                   RelaNN's database between runs
  harness-error    this script failed on the case
Besides RelaNN's tests, PROBES (programs of our own, not RelaNN's) run the same way, as
`probes::test_<name>`, on the small database PROBE_DB builds.
The table goes to stdout and WORKDIR/results.md; details to WORKDIR/results.json.
"""
import ast
import csv
import json
import os
import re
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TEST_FILES = [
    "tests/feature/test_e2e_single_ops.py",
    "tests/feature/test_smart_ops.py",
    "tests/feature/test_encode_decode_e2e.py",
    "tests/repro/test_view_transpose_sqrt_*.py",
]
# A small stand-in for the PyG `torch_scatter` wheels RelaNN's aggregations import (only the
# four functions RelaNN calls, dim 0, as torch_scatter defines them; empty groups give 0).
TORCH_SCATTER_SHIM = '''
import torch
def _size(index, dim_size):
    if dim_size is not None:
        return dim_size
    return int(index.max().item()) + 1 if index.numel() else 0
def _expand(index, src):
    return index.view(-1, *([1] * (src.dim() - 1))).expand_as(src)
def scatter_add(src, index, dim=0, out=None, dim_size=None):
    assert dim == 0
    res = torch.zeros((_size(index, dim_size),) + tuple(src.shape[1:]), dtype=src.dtype, device=src.device)
    return res.index_add(0, index, src)
def scatter_mean(src, index, dim=0, out=None, dim_size=None):
    s = scatter_add(src, index, 0, None, dim_size)
    c = scatter_add(torch.ones(src.shape[0], dtype=src.dtype, device=src.device), index, 0, None, s.shape[0])
    return s / c.clamp(min=1).view(-1, *([1] * (src.dim() - 1)))
def scatter_max(src, index, dim=0, out=None, dim_size=None):
    assert dim == 0
    n = _size(index, dim_size)
    res = torch.full((n,) + tuple(src.shape[1:]), float("-inf"), dtype=src.dtype, device=src.device)
    res = res.scatter_reduce(0, _expand(index, src), src, reduce="amax", include_self=True)
    res = torch.where(torch.isinf(res) & (res < 0), torch.zeros_like(res), res)
    return res, None
def scatter_softmax(src, index, dim=0, dim_size=None):
    assert dim == 0
    m, _ = scatter_max(src, index, 0, None, dim_size)
    e = (src - m[index]).exp()
    return e / scatter_add(e, index, 0, None, m.shape[0])[index]
'''

# Probes: small programs of our own (not RelaNN's text) for the shaped-embedding semantics
# RelaNN's smart ops define (relann/smart_ops.py) and a few single ops its tests do not run.
# (name, definitions, ?pred) over the database PROBE_DB builds: X<k>(a; k floats) for
# k in 1, 2, 3, 4, 6, 8; Pos4(a; 4 positive floats); Src(s; 4), Dst(t; 4), Edge(s, t; 1).
PROBES = [
    ("mul_3d_2d", "A(a; view(1, 1)(z1) * z2) :- X1(a; z1), X2(a; z2) .", "?pred Out(a; z) :- A(a; z) ."),
    ("mul_2d_3d", "A(a; z1 * view(3, 2)(z2)) :- X3(a; z1), X6(a; z2) .", "?pred Out(a; z) :- A(a; z) ."),
    ("div_3d_2d", "A(a; view(1, 1)(z1) / z2) :- X1(a; z1), Pos4(a; z2) .", "?pred Out(a; z) :- A(a; z) ."),
    ("add_3d_2d", "A(a; view(1, 1)(z1) + z2) :- X1(a; z1), X1(a; z2) .", "?pred Out(a; z) :- A(a; z) ."),
    ("sub_3d_2d", "A(a; view(1, 1)(z1) - z2) :- X1(a; z1), X1(a; z2) .", "?pred Out(a; z) :- A(a; z) ."),
    ("transpose_3d", "A(a; transpose(view(2, 3)(z))) :- X6(a; z) .", "?pred Out(a; z) :- A(a; z) ."),
    ("matmul_3d_2d", "A(a; view(2, 3)(z1) @ z2) :- X6(a; z1), X3(a; z2) .", "?pred Out(a; z) :- A(a; z) ."),
    ("matmul_2d_3d", "A(a; z1 @ view(3, 2)(z2)) :- X3(a; z1), X6(a; z2) .", "?pred Out(a; z) :- A(a; z) ."),
    ("matmul_3d_3d", "A(a; view(2, 3)(z1) @ view(3, 2)(z2)) :- X6(a; z1), X6(a; z2) .", "?pred Out(a; z) :- A(a; z) ."),
    ("matmul_dot", "A(a; z1 @ transpose(z2)) :- X4(a; z1), Pos4(a; z2) .", "?pred Out(a; z) :- A(a; z) ."),
    ("view_flatten", "A(a; view(6)(transpose(view(2, 3)(z)))) :- X6(a; z) .", "?pred Out(a; z) :- A(a; z) ."),
    ("linear_on_3d", "A(a; Linear(3, 2)(view(2, 3)(z))) :- X6(a; z) .", "?pred Out(a; z) :- A(a; z) ."),
    ("unsqueeze_matmul", "A(a; unsqueeze(z1, 1) @ transpose(z2)) :- X4(a; z1), X4(a; z2) .", "?pred Out(a; z) :- A(a; z) ."),
    ("sqrt_const", "A(a; z / sqrt(16)) :- X4(a; z) .", "?pred Out(a; z) :- A(a; z) ."),
    ("text_encoder_tokens", "Feat(a; [HashBucketTextEncoder(16, 4)(t)]) :- Docs(a, t, y; z) .", "?pred Out(a; z) :- Feat(a; z) ."),
    ("text_encoder_number", "Feat(a; [HashBucketTextEncoder(8, 3)(y)]) :- Docs(a, t, y; z) .", "?pred Out(a; z) :- Feat(a; z) ."),
    ("scalar_param", "A(a; z * Tensor(1)) :- X4(a; z) .", "?pred Out(a; z) :- A(a; z) ."),
    ("vector_param", "A(a; z * Tensor(4)) :- X4(a; z) .", "?pred Out(a; z) :- A(a; z) ."),
    ("exp_log", "A(a; log(exp(z) + 1)) :- X4(a; z) .", "?pred Out(a; z) :- A(a; z) ."),
    ("pow", "A(a; z ** 2) :- X4(a; z) .", "?pred Out(a; z) :- A(a; z) ."),
    ("tanh_leaky", "A(a; Concat(Tanh(z), LeakyReLU(z))) :- X4(a; z) .", "?pred Out(a; z) :- A(a; z) ."),
    ("softmax", "A(a; Softmax(-1)(z)) :- X4(a; z) .", "?pred Out(a; z) :- A(a; z) ."),
    ("agg_sum_3d", "A(t; sum(view(2, 2)(z))) :- Src(s; z), Edge(s, t; w) .", "?pred Out(t; z) :- A(t; z) ."),
    ("agg_mean", "A(t; mean(z)) :- Src(s; z), Edge(s, t; w) .", "?pred Out(t; z) :- A(t; z) ."),
    ("agg_max", "A(t; max(z)) :- Src(s; z), Edge(s, t; w) .", "?pred Out(t; z) :- A(t; z) ."),
    ("edge_softmax", "E1(s, t; exp(z1 @ transpose(z2))) :- Src(s; z1), Edge(s, t; w), Dst(t; z2) .\n"
                     "D1(t; sum(z)) :- E1(s, t; z) .\n"
                     "A(s, t; z1 / z2) :- E1(s, t; z1), D1(t; z2) .", "?pred Out(s, t; z) :- A(s, t; z) ."),
    ("att_mul_msg", "S1(s, t; z1 @ transpose(z2)) :- Src(s; z1), Edge(s, t; w), Dst(t; z2) .\n"
                    "A(t; sum(view(4)(z2 * z1))) :- S1(s, t; z1), Src(s; z2), Edge(s, t; w) .", "?pred Out(t; z) :- A(t; z) ."),
    ("heads_view_mul", "S1(s, t; view(2, 1)(Concat(z1 @ transpose(z2), z2 @ transpose(z1)))) :- Src(s; z1), Edge(s, t; w), Dst(t; z2) .\n"
                       "A(t; sum(view(4)(view(2, 2)(z2) * z1))) :- S1(s, t; z1), Src(s; z2), Edge(s, t; w) .", "?pred Out(t; z) :- A(t; z) ."),
    ("mul_3d_2d_rows", "A(a; view(2, 3)(z1) * z2) :- X6(a; z1), X2(a; z2) .", "?pred Out(a; z) :- A(a; z) ."),
    ("mul_3d_2d_cols", "A(a; view(2, 3)(z1) * z2) :- X6(a; z1), X3(a; z2) .", "?pred Out(a; z) :- A(a; z) ."),
    ("concat_3d", "A(a; Concat(view(2, 2)(z1), view(2, 2)(z2))) :- X4(a; z1), Pos4(a; z2) .", "?pred Out(a; z) :- A(a; z) ."),
    ("gate_scalar", "Gate = Tensor(1, 0.7) .\nA(a; Sigmoid(Gate) * z1 + (1 - Sigmoid(Gate)) * z2) :- X4(a; z1), Pos4(a; z2) .", "?pred Out(a; z) :- A(a; z) ."),
    ("layernorm", "A(a; LayerNorm(4)(z)) :- X4(a; z) .", "?pred Out(a; z) :- A(a; z) ."),
    ("layernorm_3d", "A(a; view(8)(LayerNorm(4)(view(2, 4)(z)))) :- X8(a; z) .", "?pred Out(a; z) :- A(a; z) ."),
    ("softmax_nodim", "A(a; Softmax()(z)) :- X4(a; z) .", "?pred Out(a; z) :- A(a; z) ."),
    ("logsoftmax_elu", "A(a; Concat(LogSoftmax(1)(z), ELU()(z))) :- X4(a; z) .", "?pred Out(a; z) :- A(a; z) ."),
    ("dropout_pred", "A(a; Dropout(0.5)(z)) :- X4(a; z) .", "?pred Out(a; z) :- A(a; z) ."),
    ("dropout_named_pred", "Drop = Dropout(0.5) .\nA(a; Drop(z)) :- X4(a; z) .", "?pred Out(a; z) :- A(a; z) ."),
    ("dropout_after_fit", "F(a; Dropout(0.5)(Linear(4, 2)(z))) :- X4(a; z) .",
     "?fit <epochs=1, lr=0.1> Loss(; MSELoss()(z1, z2)) :- F(a; z1), X2(a; z2) .",
     "?pred Out(a; z) :- F(a; z) ."),
    ("agg_max_3d", "A(t; max(view(2, 2)(z))) :- Src(s; z), Edge(s, t; w) .", "?pred Out(t; z) :- A(t; z) ."),
    ("agg_weighted", "A(t; sum(z * w)) :- Src(s; z), Edge(s, t; w) .", "?pred Out(t; z) :- A(t; z) ."),
    ("zero_ary_mean", "P(a; ArgMax()(z)) :- X4(a; z) .\nQ(a; ArgMax()(z)) :- Pos4(a; z) .",
     "?pred Acc(; mean((z1 == z2) * 1.0)) :- P(a; z1), Q(a; z2) ."),
    ("fit_mse_wd", "F(a; Linear(4, 2)(z)) :- X4(a; z) .",
     "?fit <epochs=4, lr=0.1, weight_decay=0.1> Loss(; MSELoss()(z1, z2)) :- F(a; z1), X2(a; z2) .",
     "?pred Out(a; z) :- F(a; z) ."),
    ("fit_ce_hidden", "H(a; ReLU(Linear(4, 8)(z))) :- X4(a; z) .\nF(a; Linear(8, 3)(z)) :- H(a; z) .",
     "?fit <epochs=5, lr=0.05> Loss(; CrossEntropyLoss()(z1, y)) :- F(a; z1), Y3(a; y) .",
     "?pred Out(a; z) :- F(a; z) ."),
    ("fit_bce", "F(a; Linear(4, 1)(z)) :- X4(a; z) .",
     "?fit <epochs=4, lr=0.1> Loss(; BCEWithLogitsLoss()(z1, y)) :- F(a; z1), B1(a; y) .",
     "?pred Out(a; z) :- F(a; z) ."),
    ("fit_l1", "F(a; Linear(4, 2)(z)) :- X4(a; z) .",
     "?fit <epochs=4, lr=0.1> Loss(; L1Loss()(z1, z2)) :- F(a; z1), X2(a; z2) .",
     "?pred Out(a; z) :- F(a; z) ."),
    ("fit_gate_param", "Gate = Tensor(1, 0.3) .\nF(a; Sigmoid(Gate) * Linear(4, 2)(z)) :- X4(a; z) .",
     "?fit <epochs=4, lr=0.1> Loss(; MSELoss()(z1, z2)) :- F(a; z1), X2(a; z2) .",
     "?pred Out(a; z) :- F(a; z) ."),
    ("argmax_vs_labels", "P(a; ArgMax()(z)) :- X3(a; z) .",
     "?pred Acc(; mean((z1 == z2) * 1.0)) :- P(a; z1), Y3(a; z2) ."),
    ("argmax_ties", "A(a; ArgMax()(z)) :- Ties(a; z) .", "?pred Out(a; z) :- A(a; z) ."),
    ("named_const_sqrt", "dh = 16 .\nA(a; z / sqrt(dh)) :- X4(a; z) .", "?pred Out(a; z) :- A(a; z) ."),
    ("const_div_dims", "h = 4 .\nA(a; Linear(h, h / 2)(z)) :- X4(a; z) .", "?pred Out(a; z) :- A(a; z) ."),
    ("agg_mean_3d", "A(t; mean(view(2, 2)(z))) :- Src(s; z), Edge(s, t; w) .", "?pred Out(t; z) :- A(t; z) ."),
    ("mean_zero_ary", "", "?pred M(; mean(z)) :- X4(a; z) ."),
    ("two_rules_union", "A(a; z) :- X4(a; z) .\nA(a; z) :- Pos4(a; z) .", "?pred Out(a; z) :- A(a; z) ."),
    ("fit_tiny_grad", "F(a; Linear(4, 2)(z * 0.000000001)) :- X4(a; z) .",
     "?fit <epochs=4, lr=0.1> Loss(; MSELoss()(z1, z2)) :- F(a; z1), X2(a; z2) .",
     "?pred Out(a; z) :- F(a; z) ."),
    ("fit_small_grad_wd", "F(a; Linear(4, 2)(z * 0.00001)) :- X4(a; z) .",
     "?fit <epochs=4, lr=0.1, weight_decay=0.01> Loss(; MSELoss()(z1, z2)) :- F(a; z1), X2(a; z2) .",
     "?pred Out(a; z) :- F(a; z) ."),
    ("fit_gate_twice", "Gate = Tensor(1, 0.3) .\nF(a; Sigmoid(Gate) * Linear(4, 2)(z1) + (1 - Sigmoid(Gate)) * Linear(4, 2)(z2)) :- X4(a; z1), Pos4(a; z2) .",
     "?fit <epochs=4, lr=0.1> Loss(; MSELoss()(z1, z2)) :- F(a; z1), X2(a; z2) .",
     "?pred Out(a; z) :- F(a; z) ."),
]
PROBE_DB = '''
import pandas as pd, torch
from relann.session import Session
from relann.torch_utils import full_seed


def _db():
    g = torch.Generator().manual_seed(0)
    n = 6
    db = {f"X{k}": (pd.DataFrame({"a": range(n)}), torch.randn(n, k, generator=g)) for k in (1, 2, 3, 4, 6, 8)}
    db["Pos4"] = (pd.DataFrame({"a": range(n)}), torch.rand(n, 4, generator=g) + 0.5)
    db["Src"] = (pd.DataFrame({"s": range(4)}), torch.randn(4, 4, generator=g))
    db["Dst"] = (pd.DataFrame({"t": range(3)}), torch.randn(3, 4, generator=g))
    e = [(0, 0), (1, 1), (2, 2), (3, 0), (0, 1), (1, 2)]
    db["Edge"] = (pd.DataFrame({"s": [x for x, _ in e], "t": [y for _, y in e]}), torch.rand(len(e), 1, generator=g) + 0.5)
    db["Y3"] = (pd.DataFrame({"a": range(n)}), torch.tensor([[0], [1], [2], [2], [1], [0]]))
    db["Ties"] = (pd.DataFrame({"a": range(3)}), torch.tensor([[1.0, 1.0, 0.0], [0.0, 2.0, 2.0], [3.0, 3.0, 3.0]]))
    db["B1"] = (pd.DataFrame({"a": range(n)}), torch.tensor([[0.0], [1.0], [1.0], [0.0], [1.0], [0.0]]))
    texts = ["graph neural graph", "", "  ", "Attention is  all", "x", "graph"]
    db["Docs"] = (pd.DataFrame({"a": range(n), "t": texts, "y": [2019, 2018, 7, 2019, 0, 1]}), torch.zeros(n, 1))
    return db
'''


def write_probes(work):
    d = os.path.join(work, "_probes")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "test_probes.py")
    with open(path, "w") as f:
        f.write(PROBE_DB)
        for name, *texts in PROBES:
            f.write(f"\n\ndef test_{name}():\n    full_seed(0)\n    session = Session(db=_db())\n")
            for t in texts:
                if t:
                        f.write(f"    session.run({t!r})\n")
    return path


def find_cases(checkout, only, probes=None):
    import glob
    cases = []
    paths = [p for pattern in TEST_FILES for p in sorted(glob.glob(os.path.join(checkout, pattern)))]
    for path in paths + ([probes] if probes else []):
        if True:
            tree = ast.parse(open(path).read())
            src = open(path).read()
            for node in tree.body:
                if not isinstance(node, ast.FunctionDef):
                    continue
                if not (node.name.startswith("test_") or node.name == "main"):
                    continue
                body = ast.get_source_segment(src, node) or ""
                if "Session(" not in body and "parse_and_transform_str(" not in body:
                    continue  # a unit test of a Python function, not a program
                short = os.path.basename(path)[:-3].replace("test_", "")
                cid = f"{short}::{node.name}"
                if only and only not in cid:
                    continue
                cases.append((cid, path, node.name))
    return cases


def statements(text):
    """Program statements (comments and #lang lines dropped), each ending with ' .'"""
    lines = [ln for ln in text.splitlines() if not ln.strip().startswith(("#", "%"))]
    body = "\n".join(lines)
    return [s.strip() for s in re.split(r"\.\s*(?:\n|$)", body) if s.strip()]


PARAM_CTORS = {"Linear", "Tensor", "Embedding", "Bilinear", "LayerNorm", "Conv1d", "GRU", "LSTM",
               "HashBucketTextEncoder", "HashBucket"}


def nrp_module_order(program, nrp_names):
    """{head: [nrp module prefix, …]} in the order the head's expression names its modules
    with parameters: named modules (called, or used as a value like a named `Tensor`) by
    name, inline ones by the prefixes `<Head>.<n>` nrp reports, in the order of n (nrp
    numbers every inline module, parameter-free ones too)."""
    stmts = statements(program)
    named = {}
    for s in stmts:
        m = re.match(r"^([A-Za-z_]\w*)\s*=\s*([A-Za-z_]\w*)\s*\(", s)
        if m and m.group(2) in PARAM_CTORS | set(named):
            named[m.group(1)] = True
    inline = {}
    for n in nrp_names:
        m = re.match(r"^([A-Za-z_]\w*)\.(\d+)(\.|$)", n)
        if m:
            inline.setdefault(m.group(1), set()).add(int(m.group(2)))
    order = {}
    inline_count = {}
    for s in stmts:
        s2 = re.sub(r"^\?(fit|pred)\s*(<[^>]*>)?\s*", "", s)
        m = re.match(r"^([A-Za-z_]\w*)\s*\(", s2)
        if not m or ":-" not in s2:
            continue
        head = m.group(1)
        lhs = s2.split(":-")[0]
        idx = sorted(inline.get(head, ()))
        for tok in re.finditer(r"\b([A-Za-z_]\w*)\b(\s*\()?", lhs[m.end():]):
            name = tok.group(1)
            if name in named:
                order.setdefault(head, []).append(name)
            elif name in PARAM_CTORS and tok.group(2):
                k = inline_count.get(head, 0)
                inline_count[head] = k + 1
                order.setdefault(head, []).append(f"{head}.{idx[k] if k < len(idx) else k}")
    return order


def relann_modules(params):
    """{head: [(module key, {leaf: (shape, values)}, op), …]} from RelaNN's parameter names
    `_operators.op_0004__transformation_ATT.transformation.left._module.weight`. A head's
    modules seen again under another operator (a ?pred after a ?fit builds a new RelNN, with
    trained values) are skipped: the first instantiation holds the initial values."""
    out = {}
    first_op = {}
    for name, shape, values in params:
        m = re.search(r"__transformation_([A-Za-z_]\w*?)\.transformation(.*)\.([A-Za-z_]+)$", name)
        if not m:
            m = re.search(r"__transformation_([A-Za-z_]\w*?)\.(.*)\.([A-Za-z_]+)$", name)
            if not m:
                continue
        head, key, leaf = m.group(1), m.group(2), m.group(3)
        # HashBucketTextEncoder's table `….embed.weight`: nrp names it `<prefix>.embed.weight`.
        if key.endswith(".embed"):
            key, leaf = key[: -len(".embed")], "embed." + leaf
        op = name.split("__transformation_")[0]
        if first_op.setdefault(head, op) != op:
            continue
        mods = out.setdefault(head, [])
        if not mods or mods[-1][0] != key:
            mods.append((key, {}, op))
        mods[-1][1].setdefault(leaf, (shape, values))
    # An encoder in brackets (`….input.encoder`) reads a content column: it is evaluated
    # before the module that reads its output, and nrp numbers modules innermost first.
    for head, mods in out.items():
        mods.sort(key=lambda m: 0 if re.search(r"\.encoder(\.|$)", m[0]) else 1)
    return out


def write_safetensors(path, tensors):
    hdr, data = {}, b""
    for name in sorted(tensors):
        shape, vals = tensors[name]
        b = struct.pack("<%df" % len(vals), *vals)
        hdr[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def run_nrp(nrp, prog, db, out, load):
    os.makedirs(out, exist_ok=True)
    cmd = [nrp, "run", prog, "--db", db, "--out", out, "--load", load, "--metrics",
           os.path.join(out, "metrics.jsonl"), "--threads", "1"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


def first_error(stderr):
    for ln in stderr.splitlines():
        if "error" in ln:
            return re.sub(r"^\S*/program\.relnn:", "program.relnn:", ln.strip())
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    return lines[0].strip() if lines else "(no message)"


def as_key(v):
    try:
        return (0, float(v), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(v))


def close(a, b, rtol, atol):
    return abs(a - b) <= atol + rtol * abs(b)


def decoded_positions(path):
    """The content positions of decode brackets in the `?pred` head of the relation whose
    CSV is `path` (nrp keeps a decoded column where its bracket is; RelaNN puts decoded
    columns after the other head terms)."""
    name = os.path.splitext(os.path.basename(path))[0]
    prog = os.path.join(os.path.dirname(os.path.dirname(path)), "program.relnn")
    try:
        text = open(prog).read()
    except OSError:
        return []
    m = re.search(r"\?pred\s+" + re.escape(name) + r"\s*\(", text)
    if not m:
        return []
    depth, item, items = 0, "", []
    for ch in text[m.end():]:
        if depth == 0 and ch in ",;)":
            items.append(item.strip())
            item = ""
            if ch != ",":
                break
            continue
        depth += ch in "([" and 1 or (-1 if ch in ")]" else 0)
        item += ch
    return [i for i, t in enumerate(items) if t.startswith("[")]


def compare_relation(rel, path, rtol, atol):
    """None when they agree, else the first difference."""
    with open(path) as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    nc = sum(1 for h in header if not re.match(r"^e\d+$", h))
    # RelaNN's order of content columns: decoded ones last (LANGUAGE.md keeps them in place).
    dec = [i for i in decoded_positions(path) if i < nc]
    if dec:
        order = [i for i in range(nc) if i not in dec] + dec
        rows = [[r[i] for i in order] + r[nc:] for r in rows]
        header = [header[i] for i in order] + header[nc:]
    nrp_rows = sorted(([as_key(v) for v in r[:nc]], [float(v) for v in r[nc:]]) for r in rows)
    rel_rows = sorted(([as_key(v) for v in c], [float(x) for x in e])
                      for c, e in zip(rel["content"], rel["emb"] or [[]] * len(rel["content"])))
    if len(nrp_rows) != len(rel_rows):
        return f"{len(rel_rows)} rows in RelaNN, {len(nrp_rows)} in nrp"
    if nc != len(rel["content_columns"]):
        return f"content columns: RelaNN {rel['content_columns']}, nrp {header[:nc]}"
    worst = 0.0
    for (rc, re_), (nc_, ne) in zip(rel_rows, nrp_rows):
        if [k[:1] + (round(k[1], 5),) + k[2:] for k in rc] != [k[:1] + (round(k[1], 5),) + k[2:] for k in nc_]:
            return f"content row {[k[1] if k[0] == 0 else k[2] for k in rc]} vs {[k[1] if k[0] == 0 else k[2] for k in nc_]}"
        if len(re_) != len(ne):
            return f"embedding width {len(re_)} (shape {rel['shape']}) in RelaNN, {len(ne)} in nrp"
        for a, b in zip(ne, re_):
            if not close(a, b, rtol, atol):
                return (f"row {[k[1] if k[0] == 0 else k[2] for k in rc]}: RelaNN {fmt(re_)} nrp {fmt(ne)}")
            worst = max(worst, abs(a - b))
    return None


def fmt(v, n=4):
    s = ", ".join(f"{x:.5g}" for x in v[:n])
    return f"[{s}{', …' if len(v) > n else ''}]"


def case_dir(work, cid):
    return os.path.join(work, re.sub(r"[^A-Za-z0-9_.-]", "_", cid))


def run_relann(cases, checkout, work, relann_py):
    """Runs every case in RelaNN (one process importing RelaNN once, a fork per case)."""
    shim = os.path.join(work, "_shim")
    os.makedirs(os.path.join(shim, "torch_scatter"), exist_ok=True)
    with open(os.path.join(shim, "torch_scatter", "__init__.py"), "w") as f:
        f.write(TORCH_SCATTER_SHIM)
    batch = []
    for cid, path, func in cases:
        d = case_dir(work, cid)
        os.makedirs(d, exist_ok=True)
        if os.path.exists(os.path.join(d, "record.json")):
            os.remove(os.path.join(d, "record.json"))
        batch.append([path, func, d])
    with open(os.path.join(work, "cases.json"), "w") as f:
        json.dump(batch, f)
    env = dict(os.environ, PYTHONPATH=shim, OMP_NUM_THREADS="1")
    p = subprocess.run([relann_py, os.path.join(HERE, "relann_side.py"), checkout, "--batch",
                        os.path.join(work, "cases.json")], capture_output=True, text=True, timeout=3600, env=env)
    with open(os.path.join(work, "relann.log"), "w") as f:
        f.write(p.stdout + p.stderr)


def replay(case, checkout, work, relann_py, nrp, rtol, atol):
    cid, path, func = case
    d = case_dir(work, cid)
    res = {"id": cid, "construct": "", "relann": "", "nrp": "", "outcome": "", "note": ""}
    try:
        rec = json.load(open(os.path.join(d, "record.json")))
    except FileNotFoundError:
        res.update(outcome="relann-error", relann=f"no record (see {work}/relann.log)")
        return res
    progs = rec["programs"]
    program = "\n".join("\n".join(ln for ln in t.splitlines() if not ln.strip().startswith("#lang"))
                        for t in progs)
    preds = [s for s in statements(program) if s.startswith("?pred")]
    constructs = set()
    for s in statements(program):
        for tok in re.findall(r"\[|@|\b[A-Za-z_]\w*(?=\s*\()|[*+/-]", s.split(":-")[0]):
            if tok not in ("?pred", "?fit"):
                constructs.add({"[": "[…]"}.get(tok, tok))
    names = set(rec.get("dbs") or {})
    for st in statements(program):
        m = re.match(r"^(?:\?(?:fit|pred)\s*(?:<[^>]*>)?\s*)?([A-Za-z_]\w*)", st)
        if m:
            names.add(m.group(1))
    res["construct"] = " ".join(sorted(constructs - names))
    # RelaNN raised inside the test (an expected pytest.raises) when a run returned nothing
    relann_rejected = len(rec["results"]) < len([t for t in progs if t is not None]) and rec["error"] is None
    if rec["error"] is not None:
        res["relann"] = "error: " + rec["error"]
    # the Engine-level repro has no ?pred: read the relation its forward returned
    extra = []
    if not preds and rec["forward"] is not None and "?fit" not in program:
        heads = [re.match(r"^([A-Za-z_]\w*)", s).group(1) for s in statements(program)
                 if ":-" in s and re.match(r"^[A-Za-z_]", s)]
        head = heads[-1]
        cols = ", ".join(rec["forward"]["content_columns"])
        extra.append((f"HarnessOut_{head}", rec["forward"]))
        program += f"\n?pred HarnessOut_{head}({cols}; z) :- {head}({cols}; z) .\n"
    prog_path = os.path.join(d, "program.relnn")
    with open(prog_path, "w") as f:
        f.write(program)
    db = os.path.join(d, "db")
    empty = os.path.join(d, "empty.safetensors")
    write_safetensors(empty, {})
    rc, out, err = run_nrp(nrp, prog_path, db, os.path.join(d, "nrp0"), empty)
    if rc != 0:
        res["nrp"] = first_error(err)
        if relann_rejected:
            res.update(outcome="agree", relann="rejects", note="both reject")
        elif rec["error"] is not None:
            res.update(outcome="agree", note="both reject (RelaNN fails at run time)")
        else:
            res["outcome"] = "nrp-unsupported"
        return res
    if relann_rejected:
        res.update(outcome="differ", relann="rejects", nrp="runs",
                   note="RelaNN rejects the program (the test expects an error); nrp runs it")
        return res
    if rec["error"] is not None:
        res["outcome"] = "relann-error"
        return res
    # map RelaNN's initial parameters onto nrp's names
    names = []
    m = re.search(r"initialised from --seed \d+: (.*)", err)
    if m:
        names = [n.strip() for n in m.group(1).split(",") if " more" not in n]
    order = nrp_module_order(program, names)
    rmods = relann_modules(rec["params"])
    tensors, unmapped = {}, []
    for head, mods in rmods.items():
        prefixes = order.get(head, [])
        for i, (key, leaves, _op) in enumerate(mods):
            if i >= len(prefixes):
                unmapped.append(f"{head}{key}")
                continue
            for leaf, (shape, vals) in leaves.items():
                nm = f"{prefixes[i]}.{leaf}"
                if nm not in names and prefixes[i] in names:
                    nm = prefixes[i]
                if nm in names and nm not in tensors:
                    tensors[nm] = (shape, vals)
                elif nm not in tensors:
                    unmapped.append(nm)
    missing = [n for n in names if n not in tensors]
    if missing or unmapped:
        res["note"] = f"weights not mapped: nrp {missing} RelaNN {unmapped}"
    load = os.path.join(d, "relann.safetensors")
    write_safetensors(load, tensors)
    rc, out, err = run_nrp(nrp, prog_path, db, os.path.join(d, "nrp"), load)
    if rc != 0:
        res.update(outcome="nrp-unsupported", nrp=first_error(err))
        return res
    # per-fact shapes as nrp infers them (`nrp check`: dim column, "4 (2, 2)" or "4")
    shapes = {}
    chk = subprocess.run([nrp, "check", prog_path, "--db", db], capture_output=True, text=True, timeout=120)
    for ln in chk.stdout.splitlines():
        m = re.match(r"^\s+([A-Za-z_]\w*)\s+(derived|input)\s+\d+\s+(\d+)(?:\s+\(([\d, ]+)\))?", ln)
        if m:
            shapes[m.group(1)] = [int(x) for x in m.group(4).split(",")] if m.group(4) else [int(m.group(3))]
    # compare every ?pred relation RelaNN returned
    compared, diffs = 0, []
    pred_results = [r for r in rec["results"] if r is not None]
    pred_names = [re.match(r"\?pred\s*(?:<[^>]*>)?\s*([A-Za-z_]\w*)", s).group(1) for s in preds]
    pairs = list(zip(pred_names, pred_results)) + extra
    for name, rel in pairs:
        path = os.path.join(d, "nrp", f"{name}.csv")
        m0 = re.search(rf"^{name} = (.+)$", out, re.M)
        if m0 and not rel["content_columns"]:
            compared += 1
            a = [float(x) for x in m0.group(1).strip("[] ").split(",") if x.strip()]
            b = [float(x) for row in rel["emb"] for x in row]
            if len(a) != len(b) or not all(close(x, y, rtol, atol) for x, y in zip(a, b)):
                diffs.append(f"{name}: RelaNN {fmt(b)} nrp {fmt(a)}")
            continue
        if not os.path.exists(path):
            diffs.append(f"{name}: nrp wrote no {name}.csv")
            continue
        diff = compare_relation(rel, path, rtol, atol)
        compared += 1
        if not diff and rel["shape"] and len(rel["shape"]) > 1 and name in shapes:
            rshape = rel["shape"][1:]
            if rshape != shapes[name] and not (rshape == [] and shapes[name] == [1]):
                diff = f"per-fact shape {rshape} in RelaNN, {shapes[name]} in nrp (values agree)"
        if diff:
            diffs.append(f"{name}: {diff}")
    losses = {k: v for k, v in rec["losses"].items() if v}
    if losses:
        nrp_loss = []
        mpath = os.path.join(d, "nrp", "metrics.jsonl")
        if os.path.exists(mpath):
            for ln in open(mpath):
                try:
                    j = json.loads(ln)
                except ValueError:
                    continue
                if "loss" in j:
                    nrp_loss.append(float(j["loss"]))
        rel_loss = [x for v in losses.values() for x in v]
        compared += 1
        if len(nrp_loss) != len(rel_loss) or not all(close(a, b, 1e-4, 1e-6) for a, b in zip(nrp_loss, rel_loss)):
            diffs.append(f"loss: RelaNN {fmt(rel_loss, 5)} nrp {fmt(nrp_loss, 5)}")
        res["relann"] = f"loss {fmt(rel_loss, 3)}"
        res["nrp"] = f"loss {fmt(nrp_loss, 3)}"
    if pairs:
        rel0 = pairs[-1][1]
        res["relann"] = (res["relann"] + " " if losses else "") + f"{pairs[-1][0]} shape {rel0['shape']} {fmt(rel0['emb'][0] if rel0['emb'] else [])}"
        if not diffs:
            res["nrp"] = (res["nrp"] + " " if losses else "") + "same"
    if len(set(rec.get("db_ids", []))) > 1:
        res.update(outcome="not-compared", note="the test replaces RelaNN's database between runs; nrp ran on the first one"
                   + (f"; {'; '.join(diffs)}" if diffs else ""))
    elif compared == 0:
        res["outcome"] = "not-compared"
    elif diffs:
        res.update(outcome="differ", nrp="; ".join(diffs)[:400])
    else:
        res["outcome"] = "agree"
    return res


def main():
    args = sys.argv[1:]
    opts = {"--only": "", "--rtol": "1e-5", "--atol": "1e-6"}
    pos = []
    i = 0
    while i < len(args):
        if args[i] in opts:
            opts[args[i]] = args[i + 1]
            i += 2
        else:
            pos.append(args[i])
            i += 1
    if len(pos) != 2:
        sys.exit(__doc__)
    checkout, work = os.path.abspath(pos[0]), os.path.abspath(pos[1])
    os.makedirs(work, exist_ok=True)
    relann_py = os.environ.get("RELANN_PY", "python3")
    nrp = os.environ.get("NRP_BIN", os.path.join(HERE, "../../target/release/nrp"))
    rows = []
    cases = find_cases(checkout, opts["--only"], write_probes(work))
    run_relann(cases, checkout, work, relann_py)
    for case in cases:
        try:
            r = replay(case, checkout, work, relann_py, nrp, float(opts["--rtol"]), float(opts["--atol"]))
        except Exception as e:  # noqa: BLE001 (a harness bug must not stop the other cases)
            r = {"id": case[0], "construct": "", "relann": "", "nrp": "", "outcome": "harness-error",
                 "note": f"{type(e).__name__}: {e}"}
        rows.append(r)
        print(f"{r['outcome']:16} {r['id']}", file=sys.stderr, flush=True)
    counts = {}
    for r in rows:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    lines = ["| program | construct | RelaNN | nrp | outcome |", "|---|---|---|---|---|"]
    for r in rows:
        cell = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
        nrp_cell = r["nrp"] + (f" ({r['note']})" if r["note"] else "")
        lines.append(f"| {cell(r['id'])} | {cell(r['construct'])} | {cell(r['relann'])} | {cell(nrp_cell)} | {r['outcome']} |")
    lines.append("")
    lines.append(", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + f" of {len(rows)}")
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(work, "results.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(work, "results.json"), "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
