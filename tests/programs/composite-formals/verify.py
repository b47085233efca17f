"""Recomputes composite-formals in plain Python."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc

t = nc.Transcript(__file__)
Q = "nrp query program.nrp --db db --relation "
T = [(int(k), float(x)) for k, x in t.db("T")]
sq = lambda x: x * x + 1
t.csv(Q + "S", [((k,), [sq(x)]) for k, x in T], 1, 1)
t.csv(Q + "C", [((k,), [x ** 3]) for k, x in T], 1, 1)
t.csv(Q + "W", [((k,), [sq(x) * 2]) for k, x in T], 1, 1)
for cmd in (Q + "O", Q + "O --reference"):
    t.csv(cmd, [((k,), [sq(x) - 1]) for k, x in T], 1, 1)
# ViaMlp prints exactly what Direct prints.
t.stdout(Q + "ViaMlp", t.blocks[Q + "Direct"][0])
t.error("nrp check several-formals.nrp --db db", "several-formals.nrp:2:31",
        "`Enc` has 2 unbound names, `hiden`, `u`", "misspelt constant")
t.error("nrp check composite-as-constant.nrp --db db", "composite-as-constant.nrp:2:16",
        "`half` is a composite module, not a constant", "reads `hiden`")
t.done()
