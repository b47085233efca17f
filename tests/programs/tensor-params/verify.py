"""Recomputes tensor-params in plain Python: constant initial values, loaded values."""
import math, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc

t = nc.Transcript(__file__)
Q = "nrp query program.nrp --db db --relation "
T = [(int(k), float(x)) for k, x in t.db("T")]
sig = lambda v: 1 / (1 + math.exp(-v))
# Initial values: Gate 0, Scale 2, Bias 0, Half 0.5, Wide 0, inline 3.0 / -0.5 / 4.0.
t.csv(Q + "Gated", [((k,), [x * 2.0 + sig(0.0)]) for k, x in T], 1, 1)
t.csv(Q + "Shifted", [((k,), [x + 0.5] * 3) for k, x in T], 1, 3)
t.csv(Q + "Inline", [((k,), [x * 3.0 - 0.5]) for k, x in T], 1, 1)
for cmd in (Q + "Comp", Q + "Comp --reference"):
    t.csv(cmd, [((k,), [x * 4.0 + x * 0.0 * 4.0] * 3) for k, x in T], 1, 3)
# Loaded (make_weights.py): Scale -1.5, Gate 0, Bias [0.25, -0.5, 1], Half [1, 2, 4].
L = " --load weights.safetensors"
t.csv(Q + "Gated" + L, [((k,), [x * -1.5 + sig(0.0)]) for k, x in T], 1, 1)
for cmd in (Q + "Shifted" + L, Q + "Shifted" + L + " --reference"):
    t.csv(cmd, [((k,), [x + h + b for h, b in zip([1, 2, 4], [0.25, -0.5, 1])]) for k, x in T], 1, 3)
t.error(Q + "Shifted --load bad-shape.safetensors",
        "tensor `Bias.weight` has shape [3], but the program's `Bias.weight` has shape [1, 3]")
t.error("nrp check matrix.nrp --db db", "matrix.nrp:2:6", "`@` of shapes (1,) and (3, 4)", "inner dimensions 1 and 3 differ")
t.error("nrp check applied.nrp --db db", "applied.nrp:2:6", "`Gate` is a free parameter")
t.error("nrp check bad-shape.nrp --db db", "bad-shape.nrp:1:20", "positive integers, got 2.5")
t.done()
