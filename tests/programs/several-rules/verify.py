"""Recomputes several-rules: each rule aggregated on its own, then summed per tuple."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc
from collections import defaultdict

t = nc.Transcript(__file__)
Q = "nrp query program.nrp --db db --relation "
A = [(int(v), float(z)) for v, z in t.db("A")]
B = [(int(v), k, float(w)) for v, k, w in t.db("B")]
C = [(int(v), s) for v, s in t.db("C")]


def group(pairs, agg):
    g = defaultdict(list)
    for k, x in pairs:
        g[k].append(x)
    return {k: agg(xs) for k, xs in g.items()}


def add(*rules):
    out = defaultdict(float)
    for r in rules:
        for k, x in r.items():
            out[k] += x
    return out


S = add(group(A, sum), group([(v, w) for v, _, w in B], lambda xs: sum(xs) / len(xs)),
        group([(v, 1.0) for v, _ in C], sum))
t.csv(Q + "S", [((k,), [x]) for k, x in S.items()], 1, 1)
mx = group([(v, w) for v, _, w in B], max)
t.csv(Q + "M", [((k,), [x]) for k, x in add(mx, mx).items()], 1, 1)
n1 = group(A + [(v, w) for v, k, w in B if k == "a"], sum)
n2 = group([(v, 100.0 * v) for v, _ in C], sum)
t.csv(Q + "N", [((k,), [x]) for k, x in add(n1, n2).items()], 1, 1)
keys = {v for v, _ in A} | {v for v, _ in C} | {v for v, k, _ in B if k == "a"}
t.csv(Q + "K", [((k,), []) for k in keys], 1, 0)
t.csv(Q + "Late", [((k,), [x + 1]) for k, x in S.items()], 1, 1)
t.done()
