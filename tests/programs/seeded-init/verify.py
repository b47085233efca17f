"""Recomputes seeded-init with PyTorch: torch.manual_seed(SEED), then the modules of
program.nrp constructed in text order (Embedding, the Sequential of Enc, Lin, then I's
inline modules innermost first), evaluated in float64 (Dropout in eval mode).

    $PYTHON verify.py
"""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc
import torch
from torch import nn

t = nc.Transcript(__file__)
Q = "nrp query program.nrp --db db --relation "
rows = t.db("X")
ids = [int(r[0]) for r in rows]
X = torch.tensor([[float(c) for c in r[1:]] for r in rows], dtype=torch.float64)


def build(seed):
    torch.manual_seed(seed)
    emb = nn.Embedding(3, 2)
    enc = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Dropout(0.5))
    lin = nn.Linear(4, 2, bias=False)
    i = nn.Sequential(nn.Linear(3, 2), nn.Tanh(), nn.Linear(2, 1))
    ms = [m.double().eval() for m in (emb, enc, lin, i)]
    names = {f"Enc.{k}" for k in enc.state_dict()} | {f"I.{k}" for k in i.state_dict()}
    assert names == {"Enc.0.weight", "Enc.0.bias", "Enc.1.weight", "Enc.1.bias",
                     "I.0.weight", "I.0.bias", "I.2.weight", "I.2.bias"}
    return ms


def rel(cmd, y):
    y = y.detach()
    t.csv(cmd, [((k,), [float(v) for v in row]) for k, row in zip(ids, y)], 1, y.shape[1], 1e-12)


emb, enc, lin, inl = build(0)
rel(Q + "E", emb(torch.tensor(ids)))
emb, enc, lin, inl = build(3)
rel(Q + "H --seed 3", lin(enc(X)))
rel(Q + "I --seed 3", inl(X))
t.done()
