"""Checks syntax-variants against values worked out by hand from db/T.csv:
scale = 2 ** 2 - -1 = 5, big * half = 10 * 0.5 = 5, Lin(x) + LinT(x) = 2x - 0.5x + 0.25."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc

t = nc.Transcript(__file__)
Q = "nrp query program.nrp --db db --relation "
T = [(int(k), n, float(x)) for k, n, x in t.db("T")]
t.csv(Q + "Neg", [(('say "hi"',), [])], 1, 0)
t.jsonl(Q + "Neg --format jsonl", [(('say "hi"',), [])], 1, 0)
t.csv(Q + "Quoted", [((-1,), [])], 1, 0)
t.csv(Q + "Single", [((2,), [])], 1, 0)
t.csv(Q + "Tab", [((3,), [])], 1, 0)
t.csv(Q + "Empty", [((k,), []) for k, _, _ in T], 1, 0)
t.csv(Q + "Ignored", [((k,), [1.0]) for k, _, _ in T], 1, 1)
t.csv(Q + "Scaled", [((k,), [5 * x + 5]) for k, _, x in T], 1, 1)
t.csv(Q + "Multi", [((k,), [x]) for k, _, x in T if k > 0], 1, 1)
t.csv(Q + "Lins --load weights.safetensors", [((k,), [1.5 * x + 0.25]) for k, _, x in T], 1, 1)
t.done()
