"""Recomputes encode-onehot-embedding with torch.nn.functional.one_hot and nn.Embedding
(weights from weights.safetensors), float64.

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
F = [(int(i), int(d), float(v)) for i, d, v in t.db("F")]
N = [(int(i), int(float(c)), float(y)) for i, c, y in t.db("N")]
oh = lambda k, n: nn.functional.one_hot(torch.tensor(k), n).double()

X = {}
for i, d, v in F:
    X[i] = X.get(i, torch.zeros(4, dtype=torch.float64)) + v * oh(d, 4)
t.csv(Q + "X", [((i,), x.tolist()) for i, x in X.items()], 1, 4)
t.csv(Q + "Enc", [((i,), [float(c), y]) for i, c, y in N], 1, 2)
t.csv(Q + "EncConst", [((i,), [float(i), 1.5, 2.0, -3.0]) for i, _, _ in N], 1, 4)
t.csv(Q + "Hot", [((i,), oh(c, 3).tolist()) for i, c, _ in N], 1, 3)
t.csv(Q + "HotConst", [((i,), oh(2, 3).tolist()) for i, _, _ in N], 1, 3)
emb = nn.Embedding(3, 2).double()
emb.weight.data = load_file("weights.safetensors")["Emb.weight"].double()
E = lambda k: emb(torch.tensor(k)).detach()
t.csv(Q + "Looked --load weights.safetensors", [((i,), E(c).tolist()) for i, c, _ in N], 1, 2)
t.csv(Q + "LookedTwice --load weights.safetensors", [((i,), (E(c) + E(1)).tolist()) for i, c, _ in N], 1, 2)
t.done()
