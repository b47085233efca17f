"""Recomputes linear-modules with PyTorch (float64, weights read from the same files):
nn.Linear / nn.Sequential with the checkpoint's tensors, and, without --load, the modules
built after torch.manual_seed(SEED) in program order (Lin, LinNB, Mlp.0, Mlp.2, I.0..I.3).

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
rows = t.db("X")
ids = [int(r[0]) for r in rows]
X = torch.tensor([[float(c) for c in r[1:]] for r in rows], dtype=torch.float64)


def build(seed=None, state=None):
    if seed is not None:
        torch.manual_seed(seed)
    m = {
        "Lin": nn.Linear(3, 2), "LinNB": nn.Linear(3, 2, bias=False),
        "Mlp": nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)),
        "I": nn.ModuleList([nn.Linear(3, 2), nn.Linear(3, 2, bias=False), nn.Linear(3, 2), nn.Linear(2, 2)]),
    }
    root = nn.ModuleDict(m).double()
    if state is not None:
        cur = root.state_dict()
        for k, v in state.items():
            if k in cur:
                cur[k] = v.double()
        root.load_state_dict(cur)
    return root


def rel(cmd, y, tol=0.0):
    y = y.detach()
    t.csv(cmd, [((i,), [float(x) for x in row]) for i, row in zip(ids, y)], 1, y.shape[1], tol)


def I_of(m):
    i = m["I"]
    return i[0](X) - i[1](X) + i[3](i[2](X))


w = load_file("weights.safetensors")
# nrp's parameter names are exactly the state_dict keys of the equivalent torch modules.
assert set(w) == set(build().state_dict()), sorted(set(w) ^ set(build().state_dict()))
m = build(state=w)
rel(Q + "L --load weights.safetensors", m["Lin"](X))
rel(Q + "NB --load weights.safetensors", m["LinNB"](X))
rel(Q + "M --load weights.safetensors", m["Mlp"](X))
rel(Q + "Shared --load weights.safetensors", m["Mlp"](X) + m["Mlp"](X * 2))
rel(Q + "I --load weights.safetensors", I_of(m))
rel(Q + "L --load extra.safetensors", m["Lin"](X))
# partial.safetensors: Lin and Mlp loaded; I.* from seed 0 (all modules still constructed
# in order, so I.* get the same values as without any checkpoint).
rel(Q + "I --load partial.safetensors", I_of(build(seed=0)), tol=1e-12)
rel(Q + "M", build(seed=0)["Mlp"](X), tol=1e-12)
rel(Q + "I --seed 7", I_of(build(seed=7)), tol=1e-12)
t.done()
