"""Recomputes post-aggregation with PyTorch float64: aggregate per head tuple first (the
matches X(u; z), Edge(u, v) grouped by v), then apply the modules around the aggregation.

    $PYTHON verify.py
"""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc
import torch
from torch import nn
from safetensors.torch import load_file

t = nc.Transcript(__file__)
Q = "nrp query program.nrp --db db --relation "
L = " --load weights.safetensors"
d = lambda xs: torch.tensor(xs, dtype=torch.float64)
X = {int(r[0]): d([float(x) for x in r[1:]]) for r in t.db("X")}
Y = {int(r[0]): d([float(x) for x in r[1:]]) for r in t.db("Y")}
E = [(int(s), int(v)) for s, v in t.db("Edge")]
w = {k: v.double() for k, v in load_file("weights.safetensors").items()}


def linear(prefix, i, o):
    m = nn.Linear(i, o).double()
    m.weight.data, m.bias.data = w[prefix + ".weight"], w[prefix + ".bias"]
    return m


lin, in0, in1 = linear("Lin", 2, 2), linear("Inline.0", 2, 2), linear("Inline.1", 2, 1)
matches = {}
for u, v in E:
    if u in X:
        matches.setdefault(v, []).append(X[u])
relu = nn.ReLU()
with torch.no_grad():
    rel = lambda name, f: t.csv(Q + name + L, [((v,), f(torch.stack(zs)).tolist()) for v, zs in matches.items()], 1, len(f(torch.stack(next(iter(matches.values())))).tolist()))
    rel("After", lambda Z: relu(lin(Z.sum(0))))
    rel("Before", lambda Z: relu(lin(Z)).sum(0))
    rel("Mean", lambda Z: lin(Z.mean(0)))
    rel("Inline", lambda Z: in1(in0(Z).max(0).values))
    t.csv(Q + "Tagged" + L, [((v,), torch.cat([torch.stack(zs).sum(0), d([10.0 * v])]).tolist())
                            for v, zs in matches.items()], 1, 3)
    deg = {}
    for _, v in E:
        deg[v] = deg.get(v, 0) + 1
    t.csv(Q + "Degree" + L, [((v,), [n * 0.5 + 1]) for v, n in deg.items()], 1, 1)
    u = {}
    for k, z in list(X.items()) + list(Y.items()):
        u[k] = u.get(k, torch.zeros(2, dtype=torch.float64)) + z
    t.csv(Q + "U" + L, [((k,), (lin(s) * 2).tolist()) for k, s in u.items()], 1, 2)
t.done()
