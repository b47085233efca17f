"""Recomputes constant-embeddings in plain Python."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc

t = nc.Transcript(__file__)
Q = "nrp query program.nrp --db db --relation "
keys = [int(r[0]) for r in t.db("Keys")]
part = {int(v): [float(a), float(b)] for v, a, b in t.db("Partial")}
named = [int(r[0]) for r in t.db("Named")]

def union(branches):
    out = {}
    for rows in branches:
        for k, e in rows:
            acc = out.setdefault(k, [0.0] * len(e))
            for i, x in enumerate(e):
                acc[i] += x
    return [((k,), e) for k, e in out.items()]

for cmd in (Q + "Padded", Q + "Padded --reference"):
    t.csv(cmd, union([[(k, [0.0, 0.0]) for k in keys], list(part.items())]), 1, 2)
t.csv(Q + "Ones", union([[(k, [1.0, 1.0]) for k in keys], list(part.items())]), 1, 2)
t.csv(Q + "Labelled", union([[(k, [-0.5, -0.5]) for k in named], list(part.items())]), 1, 2)
for cmd in (Q + "Flags", Q + "Flags --reference"):
    t.csv(cmd, union([[(k, [10.0]) for k in keys], [(k, [20.0]) for k in named]]), 1, 1)
t.csv(Q + "Joined", [((k,), e) for k, e in part.items() if k in keys], 1, 2)
# Lin: a padded key alone gives the bias b; key 1 (in both branches) gives
# w·z1 + 2b and key 3 w·z3 + 2b: solve for w from the two, then check every row.
for cmd in (Q + "Lin", Q + "Lin --reference"):
    out = {int(l.split(",")[0]): float(l.split(",")[1]) for l in t.blocks[cmd][0].split("\n")[1:-1]}
    b = out[2]
    (a1, b1), (a3, b3) = part[1], part[3]
    r1, r3 = out[1] - 2 * b, out[3] - 2 * b
    det = a1 * b3 - b1 * a3
    w = ((r1 * b3 - b1 * r3) / det, (a1 * r3 - r1 * a3) / det)
    lin = lambda e: w[0] * e[0] + w[1] * e[1] + b
    want = union([[(k, [b]) for k in keys], [(k, [lin(e)]) for k, e in part.items()]])
    t.csv(cmd, want, 1, 1, tol=1e-6)
t.error("nrp check unnamed.nrp --db db", "unnamed.nrp:1:9", "unknown name `t`", "gives it no name")
t.error("nrp check string-constant.nrp --db db", "string-constant.nrp:1:20",
        "a constant embedding is a number, not a string")
t.error("nrp check dims-disagree.nrp --db db", "dims-disagree.nrp:2:41",
        "6-dimensional embedding here but a 2-dimensional one")
t.done()
