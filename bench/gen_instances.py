#!/usr/bin/env python3
"""Writes a program with about N template instances and its database (the shape of
RelaNN's basis-decomposed R-GCN: a coefficient module per (relation, basis), a rule per
(relation, basis) and per relation, unions over a guard table), for bench/instances.sh.

usage: gen_instances.py OUT_DIR [--relations R] [--bases B]
instances = R * (2 * B + 1): 3,010 for the default R = 430, B = 3.
"""
import argparse
import os
import random

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--relations", type=int, default=430)
ap.add_argument("--bases", type=int, default=3)
ap.add_argument("--nodes", type=int, default=200)
ap.add_argument("--edges", type=int, default=4000)
a = ap.parse_args()
rng = random.Random(0)
db = os.path.join(a.out, "db")
os.makedirs(db, exist_ok=True)
with open(os.path.join(db, "Rels.csv"), "w") as f:
    f.write("rel\n")
    for r in range(a.relations):
        f.write(f"r{r}\n")
with open(os.path.join(db, "X.csv"), "w") as f:
    f.write("id,x0,x1,x2,x3\n")
    for v in range(a.nodes):
        f.write(f"n{v}," + ",".join(f"{rng.uniform(-1, 1):.4f}" for _ in range(4)) + "\n")
with open(os.path.join(db, "Edge.csv"), "w") as f:
    f.write("src,dst,rel\n")
    for _ in range(a.edges):
        f.write(f"n{rng.randrange(a.nodes)},n{rng.randrange(a.nodes)},r{rng.randrange(a.relations)}\n")
with open(os.path.join(a.out, "instances.nrp"), "w") as f:
    f.write(f"""# {a.relations * (2 * a.bases + 1)} template instances: {a.relations} relations x {a.bases} bases.
Basis<b> = Linear(4, 4) .
Coef<r, b> = Linear(4, 4, False) .
Part<r, b>(t; sum(Coef<r, b>(Basis<b>(z)))) :- X(s; z), Edge(s, t, r) .
Rel<r>(t; sum(z)) :- Union(Set(Part<r, b>(t; z) | 1 <= b, b <= {a.bases})) .
Out(t; sum(z)) :- Union(Set(Rel<r>(t; z) | Rels(r))) .
""")
