"""Recomputes join-filters' relations in plain Python from db/*.csv."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc
from collections import defaultdict

t = nc.Transcript(__file__)
edge = [(nc.value(a), nc.value(b), float(w)) for a, b, w in t.db("edge")]
node = [(nc.value(i), nc.value(k)) for i, k in t.db("node")]

# Path(u, v; sum(x * y)) :- Hop(u, m; x), Hop(m, v; y), Node(u, "a"), Node(v, k), u != v
path = defaultdict(float)
for u, m, x in edge:
    for m2, v, y in edge:
        if m2 != m or u == v:
            continue
        if (u, "a") not in node:
            continue
        for v2, k in node:
            if v2 == v:
                path[(u, v)] += x * y
rows = [(k, [e]) for k, e in path.items()]
t.csv("nrp query program.nrp --db db --relation Path", rows, 2, 1)
t.csv("nrp query program.nrp --db db --relation Path --accept",
      [(k, []) for k, e in rows if e[0] > 0], 2, 0)
kinds = defaultdict(int)
for _, k in node:
    kinds[k] += 1
t.jsonl("nrp query program.nrp --db db --relation Kinds --format jsonl",
        [((k,), [float(n)]) for k, n in kinds.items()], 1, 1)
t.error("nrp query program.nrp --db db --relation Nope", "no rule of program.nrp derives `Nope`")
t.done()
