"""Recomputes shaped-embeddings with PyTorch float64 tensors, one fact at a time.

RelaNN's row-first alignment for element-wise operators (a lower-rank operand gets
trailing axes of size 1, then PyTorch broadcasting) is applied explicitly by `align`.

    $PYTHON verify.py
"""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc
import torch

t = nc.Transcript(__file__)
Q = "nrp query program.nrp --db db --relation "


def table(name):
    return {int(r[0]): torch.tensor([float(x) for x in r[1:]], dtype=torch.float64) for r in t.db(name)}


T, U, V = table("T"), table("U"), table("V")
E = [(int(s), int(d)) for s, d in t.db("E")]
M = {k: z.reshape(2, 3) for k, z in T.items()}


def align(a, b):
    while a.dim() < b.dim():
        a = a.unsqueeze(-1)
    while b.dim() < a.dim():
        b = b.unsqueeze(-1)
    return a, b


def mul(a, b):
    a, b = align(a, b)
    return a * b


def add(a, b):
    a, b = align(a, b)
    return a + b


def rel(name, f, ref=False):
    rows = [((k,), [float(v) for v in f(k).reshape(-1)]) for k in sorted(T)]
    for suffix in ([""] + ([" --reference"] if ref else [])):
        t.csv(Q + name + suffix, rows, 1, len(rows[0][1]), 1e-6)


col = lambda v: v.reshape(-1, 1)
rel("M", lambda k: M[k])
rel("Flat", lambda k: M[k].reshape(-1))
rel("Cols", lambda k: T[k].reshape(3, -1))
rel("Tr", lambda k: M[k].transpose(0, 1))
rel("Column", lambda k: col(U[k]))
rel("MatVec", lambda k: torch.matmul(M[k], col(U[k])))
rel("VecMat", lambda k: torch.matmul(U[k].reshape(1, 3), M[k].transpose(0, 1)))
rel("Dot", lambda k: torch.matmul(U[k].reshape(1, 3), col(U[k])).reshape(1))
rel("Gram", lambda k: torch.matmul(M[k], M[k].transpose(0, 1)), ref=True)
rel("Heads", lambda k: torch.matmul(T[k].reshape(2, 1, 3), T[k].reshape(2, 3, 1)).reshape(2), ref=True)
score = {}
for s, d in E:
    score[d] = score.get(d, 0.0) + float(torch.dot(U[s], U[d]))
rel("Score", lambda k: torch.tensor([score.get(k, 0.0)]), ref=True)
rel("RowScale", lambda k: mul(M[k], V[k]))
rel("RowScaleFlip", lambda k: mul(V[k], M[k]))
rel("AddRow", lambda k: add(M[k], U[k].reshape(1, 3)))
rel("ColScale", lambda k: mul(M[k].transpose(0, 1), U[k]), ref=True)
rel("Scalar", lambda k: M[k] * 2 - 1)
rel("Unsq", lambda k: torch.matmul(U[k].unsqueeze(0), U[k].reshape(3, 1)))
rel("Sq", lambda k: torch.matmul(U[k].reshape(1, 3), col(U[k])).squeeze())
rel("Act", lambda k: torch.matmul(torch.relu(M[k]), col(U[k])))
rel("Proj", lambda k: U[k] @ torch.full((3, 2), 0.5, dtype=torch.float64)
    + U[k] @ torch.full((3, 2), -1.5, dtype=torch.float64), ref=True)
bil = {}
for s, d in E:
    q = U[s].reshape(1, 3) @ torch.full((3, 3), 0.25, dtype=torch.float64) @ col(U[d])
    bil[d] = bil.get(d, 0.0) + float(q.reshape(-1)[0])
rel("Bil", lambda k: torch.tensor([bil.get(k, 0.0)]), ref=True)
total = sum(torch.exp(M[k] * 0) + M[k] for k in T)
t.csv(Q + "Summed", [((), [float(v) for v in total.reshape(-1)])], 0, 6, 1e-6)

E_ = "nrp check errors/{}.nrp --db db"
t.error(E_.format("vector-matmul"), "2:11", "`@` of two vectors (3,) and (3,)")
t.error(E_.format("inner-mismatch"), "2:10", "inner dimensions 3 and 2 differ")
t.error(E_.format("bad-view"), "2:12", "`view(4)` cannot reshape (2, 3)")
t.error(E_.format("fact-axis"), "2:13", "axis 0 is the fact axis")
t.error(E_.format("no-broadcast"), "2:16", "shapes (2, 3) and (3,) do not broadcast")
t.error(E_.format("linear-of-matrix"), "2:32", "takes vectors; this embedding has shape (2, 3)")
t.error(E_.format("concat-matrix"), "2:21", "`Concat` takes vectors")
t.error(E_.format("view-no-shape"), "2:16", "`view` takes the new shape first")
t.error(E_.format("branch-shapes"), "3:1", "shape (6,) here but of shape (2, 3)")
t.error(E_.format("batch-mismatch"), "2:10", "batch axes before the last two must be equal")
t.done()
