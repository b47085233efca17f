"""Recomputes torch-names in plain Python (PyTorch's formulas for BCELoss and NLLLoss)."""
import math, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc

t = nc.Transcript(__file__)
Q = "nrp query program.nrp --db db --relation "
T = [(int(k), float(x)) for k, x in t.db("T")]
for cmd in (Q + "R", Q + "R --reference"):
    # Python rounds half to even too; torch keeps the sign of a zero (-0.5 -> -0.0).
    t.csv(cmd, [((k,), [math.copysign(round(x), x)]) for k, x in T], 1, 1)
prob = {int(k): float(p) for k, p in t.db("Prob")}
label = {int(k): float(y) for k, y in t.db("Label")}
pairs = [(prob[k], label[k]) for k in prob]
t.csv(Q + "Acc", [((), [sum(round(p) == y for p, y in pairs) / len(pairs)])], 0, 1)
clog = lambda v: max(math.log(v), -100.0) if v > 0 else -100.0
bce = sum(-(y * clog(p) + (1 - y) * clog(1 - p)) for p, y in pairs) / len(pairs)
t.csv(Q + "Bce", [((), [bce])], 0, 1, tol=1e-6)
t.csv(Q + "Bce --reference", [((), [bce])], 0, 1, tol=1e-12)
logit = {int(r[0]): [float(v) for v in r[1:]] for r in t.db("Logit")}
cls = {int(k): int(y) for k, y in t.db("Cls")}
def nll(z, y):
    m = max(z)
    return -(z[y] - m - math.log(sum(math.exp(v - m) for v in z)))
want = sum(nll(logit[k], cls[k]) for k in logit) / len(logit)
for cmd, tol in ((Q + "Nll", 1e-6), (Q + "Nll --reference", 1e-12), (Q + "Ce", 1e-6)):
    t.csv(cmd, [((), [want])], 0, 1, tol=tol)
t.error("nrp query bce-not-probability.nrp --db db --relation Bad",
        "bce-not-probability.nrp:1:7", "(BCELoss()) needs a probability in [0, 1], got -2.5", "at the match k = 1")
t.error("nrp query bce-not-probability.nrp --db db --relation Bad --reference",
        "bce-not-probability.nrp:1:7", "needs a probability in [0, 1], got -2.5")
t.error("nrp query nll-bad-target.nrp --db db --relation Bad",
        "nll-bad-target.nrp:1:7", "(NLLLoss()) needs an integer index in 0..3, got 3", "at the match k = 3")
t.done()
