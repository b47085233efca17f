"""Recomputes activations with PyTorch in float64 (torch.nn modules and torch functions).
Transcendental results are compared to 1e-12 relative (libm and torch may differ in the
last bits); the rest exactly.

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


def rel(cmd, y, tol=1e-12):
    y = y.detach()
    t.csv(cmd, [((i,), [float(x) for x in row]) for i, row in zip(ids, y)], 1, y.shape[1], tol)


exact = 0.0
rel(Q + "Relu", nn.ReLU()(X), exact)
rel(Q + "Leaky", nn.LeakyReLU(0.1)(X), exact)
rel(Q + "LeakyDefault", nn.LeakyReLU()(X), exact)
rel(Q + "Elu", nn.ELU()(X))
rel(Q + "EluHalf", nn.ELU(0.5)(X))
rel(Q + "Gelu", nn.GELU()(X))           # approximate='none': the exact erf form
rel(Q + "Sig", nn.Sigmoid()(X))
rel(Q + "Th", nn.Tanh()(X))
rel(Q + "Soft", nn.Softmax(-1)(X))
rel(Q + "Soft1", nn.Softmax(1)(X))
rel(Q + "LogSoft", nn.LogSoftmax(-1)(X))
rel(Q + "Id", nn.Identity()(X), exact)
rel(Q + "Arg", X.argmax(-1, keepdim=True).double(), exact)   # first maximal index
drop = nn.Dropout(0.5)
drop.eval()
rel(Q + "Drop", drop(X), exact)
ln = nn.LayerNorm(4).double()
w = load_file("weights.safetensors")
ln.weight.data, ln.bias.data = w["LN.weight"].double(), w["LN.bias"].double()
rel(Q + "Norm --load weights.safetensors", ln(X))
rel(Q + "NormDefault --load weights.safetensors", nn.LayerNorm(4).double()(X))
rel(Q + "Exp", torch.exp(X))
rel(Q + "Log", torch.log(X))
rel(Q + "Sqrt", torch.sqrt(torch.abs(X)))
rel(Q + "Abs", torch.abs(X), exact)
rel(Q + "Relu2", torch.relu(X), exact)
rel(Q + "Sig2", torch.sigmoid(X))
rel(Q + "Tanh2", torch.tanh(X))
# JSON has no nan / -inf: they become null.
t.jsonl(Q + "Log --format jsonl", [((i,), [float(x) for x in row]) for i, row in zip(ids, torch.log(X))], 1, 4, 1e-12)
t.done()
