"""Recomputes sql-relations' relations in plain Python from db/*.csv."""
import math, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc
from collections import Counter

t = nc.Transcript(__file__)
edge = sorted({(nc.value(a), nc.value(b)) for a, b in t.db("edge")})
node = sorted({(nc.value(i), nc.value(k)) for i, k in t.db("node")})

deg = Counter(v for _, v in edge)
norm = {(u, v): 1 / math.sqrt((deg[u] + 1) * (deg[v] + 1)) for u, v in edge}
t.csv("nrp query program.nrp --db db --relation Weighted",
      [(k, [w]) for k, w in norm.items()], 2, 1, tol=1e-6)

two = {(u, w) for u, v in edge for v2, w in edge if v2 == v and u < w}
reach = Counter(u for u, _ in two)
t.csv("nrp query program.nrp --db db --relation Reached",
      [((u,), [float(c)]) for u, c in reach.items()], 1, 1)

kind = dict(node)
non_paper = Counter(u for u, _ in edge if kind[u] != "paper")
t.csv("nrp query program.nrp --db db --relation NonPaper",
      [((u,), [float(c)]) for u, c in non_paper.items()], 1, 1)

# Strings order byte for byte: "Alpha" and "Zeta" are below "a".
upper = {k for _, k in node if k.encode() < b"a"}
capital = Counter(v for v, k in node if k in upper)
t.csv("nrp query program.nrp --db db --relation Capital",
      [((v,), [float(c)]) for v, c in capital.items()], 1, 1)
linked = set(edge) | {(v, u) for u, v in edge}
t.csv("nrp query program.nrp --db db --relation Neighbours",
      [((u,), [float(c)]) for u, c in Counter(u for u, _ in linked).items()], 1, 1)
labels = upper | {"paper"}
t.csv("nrp query program.nrp --db db --relation Labelled",
      [((v,), [1.0]) for v, k in node if k in labels], 1, 1)
hops = {(u, w) for u, v in edge for v2, w in edge if v2 == v}
t.csv("nrp query program.nrp --db db --relation Hops",
      [(k, [1 / (deg[k[1]] + 1)]) for k in hops], 2, 1, tol=1e-6)
t.done()
