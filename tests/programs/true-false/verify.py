"""Recomputes true-false in plain Python."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc

t = nc.Transcript(__file__)
Q = "nrp query program.nrp --db db --relation "
T = [(int(k), float(x)) for k, x in t.db("T")]
flag = {int(k): int(v) for k, v in t.db("Flag")}
t.csv(Q + "Scaled", [((k,), [x]) for k, x in T], 1, 1)
t.csv(Q + "Gated", [((k,), [x * 2]) for k, x in T], 1, 1)
t.csv(Q + "On", [((k,), [x]) for k, x in T if flag[k] == 1], 1, 1)
t.csv(Q + "Off", [((k,), [x]) for k, x in T if flag[k] == 0], 1, 1)
# No bias: every row is the same weight times x.
out, _, code = t.blocks[Q + "NoBias"]
rows = [line.split(",") for line in out.split("\n")[1:-1]]
w = float(rows[0][1]) / T[0][1]
t.csv(Q + "NoBias", [((k,), [w * x]) for k, x in T], 1, 1, tol=1e-6)
t.error("nrp check bad-redefine.nrp", "bad-redefine.nrp:1:1", "`True` is a built-in name")
t.done()
