"""Recomputes every relation of joins-cycles by brute force over db/E.csv."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc
from collections import defaultdict
from itertools import product

t = nc.Transcript(__file__)
E = [(int(a), int(b), float(w)) for a, b, w in t.db("E")]
Q = "nrp query program.nrp --db db --relation "

t.csv(Q + "Loop", [((x,), [w]) for x, y, w in E if x == y], 1, 1)

tri = defaultdict(int)
for (x, y, _), (y2, z, _), (z2, x2, _) in product(E, E, E):
    if y == y2 and z == z2 and x == x2 and x != y and y != z:
        tri[x] += 1
t.csv(Q + "Tri", [((x,), [float(n)]) for x, n in tri.items()], 1, 1)

triw = [((x, y, z), [a * b * c]) for (x, y, a), (y2, z, b), (z2, x2, c) in product(E, E, E)
        if y == y2 and z == z2 and x == x2 and x < y and x < z]
t.csv(Q + "TriW", triw, 3, 1)

sq = {(a, b, c, d) for (a, b, _), (b2, c, _), (c2, d, _), (d2, a2, _) in product(E, E, E, E)
      if b == b2 and c == c2 and d == d2 and a == a2 and a < b and a < c and a < d}
t.csv(Q + "Sq", [(k, []) for k in sq], 4, 0)

two = defaultdict(float)
for (x, y, a), (y2, z, b) in product(E, E):
    if y == y2:
        two[(x, z)] += a * b
t.csv(Q + "Two", [(k, [v]) for k, v in two.items()], 2, 1)

t.csv(Q + "From3", [((y,), [w]) for x, y, w in E if x == 3], 1, 1)
into = {x for x, y, _ in E if y == 3 and (3, x) in {(a, b) for a, b, _ in E}}
t.csv(Q + "Into3", [((x,), []) for x in into], 1, 0)
t.done()
