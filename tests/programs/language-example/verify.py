"""Recomputes language-example with PyTorch float64: the GCN-like pipeline relation by
relation (dicts keyed by node id), modules built with the checkpoint's tensors.

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
w = {k: v.double() for k, v in load_file("weights.safetensors").items()}


def linear(prefix, i, o):
    m = nn.Linear(i, o).double()
    m.weight.data, m.bias.data = w[prefix + ".weight"], w[prefix + ".bias"]
    return m


lin1, lin2 = linear("Lin1", 5, 4), linear("Lin2", 4, 3)
mlp = nn.Sequential(linear("Mlp.0", 3, 4), nn.ReLU(), linear("Mlp.2", 4, 1))
assert set(w) == {"Mlp." + k for k in mlp.state_dict()} | {"Lin1.weight", "Lin1.bias", "Lin2.weight", "Lin2.bias"}


def add(acc, k, v):
    acc[k] = acc.get(k, torch.zeros_like(v)) + v


def rel(name, facts, tol=0.0):
    facts = {k: v for k, v in facts.items()}
    dim = len(next(iter(facts.values())))
    t.csv(Q + name + L, [((k,) if not isinstance(k, tuple) else k, [float(x) for x in v]) for k, v in facts.items()], 1, dim, tol)


with torch.no_grad():
    X = {}
    for i, dim, value in t.db("Feature"):
        add(X, int(i), float(value) * nn.functional.one_hot(torch.tensor(int(dim)), 5).double())
    H = {k: torch.relu(lin1(v)) for k, v in X.items()}
    M = {}
    for s, dst, wt in t.db("Edge"):
        if int(s) in H:
            add(M, int(dst), H[int(s)] * float(wt))
    U = {}
    for k, v in list(H.items()) + list(M.items()):
        add(U, k, v)
    Qt = [(int(a), int(b), d([float(z0), float(z1)])) for a, b, z0, z1 in t.db("Q")]
    R = [(int(b), c) for b, c in t.db("R")]
    P = {}
    for a, b, z in Qt:
        for b2, c in R:
            if b == b2 and nc.sort_key((a,)) != nc.sort_key((c,)) and c == "x":
                add(P, a, z)
    Out = {k: lin2(v) for k, v in U.items()}
    Score = {k: mlp(v) for k, v in Out.items()}
    node = [(int(i), int(y), s) for i, y, s in t.db("Node")]
    Train = {i: d([float(y)]) for i, y, s in node if s == "train"}
    Test = {i: d([float(y)]) for i, y, s in node if s == "test"}
    ids = [i for i in Out if i in Train]
    loss = nn.CrossEntropyLoss()(torch.stack([Out[i] for i in ids]), torch.tensor([int(Train[i][0]) for i in ids]))
    Pred = {k: v.argmax().double().reshape(1) for k, v in Out.items()}
    acc = torch.stack([(Pred[i] == Test[i]).double() * 1.0 for i in Pred if i in Test]).mean(0)
    for name, facts in [("X", X), ("H", H), ("M", M), ("U", U), ("P", P), ("Out", Out), ("Score", Score),
                        ("Train", Train), ("Pred", Pred)]:
        rel(name, facts)
    t.csv(Q + "Loss" + L, [((), [float(loss)])], 0, 1, 1e-15)
    t.csv(Q + "Acc" + L, [((), [float(acc)])], 0, 1)
t.done()
