"""Recomputes decode-brackets in plain Python: argmax (first maximum), softmax, the group
means, and the error locations.

    $PYTHON verify.py
"""
import math, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc

t = nc.Transcript(__file__)
Q = "nrp query program.nrp --db db --relation "
X = {int(r[0]): [float(x) for x in r[1:]] for r in t.db("Input")}
G = {int(a): g for a, g in t.db("Group")}


def argmax(v):
    return max(range(len(v)), key=lambda i: (v[i], -i))


def softmax(v):
    e = [math.exp(x - max(v)) for x in v]
    return [x / sum(e) for x in e]


def rows(cmd, want):
    """`want`: rows of numbers (content only), compared in order within 1e-6 relative."""
    got = t._get(cmd)
    t.checked += 1
    if got is None:
        return
    lines = got[0].strip().split("\n")[1:]
    want = sorted(want, key=nc.sort_key)
    ok = len(lines) == len(want) and all(
        len(c) == len(w) and all(abs(float(a) - b) <= 1e-6 * max(1.0, abs(b)) for a, b in zip(c, w))
        for c, w in zip((l.split(",") for l in lines), want))
    if not ok:
        t.failures.append(f"`{cmd}`: got {lines}, expected {want}")


t.csv(Q + "Class", [((a, argmax(v)), v) for a, v in X.items()], 2, 3)
t.csv(Q + "Label", [((a, argmax(v)), []) for a, v in X.items()], 2, 0)
rows(Q + "Probs", [tuple(softmax(v)) + (a,) for a, v in X.items()])
rows(Q + "Score", [(a,) + tuple(2 * x for x in v) for a, v in X.items()])
rows(Q + "Both", [(argmax(v), a) + tuple(v) for a, v in X.items()])
groups = {}
for a, v in X.items():
    groups.setdefault(G[a], []).append(v)
means = {g: [sum(c) / len(vs) for c in zip(*vs)] for g, vs in groups.items()}
for suffix in ["", " --reference"]:
    t.csv(Q + "GroupClass" + suffix, [((g, argmax(m)), m) for g, m in means.items()], 2, 3, 1e-6)

E = "nrp check errors/{}.nrp --db db"
t.error(E.format("plain-rule"), "2:10", "decode brackets `[…]` in a head are for `?pred` rules")
t.error(E.format("two-variables"), "2:16", "exactly one embedding variable", "reads 2")
t.error(E.format("no-variable"), "2:16", "exactly one embedding variable", "reads 0")
t.error(E.format("read-decoded"), "3:28", "`Class` has decoded columns")
t.error(E.format("second-rule"), "3:7", "must have exactly one rule")
t.error(E.format("union-body"), "2:16", "need a conjunction body")
t.error(E.format("unclosed"), "2:26", "expected `]` to close the decode")
t.done()
