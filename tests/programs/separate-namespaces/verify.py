"""Recomputes separate-namespaces in plain Python: the content `z` and the embedding `z`
of one atom are different values."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc

t = nc.Transcript(__file__)
Q = "nrp query program.nrp --db db --relation "
full = [(int(g), int(z), [float(a), float(b)]) for g, z, a, b in t.db("Full")]
tag = [(int(z), int(w)) for z, w in t.db("Tag")]

t.csv(Q + "Half", [((g, z), [x * 0.5 for x in e]) for g, z, e in full], 2, 2)
t.csv(Q + "Enc", [((g, z), e + [z]) for g, z, e in full], 2, 3)
joined = {}
for _, z, e in full:
    for z2, w in tag:
        if z == z2:
            acc = joined.setdefault(w, [0.0, 0.0])
            acc[0] += e[0]
            acc[1] += e[1]
t.csv(Q + "Joined", [((w,), v) for w, v in joined.items()], 1, 2)
cross = {}
for g, _, e in full:
    for z, _ in tag:
        acc = cross.setdefault(g, [0.0, 0.0])
        acc[0] += e[0] * z
        acc[1] += e[1] * z
for cmd in (Q + "Cross", Q + "Cross --reference"):
    t.csv(cmd, [((g,), v) for g, v in cross.items()], 1, 2)
t.done()
