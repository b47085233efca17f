"""Recomputes accept-and-formats in plain Python; --accept is `all(x > 0)` (so nan fails,
as `torch.min(x) > 0` does)."""
import os, sys, math
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc

t = nc.Transcript(__file__)
Q = "nrp query program.nrp --db db --relation "
R = [(k, [float(x), float(y)]) for k, x, y in t.db("R")]
acc = lambda rows: [((k,), []) for (k,), e in rows if all(x > 0 for x in e)]
sq = lambda x: math.sqrt(x) if x >= 0 else float("nan")

E = [((k,), e) for k, e in R]
t.csv(Q + "E", E, 1, 2)
t.csv(Q + "E --format csv", E, 1, 2)
t.jsonl(Q + "E --format jsonl", E, 1, 2)
t.csv(Q + "E --accept", acc(E), 1, 0)
t.jsonl(Q + "E --accept --format jsonl", acc(E), 1, 0)
t.jsonl("nrp query program.nrp --db=db --relation=E --format=jsonl --accept", acc(E), 1, 0)
t.csv(Q + "Classical --accept", [((k,), []) for k, _ in R], 1, 0)
t.csv(Q + "Shifted --accept", acc([((k,), [x - 1 for x in e]) for k, e in R]), 1, 0)
root = [((k,), [sq(x) for x in e]) for k, e in R]
t.csv(Q + "Root", root, 1, 2, 1e-15)
t.jsonl(Q + "Root --format jsonl", root, 1, 2, 1e-15)
t.csv(Q + "Root --accept", acc(root), 1, 0)
t.done()
