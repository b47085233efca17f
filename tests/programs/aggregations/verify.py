"""Recomputes aggregations with plain Python over db/S.csv (sums in row order)."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc
from collections import defaultdict

t = nc.Transcript(__file__)
S = [(g, int(i), [float(x), float(y)]) for g, i, x, y in t.db("S")]
Q = "nrp query program.nrp --db db --relation "
groups = defaultdict(list)
for g, i, e in S:
    groups[g].append(e)


def per_coord(f, vs):
    return [f([v[j] for v in vs]) for j in range(2)]


def total(xs):
    s = 0.0
    for x in xs:
        s += x
    return s


# Means are not exact in binary: allow rounding (1e-15 in f64; f32 output gets 1e-5).
for name, f, tol in [("Sum", total, 0.0), ("Default", total, 0.0),
                     ("Mean", lambda xs: total(xs) / len(xs), 1e-15), ("Max", max, 0.0), ("Min", min, 0.0)]:
    t.csv(Q + name, [((g,), per_coord(f, vs)) for g, vs in groups.items()], 1, 2, tol)
for name in ("Count", "CountWithEmbedding"):
    t.csv(Q + name, [((g,), [float(len(vs))]) for g, vs in groups.items()], 1, 1)
every = [e for _, _, e in S]
t.csv(Q + "Total", [((), per_coord(total, every))], 0, 2)
t.csv(Q + "MeanAll", [((), per_coord(lambda xs: total(xs) / len(xs), every))], 0, 2, 1e-15)
t.csv(Q + "CountAll", [((), [float(len(S))])], 0, 1)
pairs, count = defaultdict(lambda: [0.0, 0.0]), defaultdict(int)
for g, i, e in S:
    for g2, j, f in S:
        if g == g2 and i < j:
            pairs[g] = [pairs[g][k] + e[k] * f[k] for k in range(2)]
            count[g] += 1
t.csv(Q + "Pairs", [((g,), v) for g, v in pairs.items()], 1, 2)
t.csv(Q + "PairCount", [((g,), [float(n)]) for g, n in count.items()], 1, 1)
t.csv(Q + "PerItem", [((g, i), [2 * e[0], 2 * e[1]]) for g, i, e in S], 2, 2)
t.done()
