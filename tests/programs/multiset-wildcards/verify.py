"""Recomputes multiset-wildcards by enumerating matches as Python lists (multisets)."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc
from collections import Counter, defaultdict

t = nc.Transcript(__file__)
R = [(int(a), b, c, float(w)) for a, b, c, w in t.db("R")]
Q = "nrp query program.nrp --db db --relation "
R3 = sorted({(a, b, c) for a, b, c, _ in R})   # R(a, _, _): the first 3 columns as a set
R2 = sorted({(a, b) for a, b, _, _ in R})      # R(a, _): the first 2 columns as a set


def count(keys):
    return [((k,), [float(n)]) for k, n in Counter(keys).items()]


y = defaultdict(float)
for a, b, c, w in R:
    if b == "y":
        y[a] += w
t.csv(Q + "Y", [((a,), [v]) for a, v in y.items()], 1, 1)
t.csv(Q + "CountY", count(a for a, b, c in R3 if b == "y"), 1, 1)
t.csv(Q + "Rows", count(a for a, b, c in R3), 1, 1)
t.csv(Q + "Projected", count(a for a, b in R2), 1, 1)
t.csv(Q + "Wild", count(a for a, b, _ in R3 for a2, b2, _ in R3 if (a, b) == (a2, b2)), 1, 1)
t.csv(Q + "Named", count(a for x in R3 for y_ in R3 if x == y_ for a in [x[0]]), 1, 1)
rep = defaultdict(float)
for a, b, c, w in R:
    for a2, _, _ in R3:
        if a == a2:
            rep[a] += w
t.csv(Q + "Repeated", [((a,), [v]) for a, v in rep.items()], 1, 1)
t.done()
