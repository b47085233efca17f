"""Recomputes wide-and-array-tables in plain Python: the remaining columns (or the parsed
array) of each row are the embedding."""
import os, sys, json
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc

t = nc.Transcript(__file__)
Q = "nrp query program.nrp --db db --relation "
F = [[nc.value(c) for c in r] for r in t.db("Feat")]
A = {int(i): [float(x) for x in v.strip()[1:-1].split(",")] for i, v in t.db("Arr")}
fl = lambda xs: [float(x) for x in xs]

t.csv(Q + "Wide", [((r[0],), fl(r[1:])) for r in F], 1, 4)
t.csv(Q + "Rest", [((r[0], r[1]), fl(r[2:])) for r in F], 2, 3)
t.csv(Q + "Last", [((r[0],), fl(r[4:])) for r in F], 1, 1)
t.csv(Q + "Content", [(tuple(r), []) for r in F], 5, 0)
t.csv(Q + "Squares", [((r[0],), [float(x) * float(x) for x in r[1:]]) for r in F], 1, 4, 1e-15)
t.csv(Q + "Vec", [((i,), v) for i, v in A.items()], 1, 2)
last = {r[0]: float(r[4]) for r in F}
t.csv(Q + "Mixed", [((i,), [x * 2 + last[i] for x in v]) for i, v in A.items()], 1, 2)
t.csv(Q + "Empty", [((i,), []) for i, _ in t.db("Nil")], 1, 0)
t.done()
