"""Recomputes comparison-ops in plain Python floats: each comparison is 1.0 where it holds,
else 0.0, per coordinate, a 1-dimensional operand (or a constant) broadcast; comparisons
bind looser than + - * /; `v < w` in a body is a filter; sums run over the matches."""
import operator, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc

t = nc.Transcript(__file__)
Q = "nrp query program.nrp --db db --relation "
A = {int(r[0]): [float(x) for x in r[1:]] for r in t.db("A")}
B = {int(r[0]): [float(x) for x in r[1:]] for r in t.db("B")}
S = {int(r[0]): float(r[1]) for r in t.db("S")}


def cmp(op, x, y):
    y = y if isinstance(y, list) else [y] * len(x)
    return [1.0 if op(a, b) else 0.0 for a, b in zip(x, y)]


for name, op in [("Lt", operator.lt), ("Le", operator.le), ("Gt", operator.gt),
                 ("Ge", operator.ge), ("Ne", operator.ne), ("Eq", operator.eq)]:
    t.csv(Q + name, [((v,), cmp(op, A[v], B[v])) for v in A], 1, 3)
t.csv(Q + "Prec", [((v,), cmp(operator.lt, [a + 1 for a in A[v]], [b * 2 for b in B[v]]))
                   for v in A], 1, 3)
t.csv(Q + "Prec --reference",
      [((v,), cmp(operator.lt, [a + 1 for a in A[v]], [b * 2 for b in B[v]])) for v in A], 1, 3)
t.csv(Q + "Pos", [((v,), cmp(operator.gt, A[v], 0.0)) for v in A], 1, 3)
t.csv(Q + "AtLeast", [((v,), cmp(operator.ge, A[v], S[v])) for v in A], 1, 3)
t.csv(Q + "Both", [((v,), [p * q * a for p, q, a in
                           zip(cmp(operator.gt, A[v], 0.0), cmp(operator.gt, B[v], 0.0), A[v])])
                   for v in A], 1, 3)
pairs = {}
for v in A:
    for w in B:
        if v < w:
            m = cmp(operator.le, A[v], B[w])
            pairs[v] = [p + q for p, q in zip(pairs.get(v, [0.0] * 3), m)]
t.csv(Q + "Pairs", [((v,), e) for v, e in pairs.items()], 1, 3)
t.csv(Q + "CountPos", [((), [sum(c) for c in zip(*[cmp(operator.gt, A[v], 0.0) for v in A])])],
      0, 3)
t.error("nrp check bad.nrp", "bad.nrp:2:14:", "comparisons do not chain")
t.done()
