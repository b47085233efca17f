"""Recomputes unions: each branch's value per tuple, then the head's aggregation."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc
from collections import defaultdict

t = nc.Transcript(__file__)
Q = "nrp query program.nrp --db db --relation "
A, B, C = ([(int(v), float(e)) for v, e in t.db(n)] for n in "ABC")
P = [(int(v), float(x), float(y)) for v, x, y in t.db("P")]
Qt = [(int(v), float(x), float(y)) for v, y, x in t.db("Q")]   # columns v, y, x


def union(branches, agg, f=lambda e: e):
    vals = defaultdict(list)
    for br in branches:
        for v, e in br:
            vals[v].append(f(e))
    return [((v,), [agg(xs)]) for v, xs in vals.items()]


total = lambda xs: sum(xs, 0.0)
t.csv(Q + "U", union([A, B], total), 1, 1)
t.csv(Q + "Sum3", union([A, B, C], total), 1, 1)
t.csv(Q + "Max3", union([A, B, C], max), 1, 1)
t.csv(Q + "Min3", union([A, B, C], min), 1, 1)
t.csv(Q + "Mean3", union([A, B, C], lambda xs: total(xs) / len(xs)), 1, 1, 1e-15)
t.csv(Q + "Count3", union([A, B, C], lambda xs: float(len(xs))), 1, 1)
t.csv(Q + "Keys", [((v,), []) for v in {v for br in (A, B, C) for v, _ in br}], 1, 0)
t.csv(Q + "Affine", union([A, B], total, lambda e: 2 * e + 1), 1, 1)
t.csv(Q + "ByName", union([[(v, x - y) for v, x, y in P], [(v, x - y) for v, x, y in Qt]], total), 1, 1)
t.csv(Q + "Mixed", union([[(v, 10 * z) for v, z in A], B], max), 1, 1)
Rt = [(int(v), float(z)) for v, _, z in t.db("R")]
t.csv(Q + "Pooled", union([Rt, B], lambda xs: total(xs) / len(xs)), 1, 1, 1e-15)
t.csv(Q + "PooledMax", union([Rt, B], max), 1, 1)
t.done()
