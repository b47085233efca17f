"""Recomputes losses with torch.nn losses (reduction='mean') over the (matches, dim)
tensors of each rule's matches, float64.

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
d = lambda rows: torch.tensor(rows, dtype=torch.float64)
logit = {int(r[0]): [float(x) for x in r[1:]] for r in t.db("Logit")}
label = {int(i): int(y) for i, y in t.db("Label")}
target = {int(r[0]): [float(x) for x in r[1:]] for r in t.db("Target")}
split = [(int(i), s) for i, s in t.db("Split")]
ids = sorted(logit)

P, Y, T = d([logit[i] for i in ids]), torch.tensor([label[i] for i in ids]), d([target[i] for i in ids])
one = lambda x: [((), [float(x)])]
ce = nn.CrossEntropyLoss()
t.csv(Q + "CE", one(ce(P, Y)), 0, 1, 1e-15)
t.csv(Q + "CEEncoded", one(ce(P, Y)), 0, 1, 1e-15)
t.csv(Q + "MSE", one(nn.MSELoss()(P, T)), 0, 1, 1e-15)
t.csv(Q + "L1", one(nn.L1Loss()(P, T)), 0, 1, 1e-15)
t.csv(Q + "BCE", one(nn.BCEWithLogitsLoss()(P, T)), 0, 1, 1e-15)
train = [i for i, s in split if s == "train"]        # one row per match
t.csv(Q + "Train", one(ce(d([logit[i] for i in train]), torch.tensor([label[i] for i in train]))), 0, 1, 1e-15)
every = [i for i, _ in split]                          # id 2 twice
t.csv(Q + "TrainAll", one(ce(d([logit[i] for i in every]), torch.tensor([label[i] for i in every]))), 0, 1, 1e-15)

lin = nn.Linear(3, 3).double()
w = load_file("weights.safetensors")
lin.weight.data, lin.bias.data = w["Lin.weight"].double(), w["Lin.bias"].double()
with torch.no_grad():
    t.csv(Q + "Fitted --load weights.safetensors", one(ce(lin(P), Y)), 0, 1, 1e-15)
    t.csv(Q + "Pred --load weights.safetensors",
          [((i,), [float(a)]) for i, a in zip(ids, lin(P).argmax(-1))], 1, 1)
t.done()
