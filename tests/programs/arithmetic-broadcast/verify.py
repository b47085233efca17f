"""Recomputes arithmetic-broadcast with PyTorch float64 tensors (torch's own broadcasting of
a size-1 last dimension, its `**`, `==`, division by zero and torch.cat).

    $PYTHON verify.py
"""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc
import torch

t = nc.Transcript(__file__)
Q = "nrp query program.nrp --db db --relation "
V = {int(i): torch.tensor([float(a), float(b)], dtype=torch.float64) for i, a, b in t.db("V")}
S = {int(i): torch.tensor([float(s)], dtype=torch.float64) for i, s in t.db("S")}
two = 2.0
half = 1 / two
scale = two ** 3 - 1


def rel(name, f, tol=0.0):
    rows = [((i,), [float(v) for v in f(i, V[i], S[i])]) for i in V]
    t.csv(Q + name, rows, 1, len(rows[0][1]), tol)


rel("Add", lambda i, x, y: x + y)
rel("Sub", lambda i, x, y: x - y)
rel("SubFlip", lambda i, x, y: y - x)
rel("Mul", lambda i, x, y: x * y)
rel("Div", lambda i, x, y: x / y)
rel("DivFlip", lambda i, x, y: y / x)
rel("Pow", lambda i, x, y: x ** 2)
rel("PowVec", lambda i, x, y: torch.tensor([two], dtype=torch.float64) ** x, 1e-15)
rel("Eq", lambda i, x, y: (x == y).double())
rel("EqVec", lambda i, x, y: (x == torch.tensor([i, 2.0], dtype=torch.float64)).double())
rel("Neg", lambda i, x, y: -x + half)
rel("Consts", lambda i, x, y: x * scale + half)
rel("Precedence", lambda i, x, y: x + y * 2 - x / 2 ** 2)
rel("Cat", lambda i, x, y: torch.cat([x, y, torch.tensor([float(i)], dtype=torch.float64)]))
rel("Scalar", lambda i, x, y: torch.tensor([3.0]))
t.done()
